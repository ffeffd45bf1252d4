import { randomUUID } from 'node:crypto';
import { maskAddress, RecipientHasher } from '@mailer/contract';
import { Ledger, type AcceptedEmail } from '../src';
import { createTestDatabase, type TestDatabase } from './support/database';

const CURRENT = 'current-recipient-secret-0123456789abcdef';
const OLD = 'old-recipient-secret-0123456789abcdefghij';
const ANN = 'annabel.quartermaine@example.com';
const BOB = 'bartholomew.fitzgerald@example.org';
const CAT = 'catriona.vandersloot@example.net';

let db: TestDatabase;
let ledger: Ledger;
const hasher = new RecipientHasher({ current: CURRENT, previous: [OLD] });

beforeAll(async () => {
  db = await createTestDatabase({ migrated: true });
  ledger = new Ledger({ db: db.pool, hasher });
});

afterAll(async () => {
  await db.drop();
});

const keys = (address: string) => ({ hashes: hasher.candidates(address), masked: maskAddress(address) });

async function accepted(recipients: readonly string[] = [ANN, BOB], by: Ledger = ledger): Promise<string> {
  const e: AcceptedEmail = { id: randomUUID(), client: 'acme', acceptedAt: new Date(), recipients };
  await by.recordAccepted([e]);
  return e.id;
}

async function rowOf(id: string): Promise<{ state: string; attempt: number; outcomes: Record<string, string> }> {
  const email = await db.pool.query<{ state: string; attempt: number }>(
    'SELECT state, attempt FROM emails WHERE id = $1',
    [id],
  );
  const outcomes = await db.pool.query<{ masked: string; outcome: string }>(
    'SELECT masked, outcome FROM recipient_outcomes WHERE email_id = $1',
    [id],
  );
  const row = email.rows[0];
  if (row === undefined) throw new Error(`no email ${id}`);
  return { ...row, outcomes: Object.fromEntries(outcomes.rows.map((r) => [r.masked, r.outcome])) };
}

describe('Ledger.recordSuppressedAtSend', () => {
  it('when one recipient was not sent to, then it gets the outcome suppressed and the email keeps its state', async () => {
    const id = await accepted();
    expect(await ledger.claimAttempt({ id, attempt: 1, provider: 'postmark' })).toEqual({ outcome: 'claimed' });

    await expect(
      ledger.recordSuppressedAtSend({ id, attempt: 1, recipients: [keys(BOB)], entries: [], emailSuppressed: false }),
    ).resolves.toBe('advanced');

    expect(await rowOf(id)).toEqual({ state: 'sending', attempt: 1, outcomes: { [maskAddress(BOB)]: 'suppressed' } });
    // The summary leaves it out: the other recipient delivered makes the email delivered.
    await ledger.recordSent({ id, attempt: 1, provider: 'postmark', providerMessageId: 'pm-1' });
    await ledger.applyProviderEvent({
      provider: 'postmark',
      eventKey: `delivery-${id}`,
      emailId: id,
      occurredAt: new Date(),
      recipients: [{ ...keys(ANN), outcome: 'delivered' }],
    });
    expect((await rowOf(id)).state).toBe('delivered');
  });

  it('when no recipient is left, then the email becomes suppressed, with the entries added to the list', async () => {
    const id = await accepted();
    const entries = [BOB].map((address) => ({
      ...keys(address),
      reason: 'recipient-rejected' as const,
      note: 'postmark 406 inactive recipient',
      createdBy: 'provider',
      source: { emailId: id, provider: 'postmark' },
    }));

    await expect(
      ledger.recordSuppressedAtSend({
        id,
        attempt: 1,
        recipients: [keys(ANN), keys(BOB)],
        entries,
        emailSuppressed: true,
      }),
    ).resolves.toBe('advanced');

    expect(await rowOf(id)).toEqual({
      state: 'suppressed',
      attempt: 1,
      outcomes: { [maskAddress(ANN)]: 'suppressed', [maskAddress(BOB)]: 'suppressed' },
    });
    expect(await ledger.findSuppression(hasher.candidates(BOB))).toMatchObject({
      reason: 'recipient-rejected',
      source: { emailId: id, provider: 'postmark' },
      createdBy: 'provider',
    });
    // Again: nothing more changes, and a redelivered message then finds the attempt superseded.
    await expect(
      ledger.recordSuppressedAtSend({ id, attempt: 1, recipients: [keys(ANN)], entries, emailSuppressed: true }),
    ).resolves.toBe('stale');
    expect(await ledger.claimAttempt({ id, attempt: 1, provider: 'postmark' })).toMatchObject({
      outcome: 'superseded',
    });
  });

  it('when the email was sent before, then nothing changes', async () => {
    // Not a recipient the tests above put on the list (intake would mark it suppressed).
    const id = await accepted([ANN, CAT]);
    await ledger.claimAttempt({ id, attempt: 1, provider: 'smtp' });
    await ledger.recordSent({ id, attempt: 1, provider: 'smtp', providerMessageId: null });

    await expect(
      ledger.recordSuppressedAtSend({
        id,
        attempt: 2,
        recipients: [keys(ANN), keys(CAT)],
        entries: [],
        emailSuppressed: true,
      }),
    ).resolves.toBe('stale');

    expect(await rowOf(id)).toEqual({ state: 'sent', attempt: 1, outcomes: {} });
  });

  it('when the email is unknown, then the answer says so and nothing is written', async () => {
    await expect(
      ledger.recordSuppressedAtSend({
        id: randomUUID(),
        attempt: 1,
        recipients: [keys(ANN)],
        entries: [],
        emailSuppressed: true,
      }),
    ).resolves.toBe('unknown');
  });

  it('when the email was recorded under an earlier secret, then the outcome is kept under the key it recorded', async () => {
    const old = new Ledger({ db: db.pool, hasher: new RecipientHasher({ current: OLD }) });
    const id = await accepted([ANN], old);

    await ledger.recordSuppressedAtSend({
      id,
      attempt: 1,
      recipients: [keys(ANN)],
      entries: [],
      emailSuppressed: true,
    });

    const { rows } = await db.pool.query<{ recipient_hash: Buffer }>(
      'SELECT recipient_hash FROM recipient_outcomes WHERE email_id = $1',
      [id],
    );
    expect(rows.map((r) => r.recipient_hash.toString('hex'))).toEqual([hasher.candidates(ANN)[1]?.toString('hex')]);
  });
});
