import { randomUUID } from 'node:crypto';
import { maskAddress, RecipientHasher, type ProviderEvent, type ProviderEventRecipient } from '@mailer/contract';
import { Ledger, type AcceptedEmail } from '../src';
import { createTestDatabase, type TestDatabase } from './support/database';

const CURRENT = 'current-recipient-secret-0123456789abcdef';
const OLD = 'old-recipient-secret-0123456789abcdefghij';

// Local parts no masked form keeps: the privacy check looks for them followed by '@'.
const ANN = 'annabel.quartermaine@example.com';
const BOB = 'bartholomew.fitzgerald@example.org';
const CAT = 'catriona.vandersloot@example.net';
const DAN = 'dashiell.oyelaran@example.com';
const EVE = 'evangeline.thistlewood@example.org';
const ADDRESSES = [ANN, BOB, CAT, DAN, EVE];

const hasher = new RecipientHasher({ current: CURRENT, previous: [OLD] });
let db: TestDatabase;
let ledger: Ledger;

beforeAll(async () => {
  db = await createTestDatabase({ migrated: true });
  ledger = new Ledger({ db: db.pool, hasher });
});

afterAll(async () => {
  await db.drop();
});

function email(recipients: readonly string[]): AcceptedEmail {
  return { id: randomUUID(), client: 'acme', acceptedAt: new Date(), recipients };
}

/** Records an email and moves it to `sent` through `provider`, as the producer and consumer do. */
async function sentEmail(recipients: readonly string[], provider = 'ses'): Promise<{ id: string; messageId: string }> {
  const e = email(recipients);
  await ledger.recordAccepted([e]);
  expect(await ledger.claimAttempt({ id: e.id, attempt: 1, provider })).toEqual({ outcome: 'claimed' });
  const messageId = `msg-${randomUUID()}`;
  expect(await ledger.recordSent({ id: e.id, attempt: 1, provider, providerMessageId: messageId })).toBe('advanced');
  return { id: e.id, messageId };
}

function recipient(
  address: string,
  outcome: ProviderEventRecipient['outcome'],
  extra: Partial<ProviderEventRecipient> = {},
) {
  return {
    hashes: hasher.candidates(address),
    masked: `${address[0] ?? ''}***${address.slice(address.indexOf('@'))}`,
    outcome,
    ...extra,
  };
}

function event(
  emailId: string | undefined,
  recipients: ProviderEventRecipient[],
  extra: Partial<ProviderEvent> = {},
): ProviderEvent {
  return {
    provider: 'ses',
    eventKey: randomUUID(),
    ...(emailId === undefined ? {} : { emailId }),
    occurredAt: new Date(),
    recipients,
    ...extra,
  };
}

async function stateOf(id: string): Promise<string | undefined> {
  const { rows } = await db.pool.query<{ state: string }>('SELECT state FROM emails WHERE id = $1', [id]);
  return rows[0]?.state;
}

async function outcomesOf(id: string): Promise<Record<string, string>> {
  const { rows } = await db.pool.query<{ masked: string; outcome: string }>(
    'SELECT masked, outcome FROM recipient_outcomes WHERE email_id = $1',
    [id],
  );
  return Object.fromEntries(rows.map((r) => [r.masked, r.outcome]));
}

async function counts(): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<Record<string, number>>(
    `SELECT (SELECT count(*)::integer FROM provider_events) AS events,
      (SELECT count(*)::integer FROM recipient_outcomes) AS outcomes,
      (SELECT count(*)::integer FROM suppressions) AS suppressions,
      (SELECT count(*)::integer FROM suppression_history) AS history`,
  );
  return rows[0] ?? {};
}

/** Adds a manual entry through `through` (a ledger and its hasher: the test's own by default). */
async function suppress(
  address: string,
  extra: { expiresAt?: Date; through?: { ledger: Ledger; hasher: RecipientHasher } } = {},
): Promise<void> {
  const through = extra.through ?? { ledger, hasher };
  await through.ledger.addSuppressions([
    {
      hashes: through.hasher.candidates(address),
      masked: `${address[0] ?? ''}***`,
      reason: 'manual',
      createdBy: 'ops',
      ...(extra.expiresAt === undefined ? {} : { expiresAt: extra.expiresAt }),
    },
  ]);
}

