import { loadKeys } from '@mailer/config';
import { databaseName, DEFAULT_DATABASE_URL, ledgerKeys, withDatabase } from './database';

describe('ledgerKeys', () => {
  test('when nothing is set, then the local server and the mailer database are used', () => {
    expect(loadKeys(ledgerKeys, {})).toEqual({
      databaseUrl: DEFAULT_DATABASE_URL,
      databasePoolSize: 8,
      events: 'on',
      ledger: 'on',
      migrateOnStart: false,
    });
    expect(databaseName(DEFAULT_DATABASE_URL)).toBe('mailer');
  });

  test('when LEDGER or MIGRATE_ON_START is not one of its values, then each is named', () => {
    expect(() => loadKeys(ledgerKeys, { LEDGER: 'yes', MIGRATE_ON_START: 'on' })).toThrow(
      /LEDGER must be on or off[\s\S]*MIGRATE_ON_START must be true or false/,
    );
  });

  test('when DATABASE_URL is not a postgres URL naming a database, then every problem is reported', () => {
    expect(() => loadKeys(ledgerKeys, { DATABASE_URL: 'mysql://h/db', DATABASE_POOL_SIZE: '0' })).toThrow(
      /DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL naming a database[\s\S]*DATABASE_POOL_SIZE must be/,
    );
    expect(() => loadKeys(ledgerKeys, { DATABASE_URL: 'postgres://h:5432/' })).toThrow(/DATABASE_URL/);
  });
});

describe('withDatabase', () => {
  test('when the database is replaced, then user, password, host and port stay', () => {
    const url = withDatabase('postgresql://u:p%40ss@db.internal:6543/mailer?sslmode=require', 'postgres');
    expect(url).toBe('postgresql://u:p%40ss@db.internal:6543/postgres?sslmode=require');
    expect(databaseName(url)).toBe('postgres');
  });
});
