import { randomUUID } from 'node:crypto';
import { hashRequest, Ledger, type AcceptedEmail, type KeyedRecording } from '../src';
import { CountingDb, useMigratedLedger } from './support/database';

const DAY = 24 * 3_600_000;
const MINUTE = 60_000;

const fixture = useMigratedLedger();

function keyed(overrides: Partial<KeyedRecording> = {}): KeyedRecording {
  return {
    client: 'acme',
    key: `key-${randomUUID()}`,
    token: randomUUID(),
    requestHash: hashRequest('/v1/emails', { to: 'a@example.com', subject: 'hi' }),
    ttlMs: DAY,
    staleAfterMs: MINUTE,
    ...overrides,
  };
}

function accepted(n = 1): AcceptedEmail[] {
  return Array.from({ length: n }, () => ({
    id: randomUUID(),
    client: 'acme',
    acceptedAt: new Date(),
    recipients: ['jane.doe@example.com'],
    tags: { kind: 'receipt' },
  }));
}

async function statesOf(ids: readonly string[]): Promise<Record<string, string>> {
  const { rows } = await fixture.db.pool.query<{ id: string; state: string }>(
    'SELECT id, state FROM emails WHERE id = ANY($1::uuid[])',
    [ids],
  );
  return Object.fromEntries(rows.map((r) => [r.id, r.state]));
}

async function keyRow(req: KeyedRecording) {
  const { rows } = await fixture.db.pool.query<{ owner: string; email_ids: string[]; state: string }>(
    'SELECT owner, email_ids, state FROM idempotency_keys WHERE client = $1 AND key = $2',
    [req.client, req.key],
  );
  return rows[0];
}

describe('reserving a key and recording its emails in one statement', () => {
  test("when the key is new, then it is held by the caller's token and the emails are recorded queued under it, masked", async () => {
    const req = keyed();
    const emails = accepted(2);

    const outcome = await fixture.ledger.reserveKeyAndRecord(req, emails);

    expect(outcome).toEqual({
      outcome: 'new',
      reservation: { client: 'acme', key: req.key, token: req.token },
      previousEmails: [],
      recorded: emails.map((e) => ({ id: e.id, suppressed: [] })),
    });
    expect(await keyRow(req)).toEqual({ owner: req.token, email_ids: emails.map((e) => e.id), state: 'in-flight' });
    const first = await fixture.ledger.getEmail('acme', emails[0]?.id ?? '');
    expect(first).toMatchObject({ state: 'queued', recipients: ['j***@example.com'], tags: { kind: 'receipt' } });
    expect(await statesOf(emails.map((e) => e.id))).toEqual(Object.fromEntries(emails.map((e) => [e.id, 'queued'])));
  });

  test('when the key was answered, was used with another body or is in flight, then nothing is recorded', async () => {
    const answered = keyed();
    const first = accepted();
    const held = await fixture.ledger.reserveKeyAndRecord(answered, first);
    if (held.outcome !== 'new') throw new Error(held.outcome);
    await fixture.ledger.completeIdempotencyKey({ reservation: held.reservation, status: 202, body: { id: 'x' } });
    const inFlight = keyed();
    await fixture.ledger.reserveKeyAndRecord(inFlight, accepted());
    const tried = accepted(3);

    const outcomes = await Promise.all([
      fixture.ledger.reserveKeyAndRecord({ ...answered, token: randomUUID() }, [tried[0] as AcceptedEmail]),
      fixture.ledger.reserveKeyAndRecord(
        { ...answered, token: randomUUID(), requestHash: hashRequest('/v1/emails', { other: true }) },
        [tried[1] as AcceptedEmail],
      ),
      fixture.ledger.reserveKeyAndRecord({ ...inFlight, token: randomUUID() }, [tried[2] as AcceptedEmail]),
    ]);

    expect(outcomes.map((o) => o.outcome)).toEqual(['replay', 'mismatch', 'in-flight']);
    expect(outcomes[0]).toMatchObject({ status: 202, body: { id: 'x' }, emailIds: [first[0]?.id] });
    expect(await statesOf(tried.map((e) => e.id))).toEqual({});
  });

  test('when a stale holder that recorded is taken over, then its ids come back with their states and are recorded again under them, not the new ones', async () => {
    const req = keyed();
    const before = accepted(3);
    await fixture.ledger.reserveKeyAndRecord(req, before);
    const [kept, gone, sent] = before.map((e) => e.id) as [string, string, string];
    // One was forgotten meanwhile (a 503's repair), one went all the way.
    await fixture.ledger.discardUnpublished([gone]);
    await fixture.db.pool.query("UPDATE emails SET state = 'sent', attempt = 1 WHERE id = $1", [sent]);
    const retry = { ...req, token: randomUUID(), staleAfterMs: 0 };
    const mine = accepted(3);

    const outcome = await fixture.ledger.reserveKeyAndRecord(retry, mine);

    expect(outcome).toEqual({
      outcome: 'new',
      reservation: { client: 'acme', key: req.key, token: retry.token },
      previousEmails: [
        { id: kept, state: 'queued' },
        { id: gone, state: null },
        { id: sent, state: 'sent' },
      ],
      // Under the earlier ids, as recorded.
      recorded: [kept, gone, sent].map((id) => ({ id, suppressed: [] })),
    });
    expect(await statesOf([kept, gone, sent, ...mine.map((e) => e.id)])).toEqual({
      [kept]: 'queued',
      [gone]: 'queued',
      [sent]: 'sent',
    });
    expect(await keyRow(req)).toMatchObject({ owner: retry.token, email_ids: [kept, gone, sent] });
  });

  test('when its answer was lost, then the caller can still release the key with its own token, and a retry takes it over at once with the same ids', async () => {
    const req = keyed();
    const emails = accepted();
    await fixture.ledger.reserveKeyAndRecord(req, emails);
    // As the producer's repair does once the ledger answers: forget the rows, give the key up.
    await fixture.ledger.discardUnpublished(emails.map((e) => e.id));
    const reservation = { client: req.client, key: req.key, token: req.token };
    expect(await fixture.ledger.releaseIdempotencyKey(reservation)).toBe(true);

    const retry = await fixture.ledger.reserveKeyAndRecord({ ...req, token: randomUUID() }, accepted());

    expect(retry).toMatchObject({ outcome: 'new', previousEmails: [{ id: emails[0]?.id, state: null }] });
    expect(await statesOf(emails.map((e) => e.id))).toEqual({ [emails[0]?.id ?? '']: 'queued' });
  });

  test('when a key has expired, then it is reserved afresh and the new emails recorded under it', async () => {
    const req = keyed({ ttlMs: 0 });
    await fixture.ledger.reserveKeyAndRecord(req, accepted());
    const again = { ...req, ttlMs: DAY, token: randomUUID(), requestHash: hashRequest('/v1/emails', { n: 2 }) };
    const emails = accepted();

    expect(await fixture.ledger.reserveKeyAndRecord(again, emails)).toMatchObject({
      outcome: 'new',
      previousEmails: [],
    });
    expect(await keyRow(req)).toMatchObject({ owner: again.token, email_ids: [emails[0]?.id] });
    expect(await statesOf(emails.map((e) => e.id))).toEqual({ [emails[0]?.id ?? '']: 'queued' });
  });

  test('when many callers come in one turn, one key twice among them, then one statement answers each as alone and the second of the pair records nothing', async () => {
    const counting = new CountingDb(fixture.db.pool);
    const ledger = new Ledger({ db: counting });
    const requests = Array.from({ length: 10 }, () => keyed());
    const twice = keyed();
    const emails = Array.from({ length: 12 }, () => accepted());

    const outcomes = await Promise.all([
      ...requests.map((req, n) => ledger.reserveKeyAndRecord(req, emails[n] ?? [])),
      ledger.reserveKeyAndRecord(twice, emails[10] ?? []),
      ledger.reserveKeyAndRecord({ ...twice, token: randomUUID() }, emails[11] ?? []),
    ]);

    expect(counting.statements).toBe(1);
    expect(outcomes.map((o) => o.outcome)).toEqual([...Array(11).fill('new'), 'in-flight']);
    const ids = emails.flat().map((e) => e.id);
    expect(Object.keys(await statesOf(ids)).sort()).toEqual(ids.slice(0, 11).sort());
  });

  test('when the token is not a UUID, then the call is refused before the database', async () => {
    await expect(fixture.ledger.reserveKeyAndRecord(keyed({ token: 'nope' }), accepted())).rejects.toBeInstanceOf(
      RangeError,
    );
  });
});