describe('intake against the suppression list', () => {
  test('when one recipient of three is suppressed, then the email is queued, that position is named and it gets a suppressed outcome', async () => {
    const a = `a-${randomUUID()}@example.com`;
    const b = `b-${randomUUID()}@example.com`;
    await suppress(b);
    const e = email([a, b, `c-${randomUUID()}@example.com`]);

    const recorded = await ledger.recordAccepted([e]);

    expect(recorded).toEqual([{ id: e.id, suppressed: [1] }]);
    expect(await stateOf(e.id)).toBe('queued');
    expect(Object.values(await outcomesOf(e.id))).toEqual(['suppressed']);
    const { rows } = await db.pool.query<{ recipient_hashes: Buffer[] }>(
      'SELECT recipient_hashes FROM emails WHERE id = $1',
      [e.id],
    );
    expect(rows[0]?.recipient_hashes).toEqual([hasher.hash(a), hasher.hash(b), hasher.hash(e.recipients[2] ?? '')]);
  });

  test('when every recipient is suppressed, then the email is recorded suppressed, never queued', async () => {
    const a = `a-${randomUUID()}@example.com`;
    await suppress(a);
    const e = email([a, a.toUpperCase()]);
    const other = email([`free-${randomUUID()}@example.com`]);

    const recorded = await ledger.recordAccepted([e, other]);

    expect(recorded).toEqual([
      { id: e.id, suppressed: [0, 1] },
      { id: other.id, suppressed: [] },
    ]);
    expect(await stateOf(e.id)).toBe('suppressed');
    expect(await stateOf(other.id)).toBe('queued');
  });

  test('when the request holds a key, then reserveKeyAndRecord answers the suppressed recipients in the same statement', async () => {
    const a = `a-${randomUUID()}@example.com`;
    await suppress(a);
    const emails = [email([`x-${randomUUID()}@example.com`, a]), email([a])];

    const outcome = await ledger.reserveKeyAndRecord(
      {
        client: 'acme',
        key: `k-${randomUUID()}`,
        token: randomUUID(),
        requestHash: 'h',
        ttlMs: 3_600_000,
        staleAfterMs: 60_000,
      },
      emails,
    );

    expect(outcome).toMatchObject({
      outcome: 'new',
      recorded: [
        { id: emails[0]?.id, suppressed: [1] },
        { id: emails[1]?.id, suppressed: [0] },
      ],
    });
    expect(await stateOf(emails[1]?.id ?? '')).toBe('suppressed');
  });

  test('when an entry has expired, then the recipient is not suppressed; one expiring later still is', async () => {
    const gone = `gone-${randomUUID()}@example.com`;
    const soon = `soon-${randomUUID()}@example.com`;
    await suppress(gone, { expiresAt: new Date(Date.now() - 1000) });
    await suppress(soon, { expiresAt: new Date(Date.now() + 3_600_000) });

    const [recorded] = await ledger.recordAccepted([email([gone, soon])]);

    expect(recorded?.suppressed).toEqual([1]);
    expect(await ledger.suppressedAmong([hasher.candidates(gone), hasher.candidates(soon)])).toEqual([false, true]);
    expect(await ledger.findSuppression(hasher.candidates(gone))).toBeNull();
  });

  test('when an entry was made under the previous secret, then it still matches, and is rewritten under the current one when next matched', async () => {
    const a = `rotated-${randomUUID()}@example.com`;
    const oldHasher = new RecipientHasher({ current: OLD });
    await suppress(a, { through: { ledger: new Ledger({ db: db.pool, hasher: oldHasher }), hasher: oldHasher } });
    const newOnly = new Ledger({ db: db.pool, hasher: new RecipientHasher({ current: CURRENT }) });

    expect(await ledger.suppressedAmong([hasher.candidates(a)])).toEqual([true]);
    expect(await newOnly.suppressedAmong([new RecipientHasher({ current: CURRENT }).candidates(a)])).toEqual([false]);
    const [recorded] = await ledger.recordAccepted([email([a])]);
    expect(recorded?.suppressed).toEqual([0]);

    // An add (here: a complaint's) matches the old entry and moves it to the current key.
    expect(
      await ledger.addSuppressions([
        { hashes: hasher.candidates(a), masked: 'r***', reason: 'complaint', createdBy: 'ops' },
      ]),
    ).toEqual([false]);
    const { rows } = await db.pool.query<{ key_id: string; reason: string; n: number }>(
      'SELECT key_id, reason, count(*) OVER ()::integer AS n FROM suppressions WHERE recipient_hash = ANY ($1::bytea[])',
      [hasher.candidates(a)],
    );
    expect(rows).toEqual([{ key_id: hasher.keyId, reason: 'manual', n: 1 }]);
    expect(await newOnly.suppressedAmong([new RecipientHasher({ current: CURRENT }).candidates(a)])).toEqual([true]);
  });
});

