import { randomUUID } from 'node:crypto';
import { maskAddress, RecipientHasher, type LifecycleEvent, type ProviderEventRecipient } from '@mailer/contract';
import { createPool, hashRequest, Ledger, Outbox, type AcceptedEmail } from '../src';
import { createTestDatabase, type TestDatabase } from './support/database';

const CURRENT = 'current-recipient-secret-0123456789abcdef';
const ANN = 'annabel.quartermaine@example.com';
const BOB = 'bartholomew.fitzgerald@example.org';

const hasher = new RecipientHasher({ current: CURRENT });
let db: TestDatabase;
let ledger: Ledger;
let outbox: Outbox;

beforeAll(async () => {
  db = await createTestDatabase({ migrated: true });
  ledger = new Ledger({ db: db.pool, hasher });
  outbox = new Outbox(db.pool);
});

afterAll(async () => {
  await db.drop();
});

function email(recipients: readonly string[] = [ANN, BOB]): AcceptedEmail {
  return {
    id: randomUUID(),
    client: 'acme',
    acceptedAt: new Date(),
    recipients,
    tags: { kind: 'receipt' },
    metadata: { order: 42 },
  };
}

async function accepted(recipients?: readonly string[], by: Ledger = ledger): Promise<string> {
  const e = email(recipients);
  await by.recordAccepted([e]);
  return e.id;
}

const recipient = (address: string, outcome: ProviderEventRecipient['outcome'], extra = {}) => ({
  hashes: hasher.candidates(address),
  masked: maskAddress(address),
  outcome,
  ...extra,
});

async function providerEvent(id: string, recipients: ProviderEventRecipient[]): Promise<void> {
  await ledger.applyProviderEvent({
    provider: 'ses',
    eventKey: randomUUID(),
    emailId: id,
    occurredAt: new Date(),
    recipients,
  });
}

interface Row {
  type: string;
  state: string;
  attempt: number;
  recipient: string | null;
  reason: string | null;
}

/** The email's outbox rows in `seq` order: what its events say, in the order they say it. */
async function rowsOf(id: string): Promise<Row[]> {
  const { rows } = await db.pool.query<Row>(
    'SELECT type, state, attempt, recipient, reason FROM outbox WHERE email_id = $1 ORDER BY seq',
    [id],
  );
  return rows;
}

const typesOf = async (id: string) =>
  (await rowsOf(id)).map((r) => (r.recipient === null ? r.type : `${r.type} ${r.recipient}`));

/** Publishes (and forgets) whatever earlier tests left unpublished, so a test sees only its own rows. */
async function drain(): Promise<void> {
  while ((await outbox.publishBatch(1000, () => Promise.resolve())) > 0);
}

