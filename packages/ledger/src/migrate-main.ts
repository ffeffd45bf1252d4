import { loadKeys, sharedKeys } from '@mailer/config';
import { readCommandLine, runMain, startService } from '@mailer/service';
import { databaseName, ledgerKeys } from './database';
import { isUnavailable } from './errors';
import { migrateDatabase } from './migrate-database';

const usage = `usage: pnpm migrate
       node packages/ledger/dist/migrate-main.js

Creates the ledger's database if it does not exist, then applies every migration not yet
applied (packages/ledger/migrations, in order, each in a transaction, recorded in
schema_migrations). Safe to run again and from several places at once. Reads DATABASE_URL
(default ${ledgerKeys.databaseUrl.default}) and LOG_LEVEL.

  -h, --help   print this and exit; nothing is changed`;

const keys = { databaseUrl: ledgerKeys.databaseUrl, logLevel: sharedKeys.logLevel };

/** `pnpm migrate`: brings the ledger's schema up to date. */
async function main(): Promise<void> {
  readCommandLine(process.argv.slice(2), { name: 'migrate', usage, options: {} });
  const { config, logger } = startService({
    name: 'migrate',
    env: process.env,
    keys,
    load: (env) => loadKeys(keys, env),
  });
  const database = databaseName(config.databaseUrl);
  const { host, port } = new URL(config.databaseUrl);
  try {
    await migrateDatabase(config.databaseUrl, logger);
  } catch (error) {
    if (!isUnavailable(error)) throw error;
    // One line an operator can act on, rather than a socket error's stack.
    logger.error(
      `PostgreSQL is not reachable at ${host}${port === '' ? ':5432' : ''}; start it (the local service, e.g. pg_ctlcluster 15 main start) or set DATABASE_URL`,
      { database },
    );
    process.exitCode = 1;
  } finally {
    await logger.flush();
  }
}

runMain('migrate', main);