describe('applying provider events', () => {
  test('when an event names a known email, then it is applied once; the same key again is a duplicate and changes nothing', async () => {
    const { id } = await sentEmail([ANN]);
    const first = event(id, [recipient(ANN, 'delivered')]);

    expect(await ledger.applyProviderEvent(first)).toBe('applied');
    expect(await stateOf(id)).toBe('delivered');
    const after = await counts();

    expect(await ledger.applyProviderEvent({ ...first, recipients: [recipient(ANN, 'complained')] })).toBe('duplicate');
    expect(await counts()).toEqual(after);
    expect(await stateOf(id)).toBe('delivered');
  });

  test('when the email is unknown, then nothing at all is written, and the same event applies once the email exists', async () => {
    const e = email([BOB]);
    const early = event(e.id, [recipient(BOB, 'bounced', { bounceKind: 'hard', suppress: { reason: 'hard-bounce' } })]);
    const before = await counts();

    expect(await ledger.applyProviderEvent(early)).toBe('email-unknown');
    expect(
      await ledger.applyProviderEvent(event(undefined, [recipient(BOB, 'delivered')], { providerMessageId: 'nobody' })),
    ).toBe('email-unknown');
    expect(await counts()).toEqual(before);

    await ledger.recordAccepted([e]);
    expect(await ledger.applyProviderEvent(early)).toBe('applied');
    expect(await ledger.suppressedAmong([hasher.candidates(BOB)])).toEqual([true]);
  });

  test("when an event carries only the provider's message id, then the email is found by it", async () => {
    const { id, messageId } = await sentEmail([CAT], 'postmark');

    expect(
      await ledger.applyProviderEvent(
        event(undefined, [recipient(CAT, 'delivered')], { provider: 'postmark', providerMessageId: messageId }),
      ),
    ).toBe('applied');
    expect(await stateOf(id)).toBe('delivered');
    // Another provider's id space: not this email.
    expect(
      await ledger.applyProviderEvent(event(undefined, [recipient(CAT, 'bounced')], { providerMessageId: messageId })),
    ).toBe('email-unknown');
  });

  test('when a Delivery arrives after a Bounce, then the recipient stays bounced; a Bounce after a Delivery wins', async () => {
    const one = `one-${randomUUID()}@example.com`;
    const a = await sentEmail([one]);
    await ledger.applyProviderEvent(event(a.id, [recipient(one, 'bounced', { bounceKind: 'hard' })]));
    await ledger.applyProviderEvent(event(a.id, [recipient(one, 'delivered')]));
    expect(Object.values(await outcomesOf(a.id))).toEqual(['bounced']);
    expect(await stateOf(a.id)).toBe('bounced');

    const two = `two-${randomUUID()}@example.com`;
    const b = await sentEmail([two]);
    await ledger.applyProviderEvent(event(b.id, [recipient(two, 'delivered')]));
    expect(await stateOf(b.id)).toBe('delivered');
    await ledger.applyProviderEvent(event(b.id, [recipient(two, 'bounced', { bounceKind: 'hard' })]));
    expect(Object.values(await outcomesOf(b.id))).toEqual(['bounced']);
    expect(await stateOf(b.id)).toBe('bounced');

    // A delay after the delivery moves nothing back either.
    await ledger.applyProviderEvent(event(b.id, [recipient(two, 'delivery_delayed')]));
    expect(Object.values(await outcomesOf(b.id))).toEqual(['bounced']);
  });

  test('when two recipients differ, then the email shows the summary: one bounced and one delivered is bounced; a complaint outranks', async () => {
    const { id } = await sentEmail([DAN, EVE]);

    await ledger.applyProviderEvent(event(id, [recipient(DAN, 'delivered')]));
    expect(await stateOf(id)).toBe('sent');
    await ledger.applyProviderEvent(
      event(id, [
        recipient(EVE, 'bounced', {
          bounceKind: 'hard',
          providerType: 'Permanent',
          providerSubtype: 'General',
          diagnostic: `smtp; 550 5.1.1 <${EVE}>: Recipient address rejected`,
          suppress: { reason: 'hard-bounce' },
        }),
      ]),
    );
    expect(await stateOf(id)).toBe('bounced');

    const view = await ledger.getEmail('acme', id);
    expect(view?.state).toBe('bounced');
    expect(view?.recipientOutcomes).toEqual([
      { address: 'd***@example.com', status: 'delivered', updatedAt: expect.any(Date) },
      {
        address: 'e***@example.org',
        status: 'bounced',
        bounce: {
          kind: 'hard',
          type: 'Permanent',
          subtype: 'General',
          diagnostic: 'smtp; 550 5.1.1 <e***@example.org>: Recipient address rejected',
        },
        updatedAt: expect.any(Date),
      },
    ]);

    await ledger.applyProviderEvent(event(id, [recipient(DAN, 'complained', { suppress: { reason: 'complaint' } })]));
    expect(await stateOf(id)).toBe('complained');
  });

  test('when every recipient is delivered, then the email is delivered; a recipient with no outcome shows sent', async () => {
    const x = `x-${randomUUID()}@example.com`;
    const y = `y-${randomUUID()}@example.com`;
    const { id } = await sentEmail([x, y]);

    await ledger.applyProviderEvent(event(id, [recipient(x, 'delivered')]));
    const partial = await ledger.getEmail('acme', id);
    expect(partial?.recipientOutcomes.map((r) => r.status)).toEqual(['delivered', 'sent']);

    await ledger.applyProviderEvent(event(id, [recipient(y, 'delivered')]));
    expect(await stateOf(id)).toBe('delivered');
  });

  test('when an event suppresses a recipient, then the entry names its source and a history row is kept; a later one keeps the first source', async () => {
    const address = `src-${randomUUID()}@example.com`;
    const first = await sentEmail([address]);
    const bounce = event(first.id, [
      recipient(address, 'bounced', { bounceKind: 'hard', suppress: { reason: 'hard-bounce' } }),
    ]);
    await ledger.applyProviderEvent(bounce);
    const second = await sentEmail([address]);
    await ledger.applyProviderEvent(
      event(second.id, [recipient(address, 'complained', { suppress: { reason: 'complaint' } })]),
    );

    expect(await ledger.findSuppression(hasher.candidates(address))).toEqual({
      masked: 's***@example.com',
      reason: 'hard-bounce',
      createdAt: expect.any(Date),
      source: { emailId: first.id, provider: 'ses', eventKey: bounce.eventKey },
      createdBy: 'provider',
    });
    const { rows } = await db.pool.query<{ action: string; reason: string; done_by: string; source_email_id: string }>(
      'SELECT action, reason, done_by, source_email_id FROM suppression_history WHERE recipient_hash = $1 ORDER BY seq',
      [hasher.hash(address)],
    );
    expect(rows).toEqual([{ action: 'add', reason: 'hard-bounce', done_by: 'provider', source_email_id: first.id }]);
  });

  test('when the provider reactivates a recipient, then its entry is removed and the removal is in its history', async () => {
    const address = `react-${randomUUID()}@example.com`;
    const { id } = await sentEmail([address], 'postmark');
    await ledger.applyProviderEvent(
      event(id, [recipient(address, 'bounced', { bounceKind: 'hard', suppress: { reason: 'hard-bounce' } })], {
        provider: 'postmark',
      }),
    );
    expect(await ledger.suppressedAmong([hasher.candidates(address)])).toEqual([true]);

    const reactivation = event(id, [], {
      provider: 'postmark',
      unsuppress: [{ hashes: hasher.candidates(address), masked: 'r***@example.com' }],
    });
    expect(await ledger.applyProviderEvent(reactivation)).toBe('applied');

    expect(await ledger.suppressedAmong([hasher.candidates(address)])).toEqual([false]);
    const { rows } = await db.pool.query<{ action: string }>(
      'SELECT action FROM suppression_history WHERE recipient_hash = $1 ORDER BY seq',
      [hasher.hash(address)],
    );
    expect(rows.map((r) => r.action)).toEqual(['add', 'remove']);
  });

  test('when dedupe rows are older than the retention, then pruning deletes them and keeps newer ones', async () => {
    const { id } = await sentEmail([`p-${randomUUID()}@example.com`]);
    const old = event(id, [], { receivedAt: new Date(Date.now() - 10 * 86_400_000) });
    await ledger.applyProviderEvent(old);
    const fresh = event(id, []);
    await ledger.applyProviderEvent(fresh);

    expect(await ledger.pruneProviderEvents(7 * 86_400_000)).toBeGreaterThanOrEqual(1);
    const { rows } = await db.pool.query<{ event_key: string }>(
      'SELECT event_key FROM provider_events WHERE event_key = ANY ($1::text[])',
      [[old.eventKey, fresh.eventKey]],
    );
    expect(rows.map((r) => r.event_key)).toEqual([fresh.eventKey]);
  });

  test('when an event is malformed, then only its caller is refused and a good one in the same turn applies', async () => {
    const { id } = await sentEmail([`m-${randomUUID()}@example.com`]);
    const bad = ledger.applyProviderEvent(
      event(id, [{ hashes: [Buffer.alloc(3)], masked: 'm***', outcome: 'delivered' }]),
    );
    const good = ledger.applyProviderEvent(event(id, []));

    await expect(bad).rejects.toThrow(RangeError);
    await expect(good).resolves.toBe('applied');
  });
});