describe('the outbox triggers', () => {
  it('when an email is recorded, fails, is retried, sent and reported, then each change writes its event in order', async () => {
    const id = await accepted();
    expect(await ledger.claimAttempt({ id, attempt: 1, provider: 'ses' })).toEqual({ outcome: 'claimed' });
    await ledger.recordFailure({
      id,
      attempt: 1,
      provider: 'ses',
      kind: 'transient',
      error: 'busy',
      ambiguous: false,
      next: 'retrying',
    });
    expect(await ledger.claimAttempt({ id, attempt: 2, provider: 'ses' })).toEqual({ outcome: 'claimed' });
    await ledger.recordSent({ id, attempt: 2, provider: 'ses', providerMessageId: 'ses-1' });
    await providerEvent(id, [recipient(ANN, 'delivery_delayed', { bounceKind: 'soft', diagnostic: 'mailbox busy' })]);
    await providerEvent(id, [recipient(ANN, 'delivered')]);
    await providerEvent(id, [recipient(BOB, 'bounced', { bounceKind: 'hard', providerType: 'Permanent' })]);
    await providerEvent(id, [recipient(ANN, 'complained')]);

    expect(await rowsOf(id)).toEqual([
      { type: 'email.queued', state: 'queued', attempt: 0, recipient: null, reason: null },
      { type: 'email.retrying', state: 'retrying', attempt: 1, recipient: null, reason: 'transient' },
      { type: 'email.sent', state: 'sent', attempt: 2, recipient: null, reason: null },
      { type: 'email.delivery_delayed', state: 'sent', attempt: 2, recipient: maskAddress(ANN), reason: null },
      { type: 'email.delivered', state: 'sent', attempt: 2, recipient: maskAddress(ANN), reason: null },
      { type: 'email.bounced', state: 'bounced', attempt: 2, recipient: maskAddress(BOB), reason: null },
      { type: 'email.complained', state: 'complained', attempt: 2, recipient: maskAddress(ANN), reason: null },
    ]);
  });

  it("when the relay reads an email's events, then they carry its client, tags, metadata, masked recipients, provider ids and bounce", async () => {
    await drain();
    const id = await accepted();
    await ledger.claimAttempt({ id, attempt: 1, provider: 'ses' });
    await ledger.recordSent({ id, attempt: 1, provider: 'ses', providerMessageId: 'ses-2' });
    await providerEvent(id, [
      recipient(BOB, 'bounced', {
        bounceKind: 'hard',
        providerType: 'Permanent',
        providerSubtype: 'General',
        diagnostic: '550 no such user',
      }),
    ]);
    const seen: LifecycleEvent[] = [];
    await outbox.publishBatch(100, (events) => {
      seen.push(...events);
      return Promise.resolve();
    });

    const [queued, sent, bounced] = seen.filter((e) => e.data.email_id === id);
    expect(queued).toMatchObject({
      type: 'email.queued',
      data: {
        client: 'acme',
        state: 'queued',
        attempt: 0,
        recipients: [maskAddress(ANN), maskAddress(BOB)],
        provider: null,
        provider_message_id: null,
        tags: { kind: 'receipt' },
        metadata: { order: 42 },
      },
    });
    expect(queued?.data).not.toHaveProperty('recipient');
    expect(sent).toMatchObject({
      type: 'email.sent',
      data: { provider: 'ses', provider_message_id: 'ses-2', attempt: 1 },
    });
    expect(bounced).toMatchObject({
      type: 'email.bounced',
      data: {
        recipient: maskAddress(BOB),
        state: 'bounced',
        provider_message_id: 'ses-2',
        bounce: { kind: 'hard', type: 'Permanent', subtype: 'General', diagnostic: '550 no such user' },
      },
    });
    expect(bounced?.data).not.toHaveProperty('recipients');
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    expect(seen.map((e) => e.sequence)).toEqual([...seen.map((e) => e.sequence)].sort((a, b) => a - b));
    expect(JSON.stringify(seen)).not.toContain(ANN);
  });

  it('when an email is recorded under an Idempotency-Key, then it is queued with its event', async () => {
    const e = email();
    await ledger.reserveKeyAndRecord(
      {
        client: 'acme',
        key: `key-${randomUUID()}`,
        token: randomUUID(),
        requestHash: hashRequest('/v1/emails', { n: 1 }),
        ttlMs: 60_000,
        staleAfterMs: 60_000,
      },
      [e],
    );
    expect(await typesOf(e.id)).toEqual(['email.queued']);
  });

  it('when recipients are on the suppression list at intake, then the email is queued or suppressed, with one event per suppressed recipient', async () => {
    await ledger.addSuppressions([
      { hashes: hasher.candidates(BOB), masked: maskAddress(BOB), reason: 'manual', createdBy: 'ops' },
    ]);
    const some = await accepted([ANN, BOB]);
    const all = await accepted([BOB]);

    expect(await typesOf(some)).toEqual(['email.queued', `email.suppressed ${maskAddress(BOB)}`]);
    expect(await typesOf(all)).toEqual(['email.suppressed', `email.suppressed ${maskAddress(BOB)}`]);
    expect((await rowsOf(all)).map((r) => r.state)).toEqual(['suppressed', 'suppressed']);
    await ledger.removeSuppression(hasher.candidates(BOB), undefined, 'ops');
  });

  it('when the consumer finds every recipient suppressed at send, then the recipients and the email get their events', async () => {
    const id = await accepted([ANN]);
    await ledger.claimAttempt({ id, attempt: 1, provider: 'ses' });
    await ledger.recordSuppressedAtSend({
      id,
      attempt: 1,
      recipients: [{ hashes: hasher.candidates(ANN), masked: maskAddress(ANN) }],
      entries: [],
      emailSuppressed: true,
    });
    // Both come from one statement: their order between them is not promised, only after the queued one.
    const [queued, ...rest] = await typesOf(id);
    expect(queued).toBe('email.queued');
    expect(rest.sort()).toEqual(['email.suppressed', `email.suppressed ${maskAddress(ANN)}`]);
  });

  it('when a try is parked, then email.parked names the failure', async () => {
    const id = await accepted();
    await ledger.claimAttempt({ id, attempt: 1, provider: 'ses' });
    await ledger.recordFailure({
      id,
      attempt: 1,
      provider: 'ses',
      kind: 'recipient-rejected',
      error: '550',
      ambiguous: false,
      next: 'parked',
    });
    expect((await rowsOf(id)).at(-1)).toEqual({
      type: 'email.parked',
      state: 'parked',
      attempt: 1,
      recipient: null,
      reason: 'recipient-rejected',
    });
  });

  it('when a claim finds the last try unfinished, then email.in_doubt is written', async () => {
    const id = await accepted();
    await ledger.claimAttempt({ id, attempt: 1, provider: 'ses', token: randomUUID() });
    const again = await ledger.claimAttempt({ id, attempt: 1, provider: 'ses', token: randomUUID() });
    expect(again.outcome).toBe('in-doubt');
    expect(await typesOf(id)).toEqual(['email.queued', 'email.in_doubt']);
  });

  it('when the sweep abandons a stale queued email, then email.abandoned is written', async () => {
    const e = { ...email(), acceptedAt: new Date(Date.now() - 3_600_000) };
    await ledger.recordAccepted([e]);
    await ledger.abandonStaleQueued(60_000);
    expect(await typesOf(e.id)).toEqual(['email.queued', 'email.abandoned']);
  });

  it('when a recorded email is discarded after a failed publish, then its unpublished event goes with it', async () => {
    const id = await accepted();
    expect(await ledger.discardUnpublished([id])).toBe(1);
    expect(await rowsOf(id)).toEqual([]);
  });

  it('when an email whose email.queued the relay had already published is discarded, then email.abandoned (publish-failed) follows it', async () => {
    await drain();
    const id = await accepted();
    await drain();
    expect(await ledger.discardUnpublished([id])).toBe(1);
    expect(await rowsOf(id)).toEqual([
      { type: 'email.queued', state: 'queued', attempt: 0, recipient: null, reason: null },
      { type: 'email.abandoned', state: 'abandoned', attempt: 0, recipient: null, reason: 'publish-failed' },
    ]);
    const [event] = await new Promise<LifecycleEvent[]>((resolve, reject) => {
      outbox
        .publishBatch(1000, (events) => {
          resolve(events.filter((e) => e.data.email_id === id));
          return Promise.resolve();
        })
        .catch(reject);
    });
    expect(event).toMatchObject({
      type: 'email.abandoned',
      data: { email_id: id, state: 'abandoned', reason: 'publish-failed' },
    });
  });

  it('when the transaction that records an email rolls back, then its event is gone with it', async () => {
    const client = await db.pool.connect();
    const id = randomUUID();
    try {
      await client.query('BEGIN');
      await client.query('SELECT * FROM ledger_record_accepted($1::jsonb, $2::jsonb)', [
        JSON.stringify([
          { id, client: 'acme', accepted_at: new Date(), recipient_count: 1, recipients: ['a***@example.com'] },
        ]),
        '[]',
      ]);
      const inside = await client.query('SELECT type FROM outbox WHERE email_id = $1', [id]);
      expect(inside.rows).toEqual([{ type: 'email.queued' }]);
      expect(await rowsOf(id)).toEqual([]);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await rowsOf(id)).toEqual([]);
  });

  it('when the ledger runs with EVENTS=off, then its changes write no events', async () => {
    const pool = createPool({ url: db.url, max: 2, events: 'off' });
    try {
      const quiet = new Ledger({ db: pool, hasher });
      const id = await accepted([ANN], quiet);
      await quiet.claimAttempt({ id, attempt: 1, provider: 'ses' });
      await quiet.recordSent({ id, attempt: 1, provider: 'ses', providerMessageId: 'ses-3' });
      await new Ledger({ db: pool, hasher }).applyProviderEvent({
        provider: 'ses',
        eventKey: randomUUID(),
        emailId: id,
        occurredAt: new Date(),
        recipients: [recipient(ANN, 'delivered')],
      });
      const { rows } = await pool.query<{ state: string }>('SELECT state FROM emails WHERE id = $1', [id]);
      expect(rows).toEqual([{ state: 'delivered' }]);
      expect(await rowsOf(id)).toEqual([]);
    } finally {
      await pool.end();
    }
  });
});

