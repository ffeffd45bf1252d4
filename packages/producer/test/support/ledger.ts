import { RecipientHasher } from '@mailer/contract';
import { Ledger, createPool, migrate } from '@mailer/ledger';
import { createScratchDatabase, type ScratchDatabase } from '@mailer/testkit';
import { LedgerAdapter, type KeyTimes } from '../../src/ledger/ledger-adapter';

/** A migrated database of the test file's own, and the producer's ledger on it. */
export interface ScratchLedger {
  readonly database: ScratchDatabase;
  readonly pool: ReturnType<typeof createPool>;
  readonly ledger: Ledger;
  readonly adapter: LedgerAdapter;
  /** The recipient keys the ledger is made with (as `RECIPIENT_HASH_SECRET` makes them in the service). */
  readonly hasher: RecipientHasher;
  /** Rows of one statement, for assertions on what was recorded. */
  rows<R>(sql: string, values?: unknown[]): Promise<R[]>;
}

/** The recipient keys of every producer test's ledger, so that intake finds the suppression list. */
export const testRecipientHasher = new RecipientHasher({ current: 'producer-tests-recipient-hash-secret-0123456789' });

/** The key times tests use unless they say otherwise: a day, and a minute before a holder is stale. */
export const testKeyTimes: KeyTimes = { ttlMs: 86_400_000, staleAfterMs: 60_000 };

/**
 * Creates and migrates a scratch database (`producer_<label>_<pid>_<random>`), on the tests'
 * server or on `serverUrl` (a private server).
 */
export async function createScratchLedger(
  label: string,
  times: KeyTimes = testKeyTimes,
  serverUrl?: string,
): Promise<ScratchLedger> {
  const prefix = `producer_${label.replace(/[^a-z0-9_]/gi, '_')}`;
  const database = await (serverUrl === undefined
    ? createScratchDatabase(prefix)
    : createScratchDatabase(prefix, serverUrl));
  const pool = createPool({ url: database.url, max: 4 });
  await migrate(pool);
  const ledger = new Ledger({ db: pool, hasher: testRecipientHasher });
  return {
    database,
    pool,
    ledger,
    adapter: new LedgerAdapter(ledger, times),
    hasher: testRecipientHasher,
    rows: async <R>(sql: string, values?: unknown[]) => (await pool.query(sql, values)).rows as R[],
  };
}

/**
 * One scratch ledger for the whole test file: created before its tests, dropped after them.
 * `current()` is usable from the file's own `beforeAll` hooks on (they run after this one).
 */
export function useScratchLedger(label: string, times: KeyTimes = testKeyTimes): { current(): ScratchLedger } {
  let scratch: ScratchLedger | undefined;
  beforeAll(async () => {
    scratch = await createScratchLedger(label, times);
  });
  afterAll(async () => {
    if (scratch === undefined) return;
    await scratch.pool.end();
    await scratch.database.drop();
  });
  return {
    current: () => {
      if (scratch === undefined)
        throw new Error('the scratch ledger is made in beforeAll: use it from a hook or a test');
      return scratch;
    },
  };
}
