import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { createPool, ensureDatabase, Ledger, LedgerUnavailableError, migrate, withDatabase } from '../src';
import { startPrivatePostgres, type PrivatePostgres } from '@mailer/testkit';

// Starting a private server takes a few seconds: initdb, then pg_ctl start.
jest.setTimeout(120_000);

let server: PrivatePostgres;
let pool: Pool;
let ledger: Ledger;

beforeAll(async () => {
  server = await startPrivatePostgres();
  const url = withDatabase(server.url, 'mailer');
  await ensureDatabase(url);
  pool = createPool({ url, max: 4, connectTimeoutMs: 1_000 });
  await migrate(pool);
  ledger = new Ledger({ db: pool });
});
afterAll(async () => {
  await pool.end();
  await server.remove();
});

const accepted = () => ({ id: randomUUID(), client: 'acme', acceptedAt: new Date(), recipients: ['a@example.com'] });

describe('when PostgreSQL stops and starts again', () => {
  test('then calls fail as ledger-unavailable meanwhile, nothing is half-recorded, and the same ledger works again without a restart', async () => {
    const before = accepted();
    await ledger.recordAccepted([before]);
    expect(await ledger.readiness()).toEqual({ ready: true });

    // A crash while the pool holds idle connections: each emits 'error' on the pool, which must not end the test process.
    await server.stop('immediate');
    const during = Array.from({ length: 10 }, accepted);
    const results = await Promise.allSettled([
      ...during.map((e) => ledger.recordAccepted([e])),
      ledger.claimAttempt({ id: before.id, attempt: 1, provider: 'ses' }),
    ]);
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof LedgerUnavailableError)).toBe(true);
    expect(await ledger.readiness()).toEqual({ ready: false, reason: 'ledger-unavailable' });

    await server.start();
    expect(await ledger.readiness()).toEqual({ ready: true });
    expect(await ledger.claimAttempt({ id: before.id, attempt: 1, provider: 'ses' })).toEqual({ outcome: 'claimed' });
    expect(await ledger.recordSent({ id: before.id, attempt: 1, provider: 'ses', providerMessageId: 'm' })).toBe(
      'advanced',
    );
    for (const e of during) expect(await ledger.getEmail('acme', e.id)).toBeNull();
  });
});
