import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from 'pg';

/** One versioned SQL file of `migrations/` (`0001_tables.sql`). */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  /** SHA-256 of the file: an applied migration edited afterwards stops the next run. */
  readonly checksum: string;
}

/** The folder of the SQL files, beside `src/` and `dist/` alike. */
export const MIGRATIONS_DIR = join(__dirname, '..', 'migrations');

/**
 * Every session of every process that migrates takes this advisory lock first, so concurrent
 * runners apply each migration once, one after another.
 */
const LOCK_KEY = 'mailer.schema_migrations';

/** Reads `dir`'s `NNNN_name.sql` files in version order; refuses gaps and repeated versions. */
export function readMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const migrations = readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .map((file) => {
      const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
      if (match === null) throw new Error(`migration file ${file} is not named NNNN_name.sql`);
      const sql = readFileSync(join(dir, file), 'utf8');
      return {
        version: Number(match[1]),
        name: match[2] ?? '',
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, k) => {
    if (m.version !== k + 1)
      throw new Error(`migration versions must run 1, 2, 3...: found ${m.version} at place ${k + 1}`);
  });
  return migrations;
}

/** What {@link migrate} did. */
export interface MigrateResult {
  /** Versions applied by this call, in order; empty when the schema was already current. */
  readonly applied: readonly number[];
  /** The schema's version afterwards. */
  readonly version: number;
}

/**
 * Brings the database's schema up to date: under an advisory lock, applies each migration not
 * yet recorded in `schema_migrations`, each in its own transaction with its record, in version
 * order. Running it again, or from several processes at once, applies nothing twice. Services
 * call it at start-up in development; `pnpm migrate` runs it elsewhere. Each statement, and the
 * wait for another runner's lock, is bounded by the pool's statement timeout: give it a pool made
 * with `statementTimeoutMs: 0` where a migration may run long.
 *
 * @throws Error when an applied migration's file has changed since, or the database holds a
 *   version this code does not know (it is older than the schema).
 */
export async function migrate(pool: Pool, migrations: readonly Migration[] = readMigrations()): Promise<MigrateResult> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [LOCK_KEY]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const { rows } = await client.query<{ version: number; checksum: string }>(
        'SELECT version, checksum FROM schema_migrations ORDER BY version',
      );
      const known = new Map(migrations.map((m) => [m.version, m]));
      for (const row of rows) {
        const migration = known.get(row.version);
        if (migration === undefined) {
          throw new Error(`the database is at schema version ${row.version}, which this code does not know`);
        }
        if (migration.checksum !== row.checksum) {
          throw new Error(`migration ${row.version} (${migration.name}) was changed after it was applied`);
        }
      }
      const done = new Set(rows.map((r) => r.version));
      const applied: number[] = [];
      for (const migration of migrations) {
        if (done.has(migration.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(migration.sql);
          await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
            migration.version,
            migration.name,
            migration.checksum,
          ]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw new Error(`migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`, {
            cause: error,
          });
        }
        applied.push(migration.version);
      }
      return { applied, version: Math.max(0, ...rows.map((r) => r.version), ...applied) };
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}
