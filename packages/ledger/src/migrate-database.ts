import type { Logger } from '@mailer/service';
import { createPool, databaseName, ensureDatabase } from './database';
import { migrate, type MigrateResult } from './migrate';

/**
 * What `pnpm migrate` and `MIGRATE_ON_START=true` do: creates the database `url` names if it is
 * absent, then applies the migrations not yet applied, on a connection of its own with no
 * statement bound, and logs what it did. Safe from several processes at once.
 */
export async function migrateDatabase(url: string, logger: Logger): Promise<MigrateResult> {
  const database = databaseName(url);
  if (await ensureDatabase(url)) logger.info('created the ledger database', { database });
  const pool = createPool({ url, max: 1, statementTimeoutMs: 0 });
  try {
    const result = await migrate(pool);
    logger.info(result.applied.length === 0 ? 'ledger schema already current' : 'ledger schema migrated', {
      database,
      applied: result.applied,
      version: result.version,
    });
    return result;
  } finally {
    await pool.end();
  }
}
