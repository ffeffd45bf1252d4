// What the benches read about PostgreSQL: a database of the bench's own (created, migrated, dropped),
// the CPU its server processes used, and how many transactions a database committed.
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import ledgerPackage from '@mailer/ledger';
import { clockTicks } from './proc.mjs';

const { createPool, ensureDatabase, migrate, withDatabase } = ledgerPackage;

/** The server the benches make their databases on (the tests' variable, same default). */
export const SERVER_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The recipient hash secret the services get with the ledger on (required then); a bench value only. */
export const BENCH_RECIPIENT_HASH_SECRET = 'bench-recipient-hash-secret-not-for-production';

/** CPU seconds (user + system) of every process named postgres, from /proc: other load on the server counts too. */
export function postgresCpuSeconds() {
  let ticks = 0;
  let entries = [];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return Number.NaN;
  }
  for (const pid of entries) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
      const fields = stat.slice(close + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return ticks / clockTicks();
}

/**
 * Creates and migrates a database `<prefix>_<random>`; `drop()` removes it. The bench's own reads
 * go through a connection to the server's `postgres` database, so they never count in this one's.
 */
export async function createBenchDatabase(prefix) {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const url = withDatabase(SERVER_URL, name);
  await ensureDatabase(url);
  const migrator = createPool({ url, max: 1 });
  try {
    await migrate(migrator);
  } finally {
    await migrator.end();
  }
  const pool = createPool({ url: SERVER_URL, max: 1 });
  return {
    name,
    url,
    /**
     * Transactions committed and rolled back in this database so far. Every ledger statement runs
     * on its own (autocommit), so this counts the statements the services sent.
     * Other sessions report their counts when they go idle (at most about a second late, or when
     * they disconnect), so `settled` reads again until two reads a second apart agree.
     */
    async transactions({ settled = false } = {}) {
      const read = async () => {
        await pool.query('SELECT pg_stat_clear_snapshot()');
        const { rows } = await pool.query(
          'SELECT (xact_commit + xact_rollback)::bigint AS n FROM pg_stat_database WHERE datname = $1',
          [name],
        );
        return Number(rows[0].n);
      };
      let last = await read();
      if (!settled) return last;
      for (let k = 0; k < 15; k++) {
        await sleep(1000);
        const now = await read();
        if (now === last) return now;
        last = now;
      }
      return last;
    },
    async drop() {
      try {
        await pool.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await pool.end();
      }
    },
  };
}
