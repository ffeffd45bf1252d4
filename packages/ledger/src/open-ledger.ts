import type pg from 'pg';
import { RecipientHasher, type WebhookStore } from '@mailer/contract';
import { messageOf, type Lifecycle, type Logger } from '@mailer/service';
import { createPool } from './database';
import { isUnavailable } from './errors';
import { Ledger } from './ledger';
import { migrateDatabase } from './migrate-database';
import { Webhooks } from './webhooks';

/** The keys of {@link ledgerKeys} a service opens its ledger with. */
export interface LedgerConfig {
  /** `off`: broker only, no ledger is opened. */
  readonly ledger: 'on' | 'off';
  readonly migrateOnStart: boolean;
  readonly databaseUrl: string;
  readonly databasePoolSize: number;
  /** `RECIPIENT_HASH_SECRET`: required with the ledger on (the services' configuration checks it). */
  readonly recipientHashSecret: string;
  readonly recipientHashPreviousSecrets: readonly string[];
  /** `WEBHOOK_SECRETS_KEY`: empty or absent, no webhook store is opened (webhooks are off). */
  readonly webhookSecretsKey?: string;
}

/** A service's ledger: the pool (ended last at shutdown, after the work that writes to it), the ledger on it, and its recipient keys. */
export interface OpenLedger {
  readonly pool: pg.Pool;
  readonly ledger: Ledger;
  /** The keys the ledger gives recipients: whatever else keys an address (the list's routes, the workers) uses these. */
  readonly hasher: RecipientHasher;
  /** The webhook tables; absent when `WEBHOOK_SECRETS_KEY` is empty (webhooks are off). */
  readonly webhooks?: WebhookStore;
}

/** The recipient keys `RECIPIENT_HASH_SECRET` and `RECIPIENT_HASH_PREVIOUS_SECRETS` make. */
export function recipientHasherOf(
  config: Pick<LedgerConfig, 'recipientHashSecret' | 'recipientHashPreviousSecrets'>,
): RecipientHasher {
  return new RecipientHasher({ current: config.recipientHashSecret, previous: config.recipientHashPreviousSecrets });
}

/**
 * How both services open the ledger at start-up. With `LEDGER=off` nothing is opened. With
 * `MIGRATE_ON_START=true` the database is created if absent and migrated first (on a connection
 * of its own, with no statement bound); a PostgreSQL that cannot be reached then stops the
 * service (one error line, exit 1): it was asked to bring the schema up to date and could not.
 * Otherwise the pool opens without connecting: while PostgreSQL is down the ledger's calls fail
 * as ledger-unavailable and the service waits for it (503s, consuming paused) rather than stopping.
 *
 * @returns the pool and the ledger; undefined with `LEDGER=off`; `'stopped'` once `lifecycle`
 * is stopping the process, and the caller starts nothing more
 * @throws what a migration throws for any other reason (a broken migration, a refused login)
 */
export async function openLedger(
  config: LedgerConfig,
  logger: Logger,
  lifecycle: Pick<Lifecycle, 'fail'>,
): Promise<OpenLedger | undefined | 'stopped'> {
  if (config.ledger === 'off') return undefined;
  if (config.migrateOnStart) {
    try {
      await migrateDatabase(config.databaseUrl, logger);
    } catch (error) {
      if (!isUnavailable(error)) throw error;
      await lifecycle.fail('stopping: MIGRATE_ON_START=true and PostgreSQL is not reachable (check DATABASE_URL)', {
        error: messageOf(error),
      });
      return 'stopped';
    }
  }
  const pool = createPool({
    url: config.databaseUrl,
    max: config.databasePoolSize,
    // An idle connection the server dropped: the next call reconnects, or fails as ledger-unavailable.
    onError: (error) => logger.warn('ledger connection lost', { error: error.message }),
  });
  const hasher = recipientHasherOf(config);
  const key = config.webhookSecretsKey ?? '';
  const webhooks = key === '' ? {} : { webhooks: new Webhooks(pool, key) };
  return { pool, ledger: new Ledger({ db: pool, hasher }), hasher, ...webhooks };
}