describe('managing the suppression list', () => {
  test('when entries are listed, then pages run newest first by keyset, with a reason filter, and never show a key', async () => {
    const reason = 'unsubscribed';
    const run = randomUUID().slice(0, 8);
    const added = Array.from({ length: 5 }, (_, k) => `listed@d${k}-${run}.example`);
    for (const address of added) {
      await ledger.addSuppressions([
        { hashes: hasher.candidates(address), masked: maskAddress(address), reason, createdBy: 'ops' },
      ]);
    }

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await ledger.listSuppressions({ reason, limit: 2, ...(cursor === undefined ? {} : { cursor }) });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((item) => item.masked));
      for (const item of page.items)
        expect(Object.keys(item).sort()).toEqual(['createdAt', 'createdBy', 'masked', 'reason']);
      cursor = page.nextCursor;
    } while (cursor !== undefined);

    // Newest first: the reverse of the order they were added in, each once.
    expect(seen).toEqual(added.map(maskAddress).reverse());
    const times = (await ledger.listSuppressions({ reason, limit: 100 })).items.map((item) => item.createdAt.getTime());
    expect(times).toEqual([...times].sort((p, q) => q - p));
    await expect(ledger.listSuppressions({ cursor: 'bm90LWEtY3Vyc29y' })).rejects.toThrow('not a cursor this API gave');
    expect(await ledger.suppressionCount()).toBeGreaterThanOrEqual(5);
  });

  test('when an entry is removed, then it is gone, the removal with its note is in the history, and removing again is false', async () => {
    const address = `rm-${randomUUID()}@example.com`;
    await ledger.addSuppressions([
      { hashes: hasher.candidates(address), masked: 'r***', reason: 'manual', note: 'asked', createdBy: 'ops' },
    ]);

    expect(await ledger.removeSuppression(hasher.candidates(address), 'customer asked again', 'support')).toBe(true);
    expect(await ledger.removeSuppression(hasher.candidates(address), undefined, 'support')).toBe(false);

    expect(await ledger.findSuppression(hasher.candidates(address))).toBeNull();
    const { rows } = await db.pool.query<{ action: string; reason: string; note: string; done_by: string }>(
      'SELECT action, reason, note, done_by FROM suppression_history WHERE recipient_hash = $1 ORDER BY seq',
      [hasher.hash(address)],
    );
    expect(rows).toEqual([
      { action: 'add', reason: 'manual', note: 'asked', done_by: 'ops' },
      { action: 'remove', reason: 'manual', note: 'customer asked again', done_by: 'support' },
    ]);
  });
});

