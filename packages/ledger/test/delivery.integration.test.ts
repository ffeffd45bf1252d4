import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { advances, EMAIL_STATES, settle, type Progress } from '../src';
import { useMigratedLedger } from './support/database';

const fixture = useMigratedLedger();

async function queued(): Promise<string> {
  const id = randomUUID();
  await fixture.ledger.recordAccepted([
    { id, client: 'acme', acceptedAt: new Date(), recipients: ['jane@example.com'] },
  ]);
  return id;
}

async function stateOf(id: string) {
  const email = await fixture.ledger.getEmail('acme', id);
  if (email === null) throw new Error(`no email ${id}`);
  return email;
}

describe('claims', () => {
  test('when an email is claimed and sent, then it is sent with the provider message id, and a redelivery is already-sent', async () => {
    const id = await queued();
    expect(await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'ses' })).toEqual({ outcome: 'claimed' });
    expect((await stateOf(id)).state).toBe('sending');
    expect(await fixture.ledger.recordSent({ id, attempt: 1, provider: 'ses', providerMessageId: 'ses-1' })).toBe(
      'advanced',
    );
    const email = await stateOf(id);
    expect(email).toMatchObject({
      state: 'sent',
      attempt: 1,
      provider: 'ses',
      providerMessageId: 'ses-1',
      inDoubt: false,
    });
    expect(email.attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        provider: 'ses',
        outcome: 'sent',
        providerMessageId: 'ses-1',
        ambiguous: false,
      }),
    ]);
    expect(await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'ses' })).toEqual({
      outcome: 'already-sent',
      provider: 'ses',
      providerMessageId: 'ses-1',
    });
  });

  test('when the last try was claimed and never finished, then a redelivery is in doubt and the try is marked ambiguous', async () => {
    const id = await queued();
    await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'smtp' });
    // The worker died here. The redelivered message is claimed again:
    const again = await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'smtp' });
    expect(again).toMatchObject({ outcome: 'in-doubt', attempt: 1, provider: 'smtp' });
    const email = await stateOf(id);
    expect(email.inDoubt).toBe(true);
    expect(email.attempts).toEqual([expect.objectContaining({ outcome: 'in-doubt', ambiguous: true })]);
    expect((await fixture.ledger.listEmails('acme', { inDoubt: true })).emails.map((e) => e.id)).toContain(id);
  });

  test('when a claim is made again with its token (its answer was lost), then it is still claimed: one try, not in doubt', async () => {
    const id = await queued();
    const token = randomUUID();
    await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'smtp', token });
    // The commit happened, the answer never came; nothing was sent. The same claim again:
    expect(await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'smtp', token })).toEqual({
      outcome: 'claimed',
    });
    await fixture.ledger.recordSent({ id, attempt: 1, provider: 'smtp', providerMessageId: '<m@x>' });
    const email = await stateOf(id);
    expect(email).toMatchObject({ state: 'sent', inDoubt: false });
    expect(email.attempts.map((a) => [a.outcome, a.ambiguous])).toEqual([['sent', false]]);
  });

  test('when an open try is claimed with another token or none, then it is in doubt as before', async () => {
    const [first, second] = [await queued(), await queued()];
    await fixture.ledger.claimAttempt({ id: first, attempt: 1, provider: 'smtp', token: randomUUID() });
    await fixture.ledger.claimAttempt({ id: second, attempt: 1, provider: 'smtp', token: randomUUID() });

    const answers = await Promise.all([
      fixture.ledger.claimAttempt({ id: first, attempt: 1, provider: 'smtp', token: randomUUID() }),
      fixture.ledger.claimAttempt({ id: second, attempt: 1, provider: 'smtp' }),
    ]);
    expect(answers.map((answer) => answer.outcome)).toEqual(['in-doubt', 'in-doubt']);
  });

  test('when an in-doubt email is sent again by policy, then the second claim succeeds and the history keeps both tries', async () => {
    const id = await queued();
    await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'smtp' });
    expect((await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'smtp' })).outcome).toBe('in-doubt');
    expect(await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'smtp' })).toEqual({ outcome: 'claimed' });
    await fixture.ledger.recordSent({ id, attempt: 1, provider: 'smtp', providerMessageId: '<m@x>' });
    const email = await stateOf(id);
    expect(email.state).toBe('sent');
    expect(email.attempts.map((a) => [a.outcome, a.ambiguous])).toEqual([
      ['in-doubt', true],
      ['sent', false],
    ]);
  });

  test('when an in-doubt email is parked by policy, then it is parked as in-doubt for an operator', async () => {
    const id = await queued();
    await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'smtp' });
    await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'smtp' });
    expect(
      await fixture.ledger.recordFailure({
        id,
        attempt: 1,
        provider: 'smtp',
        kind: 'in-doubt',
        error: 'in doubt',
        ambiguous: true,
        next: 'parked',
      }),
    ).toBe('advanced');
    expect(await stateOf(id)).toMatchObject({ state: 'parked', inDoubt: true });
    const parked = await fixture.ledger.listEmails('acme', { status: 'parked', inDoubt: true });
    expect(parked.emails.map((e) => e.id)).toContain(id);
  });

  test('when a try that was declared in doubt reports sent after all, then the email is sent and the try stays ambiguous', async () => {
    const id = await queued();
    await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'postmark' });
    await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'postmark' });
    expect(await fixture.ledger.recordSent({ id, attempt: 1, provider: 'postmark', providerMessageId: 'pm-1' })).toBe(
      'advanced',
    );
    const email = await stateOf(id);
    expect(email.state).toBe('sent');
    expect(email.attempts).toEqual([expect.objectContaining({ outcome: 'sent', ambiguous: true })]);
  });

  test('when a provider fails and the consumer fails over within the attempt, then both tries are recorded and the second sends', async () => {
    const id = await queued();
    await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'ses' });
    expect(
      await fixture.ledger.recordFailure({
        id,
        attempt: 1,
        provider: 'ses',
        kind: 'transient',
        error: '503',
        ambiguous: false,
      }),
    ).toBe('advanced');
    expect(await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'postmark' })).toEqual({ outcome: 'claimed' });
    await fixture.ledger.recordSent({ id, attempt: 1, provider: 'postmark', providerMessageId: 'pm-2' });
    const email = await stateOf(id);
    expect(email.attempts.map((a) => [a.provider, a.outcome, a.error])).toEqual([
      ['ses', 'transient', '503'],
      ['postmark', 'sent', null],
    ]);
  });

  test('when every provider failed and a retry was scheduled, then a redelivered copy of that attempt is superseded', async () => {
    const id = await queued();
    await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'ses' });
    await fixture.ledger.recordFailure({
      id,
      attempt: 1,
      provider: 'ses',
      kind: 'transient',
      error: 'timeout',
      ambiguous: true,
      next: 'retrying',
    });
    expect(await stateOf(id)).toMatchObject({ state: 'retrying', attempt: 1 });
    expect(await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'ses' })).toEqual({
      outcome: 'superseded',
      state: 'retrying',
      attempt: 1,
    });
    expect(await fixture.ledger.claimAttempt({ id, attempt: 2, provider: 'ses' })).toEqual({ outcome: 'claimed' });
    expect(await stateOf(id)).toMatchObject({ state: 'sending', attempt: 2 });
  });

  test('when a failure report quotes full addresses, then the attempts table holds them masked (whoever wrote the report)', async () => {
    const id = await queued();
    await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'smtp' });
    await fixture.ledger.recordFailure({
      id,
      attempt: 1,
      provider: 'smtp',
      kind: 'recipient-rejected',
      error: 'smtp: 550 5.1.1 <jane@example.com>: Recipient address rejected; "bcc person"@example.net: unknown',
      ambiguous: false,
      next: 'parked',
    });
    const { rows } = await fixture.db.pool.query<{ error: string }>('SELECT error FROM attempts WHERE email_id = $1', [
      id,
    ]);
    expect(rows).toEqual([
      { error: 'smtp: 550 5.1.1 <j***@example.com>: Recipient address rejected; "***@example.net: unknown' },
    ]);
  });

  test('when a claim named no provider, then the report naming one finishes that try', async () => {
    const id = await queued();
    await fixture.ledger.claimAttempt({ id, attempt: 1 });
    await fixture.ledger.recordSent({ id, attempt: 1, provider: 'smtp', providerMessageId: '<a@b>' });
    const email = await stateOf(id);
    expect(email.attempts).toEqual([expect.objectContaining({ provider: 'smtp', outcome: 'sent' })]);
  });

  test('when one batch mixes every answer, then each caller gets the answer it would get alone (the set-based path and the loop together)', async () => {
    const sent = await queued();
    await fixture.ledger.claimAttempt({ id: sent, attempt: 1, provider: 'ses' });
    await fixture.ledger.recordSent({ id: sent, attempt: 1, provider: 'ses', providerMessageId: 'ses-9' });
    const parked = await queued();
    await fixture.ledger.claimAttempt({ id: parked, attempt: 1, provider: 'ses' });
    await fixture.ledger.recordFailure({
      id: parked,
      attempt: 1,
      provider: 'ses',
      kind: 'recipient-rejected',
      error: '550',
      ambiguous: false,
      next: 'parked',
    });
    const open = await queued();
    await fixture.ledger.claimAttempt({ id: open, attempt: 1, provider: 'smtp' });
    const twice = await queued();
    const fresh = await Promise.all(Array.from({ length: 6 }, () => queued()));
    const unknown = randomUUID();

    // Made in one turn of the event loop: one statement of 11 requests.
    const claims = await Promise.all([
      ...fresh.map((id) => fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'ses' })),
      fixture.ledger.claimAttempt({ id: sent, attempt: 1, provider: 'ses' }),
      fixture.ledger.claimAttempt({ id: parked, attempt: 1, provider: 'ses' }),
      fixture.ledger.claimAttempt({ id: open, attempt: 1, provider: 'smtp' }),
      fixture.ledger.claimAttempt({ id: unknown, attempt: 1, provider: 'ses' }),
      fixture.ledger.claimAttempt({ id: twice, attempt: 1, provider: 'ses' }),
      fixture.ledger.claimAttempt({ id: twice, attempt: 1, provider: 'ses' }),
    ]);
    expect(claims.slice(0, 6)).toEqual(fresh.map(() => ({ outcome: 'claimed' })));
    expect(claims.slice(6)).toEqual([
      { outcome: 'already-sent', provider: 'ses', providerMessageId: 'ses-9' },
      { outcome: 'superseded', state: 'parked', attempt: 1 },
      { outcome: 'in-doubt', attempt: 1, provider: 'smtp', startedAt: expect.any(Date) },
      { outcome: 'unknown' },
      // The second request for one email in one batch finds the first one's try open.
      { outcome: 'claimed' },
      { outcome: 'in-doubt', attempt: 1, provider: 'ses', startedAt: expect.any(Date) },
    ]);
    for (const id of fresh) expect(await stateOf(id)).toMatchObject({ state: 'sending', attempt: 1 });

    const finishes = await Promise.all([
      ...fresh.map((id, k) =>
        fixture.ledger.recordSent({ id, attempt: 1, provider: 'ses', providerMessageId: `ses-${k}` }),
      ),
      // A late failure for a sent email: recorded, the state kept.
      fixture.ledger.recordFailure({
        id: sent,
        attempt: 1,
        provider: 'ses',
        kind: 'transient',
        error: 'late',
        ambiguous: false,
        next: 'retrying',
      }),
      fixture.ledger.recordSent({ id: unknown, attempt: 1, provider: 'ses', providerMessageId: null }),
      fixture.ledger.recordFailure({
        id: twice,
        attempt: 1,
        provider: 'ses',
        kind: 'transient',
        error: 'a',
        ambiguous: false,
      }),
      fixture.ledger.recordSent({ id: twice, attempt: 1, provider: 'ses', providerMessageId: 'ses-twice' }),
    ]);
    expect(finishes).toEqual([...fresh.map(() => 'advanced'), 'stale', 'unknown', 'advanced', 'advanced']);
    for (const [k, id] of fresh.entries()) {
      const email = await stateOf(id);
      expect(email).toMatchObject({ state: 'sent', providerMessageId: `ses-${k}` });
      expect(email.attempts).toEqual([expect.objectContaining({ outcome: 'sent', providerMessageId: `ses-${k}` })]);
    }
    expect(await stateOf(sent)).toMatchObject({ state: 'sent', providerMessageId: 'ses-9' });
    expect((await stateOf(sent)).attempts.map((t) => t.outcome)).toEqual(['sent', 'transient']);
    const both = await stateOf(twice);
    expect(both).toMatchObject({ state: 'sent', providerMessageId: 'ses-twice', inDoubt: true });
    expect(both.attempts.map((t) => t.outcome)).toEqual(['transient', 'sent']);
  });

  test('when a report comes again (its first commit happened but the answer was lost), then it adds no second try', async () => {
    const id = await queued();
    await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'ses' });
    const sent = { id, attempt: 1, provider: 'ses', providerMessageId: 'ses-1' };
    expect(await fixture.ledger.recordSent(sent)).toBe('advanced');
    expect(await fixture.ledger.recordSent(sent)).toBe('stale');
    // The same in a batch big enough for the set-based path.
    const more = await Promise.all(Array.from({ length: 8 }, () => queued()));
    await Promise.all(more.map((m) => fixture.ledger.claimAttempt({ id: m, attempt: 1, provider: 'ses' })));
    await Promise.all(more.map((m) => fixture.ledger.recordSent({ ...sent, id: m })));
    expect(await Promise.all(more.map((m) => fixture.ledger.recordSent({ ...sent, id: m })))).toEqual(
      more.map(() => 'stale'),
    );
    for (const email of [id, ...more]) {
      expect((await stateOf(email)).attempts.map((t) => t.outcome)).toEqual(['sent']);
    }
  });

  test('when the email is not in the ledger, then the claim says unknown', async () => {
    expect(await fixture.ledger.claimAttempt({ id: randomUUID(), attempt: 1 })).toEqual({ outcome: 'unknown' });
    expect(
      await fixture.ledger.recordSent({ id: randomUUID(), attempt: 1, provider: 'ses', providerMessageId: null }),
    ).toBe('unknown');
  });
});