describe("storing a keyed request's answer", () => {
  test('when an answer is stored, then a retry replays it and the commit alone, not the session, skipped waiting for the disk', async () => {
    const req = keyed();
    const emails = accepted();
    const held = await fixture.ledger.reserveKeyAndRecord(req, emails);
    if (held.outcome !== 'new') throw new Error(held.outcome);

    expect(
      await fixture.ledger.completeIdempotencyKey({ reservation: held.reservation, status: 202, body: { id: 'x' } }),
    ).toBe(true);
    expect(await fixture.ledger.reserveKeyAndRecord({ ...req, token: randomUUID() }, accepted())).toMatchObject({
      outcome: 'replay',
      status: 202,
      body: { id: 'x' },
    });

    const client = await fixture.db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT * FROM ledger_complete_keys('[]')`);
      const inside = await client.query<{ s: string }>(`SELECT current_setting('synchronous_commit') AS s`);
      await client.query('COMMIT');
      const after = await client.query<{ s: string }>(`SELECT current_setting('synchronous_commit') AS s`);
      expect([inside.rows[0]?.s, after.rows[0]?.s]).toEqual(['off', 'on']);
    } finally {
      client.release();
    }
  });

  test('when the reservation was taken over meanwhile, then the first holder cannot store its answer', async () => {
    const req = keyed();
    const held = await fixture.ledger.reserveKeyAndRecord(req, accepted());
    if (held.outcome !== 'new') throw new Error(held.outcome);
    await fixture.ledger.reserveKeyAndRecord({ ...req, token: randomUUID(), staleAfterMs: 0 }, accepted());

    expect(
      await fixture.ledger.completeIdempotencyKey({ reservation: held.reservation, status: 202, body: { id: 'x' } }),
    ).toBe(false);
    expect(await keyRow(req)).toMatchObject({ state: 'in-flight' });
  });
});