describe('privacy', () => {
  test('when every feedback table is read, then no text column holds a full local part followed by @', async () => {
    // Events and entries were given full addresses in diagnostics and masked fields above and here.
    const { id } = await sentEmail([ANN, BOB]);
    await ledger.applyProviderEvent(
      event(id, [
        { ...recipient(ANN, 'bounced', { diagnostic: `550 ${ANN} unknown; also ${BOB}` }), masked: ANN },
        { ...recipient(BOB, 'complained', { suppress: { reason: 'complaint' } }), masked: BOB },
      ]),
    );
    await ledger.addSuppressions([
      { hashes: hasher.candidates(CAT), masked: CAT, reason: 'manual', note: `for ${CAT}`, createdBy: 'ops' },
    ]);

    const { rows: columns } = await db.pool.query<{ table_name: string; column_name: string }>(
      `SELECT table_name, column_name FROM information_schema.columns
       WHERE table_schema = 'public' AND data_type IN ('text', 'ARRAY', 'jsonb')
         AND table_name IN ('emails', 'recipient_outcomes', 'suppressions', 'suppression_history', 'provider_events')`,
    );
    expect(columns.length).toBeGreaterThan(20);
    const leaks: string[] = [];
    for (const { table_name: table, column_name: column } of columns) {
      for (const address of ADDRESSES) {
        const local = address.slice(0, address.indexOf('@'));
        const { rows } = await db.pool.query<{ n: number }>(
          `SELECT count(*)::integer AS n FROM ${table} WHERE strpos(lower("${column}"::text), $1) > 0`,
          [`${local}@`],
        );
        if ((rows[0]?.n ?? 0) > 0) leaks.push(`${table}.${column}: ${local}`);
      }
    }
    expect(leaks).toEqual([]);
  });
});