describe('state never moves backwards', () => {
  const update = fc.record({
    // The states a consumer's reports lead to (queued, suppressed and abandoned are set elsewhere,
    // and those past sent by providers' feedback: feedback.integration.test.ts).
    state: fc.constantFrom(
      ...EMAIL_STATES.filter(
        (s) => !['queued', 'suppressed', 'abandoned', 'delivered', 'bounced', 'complained'].includes(s),
      ),
    ),
    attempt: fc.integer({ min: 1, max: 4 }),
  });

  async function apply(id: string, u: Progress): Promise<void> {
    if (u.state === 'sending') {
      // An older try still open makes the claim in doubt; the default policy claims again and sends.
      const claim = await fixture.ledger.claimAttempt({ id, attempt: u.attempt, provider: 'ses' });
      if (claim.outcome === 'in-doubt') await fixture.ledger.claimAttempt({ id, attempt: u.attempt, provider: 'ses' });
    } else if (u.state === 'sent')
      await fixture.ledger.recordSent({ id, attempt: u.attempt, provider: 'ses', providerMessageId: `m${u.attempt}` });
    else {
      await fixture.ledger.recordFailure({
        id,
        attempt: u.attempt,
        provider: 'ses',
        kind: 'transient',
        error: 'e',
        ambiguous: false,
        next: u.state === 'parked' ? 'parked' : 'retrying',
      });
    }
  }

  test('when updates arrive shuffled one by one, then the state is the greatest of them', async () => {
    const updatesAndShuffle = fc
      .array(update, { minLength: 1, maxLength: 8 })
      .chain((updates) => fc.tuple(fc.constant(updates), fc.shuffledSubarray(updates, { minLength: updates.length })));
    await fc.assert(
      fc.asyncProperty(updatesAndShuffle, async ([updates, shuffled]) => {
        const id = await queued();
        for (const u of shuffled) await apply(id, u);
        const email = await stateOf(id);
        expect({ state: email.state, attempt: email.attempt }).toEqual(settle(updates));
      }),
      {
        numRuns: 60,
        examples: [
          [
            [
              [
                { state: 'sending', attempt: 1 },
                { state: 'sending', attempt: 2 },
              ],
              [
                { state: 'sending', attempt: 1 },
                { state: 'sending', attempt: 2 },
              ],
            ],
          ],
        ],
      },
    );
  });

  test('when updates race each other in concurrent batches, then the state is never behind a reported outcome', async () => {
    // Racing claims of one email (duplicate deliveries) may leave a claim in doubt rather than
    // sending: the state then stays at or behind the greatest update, but never behind a report.
    await fc.assert(
      fc.asyncProperty(fc.array(update, { minLength: 1, maxLength: 8 }), async (updates) => {
        const id = await queued();
        await Promise.all(updates.map((u) => apply(id, u)));
        const email = await stateOf(id);
        const final = { state: email.state, attempt: email.attempt };
        expect(advances(final, settle(updates.filter((u) => u.state !== 'sending')))).toBe(false);
        expect(advances(settle(updates), final)).toBe(false);
      }),
      { numRuns: 60 },
    );
  });
});
