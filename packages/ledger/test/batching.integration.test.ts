import { randomUUID } from 'node:crypto';
import { createPool, Ledger, LedgerUnavailableError } from '../src';
import { CountingDb, createTestDatabase, type TestDatabase } from './support/database';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ migrated: true });
});
afterAll(async () => {
  await db.drop();
});

const accepted = () => ({ id: randomUUID(), client: 'acme', acceptedAt: new Date(), recipients: ['a@example.com'] });

describe('write batching', () => {
  test('when 50 callers record, claim and send at once, then each kind of write is one statement and each caller gets its own answer', async () => {
    const counting = new CountingDb(db.pool);
    const ledger = new Ledger({ db: counting, batch: { maxItems: 100, maxConcurrent: 1 } });
    const emails = Array.from({ length: 50 }, accepted);

    await Promise.all(emails.map((e) => ledger.recordAccepted([e])));
    expect(counting.statements).toBe(1);

    // One email sent before: its claim answers differently inside the same batch.
    const pool = new Ledger({ db: db.pool });
    await pool.claimAttempt({ id: emails[0]!.id, attempt: 1, provider: 'ses' });
    await pool.recordSent({ id: emails[0]!.id, attempt: 1, provider: 'ses', providerMessageId: 'first' });

    const claims = await Promise.all(emails.map((e) => ledger.claimAttempt({ id: e.id, attempt: 1, provider: 'ses' })));
    expect(counting.statements).toBe(2);
    expect(claims[0]).toEqual({ outcome: 'already-sent', provider: 'ses', providerMessageId: 'first' });
    expect(claims.slice(1).every((c) => c.outcome === 'claimed')).toBe(true);

    const sent = await Promise.all(
      emails
        .slice(1)
        .map((e) => ledger.recordSent({ id: e.id, attempt: 1, provider: 'ses', providerMessageId: `pm-${e.id}` })),
    );
    expect(counting.statements).toBe(3);
    expect(sent.every((s) => s === 'advanced')).toBe(true);
    const last = await ledger.getEmail('acme', emails[49]!.id);
    expect(last?.providerMessageId).toBe(`pm-${emails[49]!.id}`);
  });

  test('when batching is off, then each call is a statement of its own', async () => {
    const counting = new CountingDb(db.pool);
    const ledger = new Ledger({ db: counting, batch: { maxItems: 1, maxConcurrent: 8 } });
    await Promise.all(Array.from({ length: 20 }, () => ledger.recordAccepted([accepted()])));
    expect(counting.statements).toBe(20);
  });

  test('when more callers wait than a batch holds, then they go out in batches of at most maxItems', async () => {
    const counting = new CountingDb(db.pool);
    const ledger = new Ledger({ db: counting, batch: { maxItems: 25, maxConcurrent: 1 } });
    await Promise.all(Array.from({ length: 100 }, () => ledger.recordAccepted([accepted()])));
    expect(counting.statements).toBe(4);
  });
});

describe('database down', () => {
  test('when the database cannot be reached, then every waiting caller fails as ledger-unavailable and readiness says why', async () => {
    // Nothing listens on port 1: every connection is refused.
    const pool = createPool({ url: 'postgres://postgres@127.0.0.1:1/mailer', max: 2, connectTimeoutMs: 1_000 });
    const ledger = new Ledger({ db: pool });
    try {
      const calls = [
        ...Array.from({ length: 10 }, () => ledger.recordAccepted([accepted()])),
        ...Array.from({ length: 10 }, () => ledger.claimAttempt({ id: randomUUID(), attempt: 1 })),
        ledger.reserveIdempotencyKey({ client: 'acme', key: 'k', requestHash: 'h', ttlMs: 1000, staleAfterMs: 1000 }),
      ];
      const results = await Promise.allSettled(calls);
      expect(results.every((r) => r.status === 'rejected' && r.reason instanceof LedgerUnavailableError)).toBe(true);
      expect(ledger.pendingWrites).toBe(0);
      expect(await ledger.readiness()).toEqual({ ready: false, reason: 'ledger-unavailable' });
      await expect(ledger.ping()).rejects.toBeInstanceOf(LedgerUnavailableError);
    } finally {
      await pool.end();
    }
  });

  test('when a statement waits on a lock past the bound, then its callers fail as ledger-unavailable instead of hanging', async () => {
    const setup = new Ledger({ db: db.pool });
    const email = accepted();
    await setup.recordAccepted([email]);
    const holder = await db.pool.connect();
    const bounded = createPool({ url: db.url, max: 1, statementTimeoutMs: 200 });
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM emails WHERE id = $1 FOR UPDATE', [email.id]);
      const ledger = new Ledger({ db: bounded });
      await expect(ledger.claimAttempt({ id: email.id, attempt: 1, provider: 'ses' })).rejects.toBeInstanceOf(
        LedgerUnavailableError,
      );
      await holder.query('ROLLBACK');
      expect(await ledger.claimAttempt({ id: email.id, attempt: 1, provider: 'ses' })).toEqual({ outcome: 'claimed' });
    } finally {
      holder.release();
      await bounded.end();
    }
  });

  test('when the database is reachable, then readiness is ready', async () => {
    expect(await new Ledger({ db: db.pool }).readiness()).toEqual({ ready: true });
  });

  test('when a statement fails for another reason, then the callers get that error, not ledger-unavailable', async () => {
    const ledger = new Ledger({ db: db.pool });
    const bad = { ...accepted(), acceptedAt: new Date(Number.NaN) };
    await expect(ledger.recordAccepted([bad])).rejects.toThrow(RangeError);
    const broken = { query: () => Promise.reject(Object.assign(new Error('syntax error'), { code: '42601' })) };
    await expect(new Ledger({ db: broken }).claimAttempt({ id: randomUUID(), attempt: 1 })).rejects.not.toBeInstanceOf(
      LedgerUnavailableError,
    );
  });
});
