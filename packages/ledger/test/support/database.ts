import type { Pool } from 'pg';
import { createScratchDatabase, TEST_SERVER_URL } from '@mailer/testkit';
import { Ledger, createPool, migrate, type Queryable } from '../../src';

/** The server the tests use; each test file gets a database of its own on it. */
export const SERVER_URL = TEST_SERVER_URL;

/** A database made for one test file, dropped by `drop`. */
export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  readonly pool: Pool;
  drop(): Promise<void>;
}

/** Creates an empty database with a unique name; `migrated` also applies the migrations. */
export async function createTestDatabase(options: { migrated: boolean }): Promise<TestDatabase> {
  const scratch = await createScratchDatabase('ledger_test');
  const pool = createPool({ url: scratch.url, max: 8 });
  if (options.migrated) await migrate(pool);
  return {
    url: scratch.url,
    name: scratch.name,
    pool,
    async drop() {
      await pool.end();
      await scratch.drop();
    },
  };
}

/**
 * A migrated database and a ledger on it for the test file that calls this (at its top level):
 * made before its tests, dropped after them. Read the fields inside tests, not at import time.
 */
export function useMigratedLedger(): { readonly db: TestDatabase; readonly ledger: Ledger } {
  const fixture = {} as { db: TestDatabase; ledger: Ledger };
  beforeAll(async () => {
    fixture.db = await createTestDatabase({ migrated: true });
    fixture.ledger = new Ledger({ db: fixture.db.pool });
  });
  afterAll(async () => {
    await fixture.db.drop();
  });
  return fixture;
}

/** A {@link Queryable} that counts the statements it passes on: what batching saves. */
export class CountingDb implements Queryable {
  statements = 0;
  constructor(private readonly inner: Queryable) {}
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> {
    this.statements++;
    return this.inner.query(text, values);
  }
}
