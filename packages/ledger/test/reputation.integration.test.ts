import { RecipientHasher, type ProviderEventRecipient } from '@mailer/contract';
import { v7 as uuidv7 } from 'uuid';
import { Ledger, firstUuidv7At } from '../src';
import { createTestDatabase, type TestDatabase } from './support/database';

const hasher = new RecipientHasher({ current: 'reputation-test-recipient-secret-0123456789' });
const DAY_MS = 24 * 60 * 60 * 1000;
let db: TestDatabase;
let ledger: Ledger;

beforeAll(async () => {
  db = await createTestDatabase({ migrated: true });
  ledger = new Ledger({ db: db.pool, hasher });
});

afterAll(async () => {
  await db.drop();
});

/** Records an email with a UUIDv7 id of `at` and, with a provider, moves it to `sent` through it. */
async function emailAt(at: Date, recipients: readonly string[], provider?: string): Promise<string> {
  const id = uuidv7({ msecs: at.getTime() });
  await ledger.recordAccepted([{ id, client: 'acme', acceptedAt: at, recipients }]);
  if (provider !== undefined) {
    expect(await ledger.claimAttempt({ id, attempt: 1, provider })).toEqual({ outcome: 'claimed' });
    expect(await ledger.recordSent({ id, attempt: 1, provider, providerMessageId: `m-${id}` })).toBe('advanced');
  }
  return id;
}

function recipient(address: string, outcome: ProviderEventRecipient['outcome'], hard = false): ProviderEventRecipient {
  return {
    hashes: hasher.candidates(address),
    masked: 'x***@example.org',
    outcome,
    ...(outcome === 'bounced' ? { bounceKind: hard ? ('hard' as const) : ('soft' as const) } : {}),
  };
}

async function report(emailId: string, recipients: ProviderEventRecipient[]): Promise<void> {
  const outcome = await ledger.applyProviderEvent({
    provider: 'ses',
    eventKey: `event-${uuidv7()}`,
    emailId,
    occurredAt: new Date(),
    recipients,
  });
  expect(outcome).toBe('applied');
}

describe('reputation', () => {
  it('when the first id of a time is asked for, then it sorts before every UUIDv7 of that millisecond and after the one before', () => {
    const at = new Date('2026-12-07T12:00:00.123Z');
    const first = firstUuidv7At(at);

    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7000-8000-000000000000$/);
    for (let i = 0; i < 50; i++) {
      expect(uuidv7({ msecs: at.getTime() }) >= first).toBe(true);
      expect(uuidv7({ msecs: at.getTime() - 1 }) < first).toBe(true);
    }
  });

  it("when providers sent emails of the window, then each one's recipients, hard bounces and complaints are counted, and older emails, unsent ones and soft bounces are not", async () => {
    const now = new Date();
    const hour = (h: number) => new Date(now.getTime() - h * 60 * 60 * 1000);
    const a = await emailAt(hour(1), ['a1@example.org', 'a2@example.org'], 'ses');
    const b = await emailAt(hour(2), ['b1@example.org'], 'ses');
    const c = await emailAt(hour(3), ['c1@example.org', 'c2@example.org', 'c3@example.org'], 'postmark');
    const old = await emailAt(hour(30), ['old@example.org'], 'ses');
    await emailAt(hour(1), ['queued@example.org']);
    await report(a, [recipient('a1@example.org', 'bounced', true), recipient('a2@example.org', 'delivered')]);
    await report(b, [recipient('b1@example.org', 'complained')]);
    await report(c, [recipient('c1@example.org', 'bounced', false), recipient('c2@example.org', 'delivered')]);
    await report(old, [recipient('old@example.org', 'bounced', true)]);

    expect(await ledger.reputation(DAY_MS, now)).toEqual([
      { provider: 'postmark', recipients: 3, hardBounced: 0, complained: 0 },
      { provider: 'ses', recipients: 3, hardBounced: 1, complained: 1 },
    ]);
    expect(await ledger.reputation(2.5 * 60 * 60 * 1000, now)).toEqual([
      { provider: 'ses', recipients: 3, hardBounced: 1, complained: 1 },
    ]);
  });
});
