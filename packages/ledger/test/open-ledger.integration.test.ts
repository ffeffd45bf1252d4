import { freePort, TEST_RECIPIENT_HASH_SECRET } from '@mailer/testkit';
import {
  LedgerUnavailableError,
  createPool,
  databaseName,
  openLedger,
  readMigrations,
  withDatabase,
  type LedgerConfig,
} from '../src';
import { SERVER_URL } from './support/database';

/** The lines a service would log, and the failures it would stop with, instead of a process's. */
function recorder() {
  const lines: { message: string; meta?: Record<string, unknown> }[] = [];
  const failures: { message: string; fields?: Record<string, unknown> }[] = [];
  const log = (message: string, meta?: Record<string, unknown>) => lines.push({ message, ...(meta && { meta }) });
  return {
    lines,
    failures,
    logger: { debug: log, info: log, warn: log, error: log },
    lifecycle: {
      fail: (message: string, fields?: Record<string, unknown>) => {
        failures.push({ message, ...(fields && { fields }) });
        return Promise.resolve();
      },
    },
  };
}

/** A PostgreSQL URL on a loopback port nothing listens on: every connection is refused. */
async function refusedUrl(): Promise<string> {
  const url = new URL(SERVER_URL);
  url.port = String(await freePort());
  return withDatabase(url.toString(), 'mailer');
}

const settings = (overrides: Partial<LedgerConfig> & Pick<LedgerConfig, 'databaseUrl'>): LedgerConfig => ({
  ledger: 'on',
  migrateOnStart: false,
  databasePoolSize: 2,
  recipientHashSecret: TEST_RECIPIENT_HASH_SECRET,
  recipientHashPreviousSecrets: [],
  ...overrides,
});

describe('openLedger', () => {
  it('when LEDGER=off, then nothing is opened, even with MIGRATE_ON_START=true and PostgreSQL out of reach', async () => {
    const { logger, lifecycle, lines, failures } = recorder();

    const opened = await openLedger(
      settings({ ledger: 'off', migrateOnStart: true, databaseUrl: await refusedUrl() }),
      logger,
      lifecycle,
    );

    expect(opened).toBeUndefined();
    expect(lines).toEqual([]);
    expect(failures).toEqual([]);
  });

  it('when MIGRATE_ON_START=true on a database that does not exist yet, then it is created and migrated before the ledger opens on it', async () => {
    const url = withDatabase(SERVER_URL, `ledger_test_open_${process.pid}_${Date.now()}`);
    const { logger, lifecycle, lines, failures } = recorder();
    const opened = await openLedger(settings({ migrateOnStart: true, databaseUrl: url }), logger, lifecycle);
    const admin = createPool({ url: SERVER_URL, max: 1 });
    try {
      if (opened === undefined || opened === 'stopped') throw new Error(`not opened: ${String(opened)}`);
      const { rows } = await opened.pool.query<{ version: number }>(
        'SELECT version FROM schema_migrations ORDER BY version',
      );

      expect(rows.map((row) => row.version)).toEqual(readMigrations().map((migration) => migration.version));
      expect(lines.map((line) => line.message)).toEqual(['created the ledger database', 'ledger schema migrated']);
      expect(failures).toEqual([]);
      await expect(opened.ledger.ping()).resolves.toBeUndefined();
    } finally {
      if (typeof opened === 'object') await opened.pool.end();
      await admin.query(`DROP DATABASE IF EXISTS "${databaseName(url)}" WITH (FORCE)`);
      await admin.end();
    }
  });

  it('when MIGRATE_ON_START=true and PostgreSQL refuses connections, then the service is stopped with one line naming DATABASE_URL', async () => {
    const { logger, lifecycle, failures } = recorder();

    const opened = await openLedger(
      settings({ migrateOnStart: true, databaseUrl: await refusedUrl() }),
      logger,
      lifecycle,
    );

    expect(opened).toBe('stopped');
    expect(failures).toEqual([
      {
        message: 'stopping: MIGRATE_ON_START=true and PostgreSQL is not reachable (check DATABASE_URL)',
        fields: { error: expect.stringContaining('ECONNREFUSED') as unknown },
      },
    ]);
  });

  it('when MIGRATE_ON_START=false and PostgreSQL refuses connections, then the ledger opens and its calls fail as ledger-unavailable', async () => {
    const { logger, lifecycle, failures } = recorder();

    const opened = await openLedger(settings({ databaseUrl: await refusedUrl() }), logger, lifecycle);
    if (opened === undefined || opened === 'stopped') throw new Error(`not opened: ${String(opened)}`);
    try {
      await expect(opened.ledger.ping()).rejects.toBeInstanceOf(LedgerUnavailableError);
      expect(failures).toEqual([]);
    } finally {
      await opened.pool.end();
    }
  });
});
