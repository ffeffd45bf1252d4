import { createPool, databaseName, ensureDatabase, migrate, readMigrations, withDatabase } from '../src';
import { createTestDatabase, SERVER_URL, type TestDatabase } from './support/database';

const versions = readMigrations().map((m) => m.version);

async function recorded(db: TestDatabase): Promise<number[]> {
  const { rows } = await db.pool.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
  return rows.map((r) => r.version);
}

describe('migrate', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase({ migrated: false });
  });
  afterEach(async () => {
    await db.drop();
  });

  test('when the database is empty, then every migration applies once, in order, and is recorded', async () => {
    const result = await migrate(db.pool);
    expect(result.applied).toEqual(versions);
    expect(result.version).toBe(versions[versions.length - 1]);
    expect(await recorded(db)).toEqual(versions);
    const { rows } = await db.pool.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    );
    expect(rows.map((r) => r.table_name)).toEqual([
      'attempts',
      'emails',
      'idempotency_keys',
      'provider_events',
      'recipient_outcomes',
      'schema_migrations',
      'suppression_history',
      'suppressions',
      'webhook_deliveries',
      'webhook_endpoints',
    ]);
  });

  test('when migrate runs a second time, then it applies nothing and the schema is unchanged', async () => {
    await migrate(db.pool);
    const again = await migrate(db.pool);
    expect(again.applied).toEqual([]);
    expect(again.version).toBe(versions[versions.length - 1]);
    expect(await recorded(db)).toEqual(versions);
  });

  test('when four migrators start at once, then each migration is applied exactly once', async () => {
    const pools = Array.from({ length: 4 }, () => createPool({ url: db.url, max: 1 }));
    try {
      const results = await Promise.all(pools.map((pool) => migrate(pool)));
      expect(results.flatMap((r) => r.applied).sort((a, b) => a - b)).toEqual(versions);
      expect(results.filter((r) => r.applied.length > 0)).toHaveLength(1);
      expect(await recorded(db)).toEqual(versions);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  test('when a later migration fails, then the earlier ones stay applied and the failed one leaves nothing', async () => {
    const good = readMigrations().slice(0, 1);
    const bad = {
      version: 2,
      name: 'broken',
      sql: 'CREATE TABLE half_done (x int); SELECT * FROM no_such_table',
      checksum: 'x',
    };
    await expect(migrate(db.pool, [...good, bad])).rejects.toThrow(/migration 2 \(broken\) failed/);
    expect(await recorded(db)).toEqual([1]);
    const { rows } = await db.pool.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'half_done'");
    expect(rows).toHaveLength(0);
  });

  test('when an applied migration was edited afterwards, then migrate refuses to go on', async () => {
    await migrate(db.pool);
    const edited = readMigrations().map((m, k) => (k === 0 ? { ...m, checksum: 'edited' } : m));
    await expect(migrate(db.pool, edited)).rejects.toThrow(/migration 1 \(tables\) was changed after it was applied/);
  });

  test('when the database is at a version this code does not know, then migrate refuses', async () => {
    await migrate(db.pool);
    await expect(migrate(db.pool, readMigrations().slice(0, 1))).rejects.toThrow(
      /schema version 2, which this code does not know/,
    );
  });
});

describe('ensureDatabase', () => {
  test('when the database does not exist, then it is created once and found the second time', async () => {
    const url = withDatabase(SERVER_URL, `ledger_test_new_${process.pid}_${Date.now()}`);
    const admin = createPool({ url: SERVER_URL, max: 1 });
    try {
      expect(await ensureDatabase(url)).toBe(true);
      expect(await ensureDatabase(url)).toBe(false);
      const { rows } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [databaseName(url)]);
      expect(rows).toHaveLength(1);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS "${databaseName(url)}" WITH (FORCE)`);
      await admin.end();
    }
  });

  test('when four processes ensure the same new database at once, then exactly one creates it and none fails', async () => {
    const url = withDatabase(SERVER_URL, `ledger_test_race_${process.pid}_${Date.now()}`);
    const admin = createPool({ url: SERVER_URL, max: 1 });
    try {
      const created = await Promise.all(Array.from({ length: 4 }, () => ensureDatabase(url)));
      expect(created.filter(Boolean)).toHaveLength(1);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS "${databaseName(url)}" WITH (FORCE)`);
      await admin.end();
    }
  });
});