describe('Outbox', () => {
  it('when the publish callback throws, then nothing is marked and the same events are handed out again', async () => {
    await drain();
    const id = await accepted();
    const first: LifecycleEvent[] = [];
    await expect(
      outbox.publishBatch(10, (events) => {
        first.push(...events);
        return Promise.reject(new Error('broker gone'));
      }),
    ).rejects.toThrow('broker gone');
    expect(await outbox.lag()).toMatchObject({ unpublished: 1 });

    const second: LifecycleEvent[] = [];
    await outbox.publishBatch(10, (events) => {
      second.push(...events);
      return Promise.resolve();
    });
    expect(first.map((e) => [e.id, e.data.email_id])).toEqual([[first[0]?.id, id]]);
    expect(second).toEqual(first);
    expect(await outbox.lag()).toEqual({ unpublished: 0, oldestAgeMs: null });
  });

  it('when two relays publish at once, then no row is handed to both and every row is published', async () => {
    await drain();
    const emails = Array.from({ length: 300 }, () => email([ANN]));
    await ledger.recordAccepted(emails);
    const got: LifecycleEvent[][] = [[], []];
    // Each relay holds its batch until the other has one too: the two transactions overlap.
    let entered = 0;
    let release: () => void = () => undefined;
    const bothIn = new Promise<void>((resolve) => (release = resolve));
    const relay = async (k: 0 | 1) => {
      let first = true;
      for (;;) {
        const n = await outbox.publishBatch(100, async (events) => {
          got[k]?.push(...events);
          if (first) {
            first = false;
            if (++entered === 2) release();
            await bothIn;
          }
        });
        if (n === 0) return;
      }
    };
    await Promise.all([relay(0), relay(1)]);

    const [a = [], b = []] = got;
    expect(a.length).toBeGreaterThan(0);
    expect(b.length).toBeGreaterThan(0);
    const ids = [...a, ...b].map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(300);
    expect(await outbox.lag()).toEqual({ unpublished: 0, oldestAgeMs: null });
  });

  it('when events are older than the retention and published, then they are pruned; unpublished ones stay', async () => {
    await drain();
    const published = await accepted();
    await drain();
    const waiting = await accepted();
    await db.pool.query("UPDATE outbox SET published_at = published_at - interval '8 days' WHERE email_id = $1", [
      published,
    ]);
    expect(await outbox.prunePublished(7 * 86_400_000, 100)).toBe(1);
    expect(await rowsOf(published)).toEqual([]);
    expect(await typesOf(waiting)).toEqual(['email.queued']);
    const lag = await outbox.lag();
    expect(lag.unpublished).toBe(1);
    expect(lag.oldestAgeMs).toBeGreaterThanOrEqual(0);
  });

  it('when a client pages through its events with a type filter, then each comes once, oldest first, and only its own', async () => {
    const since = new Date(Date.now() - 1000);
    const client = `pager-${randomUUID()}`;
    const emails = Array.from({ length: 7 }, () => ({ ...email([ANN]), client }));
    await ledger.recordAccepted(emails);
    await ledger.recordAccepted([email([ANN])]);
    for (const e of emails.slice(0, 3)) {
      await ledger.claimAttempt({ id: e.id, attempt: 1, provider: 'ses' });
      await ledger.recordSent({ id: e.id, attempt: 1, provider: 'ses', providerMessageId: null });
    }

    const pages: LifecycleEvent[][] = [];
    let cursor: string | undefined;
    do {
      const page = await outbox.eventsOf(client, { since, limit: 3, ...(cursor === undefined ? {} : { cursor }) });
      pages.push([...page.events]);
      cursor = page.next ?? undefined;
    } while (cursor !== undefined);
    const all = pages.flat();
    expect(pages.map((p) => p.length)).toEqual([3, 3, 3, 1]);
    expect(
      all
        .filter((e) => e.type === 'email.queued')
        .map((e) => e.data.email_id)
        .sort(),
    ).toEqual(emails.map((e) => e.id).sort());
    expect(new Set(all.map((e) => e.id)).size).toBe(10);

    const sent = await outbox.eventsOf(client, { since, limit: 100, types: ['email.sent'] });
    expect(sent.events.map((e) => e.data.email_id).sort()).toEqual(
      emails
        .slice(0, 3)
        .map((e) => e.id)
        .sort(),
    );
    expect(sent.next).toBeNull();
    await expect(outbox.eventsOf(client, { since, limit: 3, cursor: 'bm90LWEtY3Vyc29y' })).rejects.toThrow(
      'not a cursor',
    );
  });
});
