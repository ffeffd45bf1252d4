import { randomUUID } from 'node:crypto';
import { createPool, hashRequest, Ledger, type KeyRequest } from '../src';
import { useMigratedLedger } from './support/database';

const DAY = 24 * 3_600_000;
const MINUTE = 60_000;

const fixture = useMigratedLedger();

function request(overrides: Partial<KeyRequest> = {}): KeyRequest {
  return {
    client: 'acme',
    key: `key-${randomUUID()}`,
    requestHash: hashRequest('POST /v1/emails', { to: 'a@example.com', subject: 'hi' }),
    ttlMs: DAY,
    staleAfterMs: MINUTE,
    ...overrides,
  };
}

function accepted(client = 'acme') {
  return { id: randomUUID(), client, acceptedAt: new Date(), recipients: ['jane@example.com'] };
}

async function reserveNew(req: KeyRequest) {
  const outcome = await fixture.ledger.reserveIdempotencyKey(req);
  if (outcome.outcome !== 'new') throw new Error(`expected new, got ${outcome.outcome}`);
  return outcome;
}

describe('idempotency keys', () => {
  test('when a key is used for the first time, then it is reserved with no previous emails', async () => {
    const outcome = await reserveNew(request());
    expect(outcome.previousEmails).toEqual([]);
    expect(outcome.reservation.token).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('when the same request comes again after its answer, then the first answer is replayed', async () => {
    const req = request();
    const { reservation } = await reserveNew(req);
    const email = accepted();
    await fixture.ledger.recordAccepted([email], reservation);
    const body = { id: email.id, status: 'queued' };
    expect(await fixture.ledger.completeIdempotencyKey({ reservation, status: 202, body })).toBe(true);
    expect(await fixture.ledger.reserveIdempotencyKey(req)).toEqual({
      outcome: 'replay',
      status: 202,
      body,
      emailIds: [email.id],
    });
  });

  test('when the key comes with another body, then it is a mismatch, in flight or answered', async () => {
    const req = request();
    const { reservation } = await reserveNew(req);
    const other = { ...req, requestHash: hashRequest('POST /v1/emails', { to: 'b@example.com' }) };
    expect(await fixture.ledger.reserveIdempotencyKey(other)).toEqual({ outcome: 'mismatch' });
    await fixture.ledger.completeIdempotencyKey({ reservation, status: 202, body: {} });
    expect(await fixture.ledger.reserveIdempotencyKey(other)).toEqual({ outcome: 'mismatch' });
  });

  test('when one batch mixes new keys with every other answer, then each caller gets the answer it would get alone', async () => {
    const answered = request();
    const held = await reserveNew(answered);
    await fixture.ledger.completeIdempotencyKey({ reservation: held.reservation, status: 202, body: { id: 'x' } });
    const inFlight = request();
    await reserveNew(inFlight);
    const twice = request();
    const fresh = Array.from({ length: 6 }, () => request());
    const other = { ...answered, requestHash: hashRequest('POST /v1/emails', { to: 'b@example.com' }) };

    // Made in one turn of the event loop: one statement of 11 requests.
    const outcomes = await Promise.all([
      ...fresh.map((req) => fixture.ledger.reserveIdempotencyKey(req)),
      fixture.ledger.reserveIdempotencyKey(answered),
      fixture.ledger.reserveIdempotencyKey(other),
      fixture.ledger.reserveIdempotencyKey(inFlight),
      fixture.ledger.reserveIdempotencyKey(twice),
      fixture.ledger.reserveIdempotencyKey(twice),
    ]);

    const tokens = new Set<string>();
    for (const [k, outcome] of outcomes.slice(0, 6).entries()) {
      expect(outcome).toEqual({
        outcome: 'new',
        reservation: { client: 'acme', key: fresh[k]?.key, token: expect.any(String) },
        previousEmails: [],
        // A reservation alone records nothing.
        recorded: [],
      });
      if (outcome.outcome === 'new') tokens.add(outcome.reservation.token);
    }
    expect(tokens.size).toBe(6);
    expect(outcomes[6]).toEqual({ outcome: 'replay', status: 202, body: { id: 'x' }, emailIds: [] });
    expect(outcomes[7]).toEqual({ outcome: 'mismatch' });
    expect(outcomes[8]).toMatchObject({ outcome: 'in-flight' });
    // The second request for one key in one batch finds the first one's reservation.
    expect(outcomes[9]).toMatchObject({ outcome: 'new' });
    expect(outcomes[10]).toMatchObject({ outcome: 'in-flight' });
    // Each new reservation is the key's: it completes.
    for (const outcome of outcomes.slice(0, 6)) {
      if (outcome.outcome !== 'new') throw new Error('expected new');
      expect(
        await fixture.ledger.completeIdempotencyKey({ reservation: outcome.reservation, status: 202, body: {} }),
      ).toBe(true);
    }
  });

  test('when the first request is still in flight, then the second is told so, with the time until it is stale', async () => {
    const req = request();
    await reserveNew(req);
    const second = await fixture.ledger.reserveIdempotencyKey(req);
    expect(second.outcome).toBe('in-flight');
    if (second.outcome === 'in-flight') {
      expect(second.staleInMs).toBeGreaterThan(0);
      expect(second.staleInMs).toBeLessThanOrEqual(MINUTE);
    }
  });

  test('when the holder died after recording emails, then a retry past the stale bound takes over with the same ids', async () => {
    const req = request();
    const first = await reserveNew(req);
    const emails = [accepted(), accepted()];
    await fixture.ledger.recordAccepted(emails, first.reservation);
    // The second was confirmed and a consumer has claimed it; the first maybe never reached the broker.
    await fixture.ledger.claimAttempt({ id: emails[1]!.id, attempt: 1, provider: 'ses' });
    // Nothing completed: the holder died between record and confirm. Past the bound (0 here), a retry takes over.
    const retry = await reserveNew({ ...req, staleAfterMs: 0 });
    expect(retry.previousEmails).toEqual([
      { id: emails[0]!.id, state: 'queued' },
      { id: emails[1]!.id, state: 'sending' },
    ]);
    expect(retry.reservation.token).not.toBe(first.reservation.token);
    // Recording the same ids again is harmless, and the first holder can no longer answer.
    await fixture.ledger.recordAccepted(emails, retry.reservation);
    expect(
      await fixture.ledger.completeIdempotencyKey({ reservation: first.reservation, status: 202, body: 'old' }),
    ).toBe(false);
    expect(
      await fixture.ledger.completeIdempotencyKey({ reservation: retry.reservation, status: 202, body: 'new' }),
    ).toBe(true);
    expect(await fixture.ledger.reserveIdempotencyKey(req)).toMatchObject({ outcome: 'replay', body: 'new' });
  });

  test('when a key has expired, then it is new again, even for another body', async () => {
    const req = request({ ttlMs: 0 });
    const { reservation } = await reserveNew(req);
    await fixture.ledger.recordAccepted([accepted()], reservation);
    await fixture.ledger.completeIdempotencyKey({ reservation, status: 202, body: {} });
    const other = { ...req, ttlMs: DAY, requestHash: hashRequest('POST /v1/emails', { other: true }) };
    const again = await reserveNew(other);
    expect(again.previousEmails).toEqual([]);
  });

  test('when expired keys are purged, then only they are deleted and their key is new again', async () => {
    const expired = request({ ttlMs: 0 });
    const live = request();
    await reserveNew(expired);
    await reserveNew(live);
    expect(await fixture.ledger.purgeExpiredIdempotencyKeys()).toBeGreaterThanOrEqual(1);
    expect((await fixture.ledger.reserveIdempotencyKey(live)).outcome).toBe('in-flight');
    expect((await fixture.ledger.reserveIdempotencyKey({ ...expired, ttlMs: DAY })).outcome).toBe('new');
  });

  test('when a reservation with nothing recorded is released, then the key is free for any body', async () => {
    const req = request();
    const { reservation } = await reserveNew(req);
    expect(await fixture.ledger.releaseIdempotencyKey(reservation)).toBe(true);
    await reserveNew({ ...req, requestHash: 'another body' });
  });

  test('when a reservation with emails recorded is released, then the same request takes over at once with those ids', async () => {
    const req = request();
    const { reservation } = await reserveNew(req);
    const email = accepted();
    await fixture.ledger.recordAccepted([email], reservation);
    expect(await fixture.ledger.releaseIdempotencyKey(reservation)).toBe(true);
    const retry = await reserveNew(req);
    expect(retry.previousEmails).toEqual([{ id: email.id, state: 'queued' }]);
  });

  test('when two clients use the same key, then each has its own', async () => {
    const key = `shared-${randomUUID()}`;
    await reserveNew(request({ client: 'acme', key }));
    await reserveNew(request({ client: 'globex', key }));
  });

  test('when twenty requests with one key race through two processes, then exactly one is new', async () => {
    const otherPool = createPool({ url: fixture.db.url, max: 4 });
    const other = new Ledger({ db: otherPool });
    const req = request();
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, (_, k) => (k % 2 === 0 ? fixture.ledger : other).reserveIdempotencyKey(req)),
      );
      const kinds = outcomes.map((o) => o.outcome);
      expect(kinds.filter((k) => k === 'new')).toHaveLength(1);
      expect(kinds.filter((k) => k === 'in-flight')).toHaveLength(19);
    } finally {
      await otherPool.end();
    }
  });

  test('when a key is not 1-255 printable ASCII, then it is refused before the database', async () => {
    await expect(fixture.ledger.reserveIdempotencyKey(request({ key: '' }))).rejects.toThrow(RangeError);
    await expect(fixture.ledger.reserveIdempotencyKey(request({ key: 'tab\there' }))).rejects.toThrow(RangeError);
    await expect(fixture.ledger.reserveIdempotencyKey(request({ key: 'x'.repeat(256) }))).rejects.toThrow(RangeError);
  });
});
