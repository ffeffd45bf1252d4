import { randomUUID } from 'node:crypto';
import { useMigratedLedger } from './support/database';

const fixture = useMigratedLedger();
const HOUR = 3_600_000;

/** Records an email accepted `ageMs` ago, as the producer does before publishing. */
async function queuedAgo(ageMs: number, client = 'acme'): Promise<string> {
  const id = randomUUID();
  await fixture.ledger.recordAccepted([
    { id, client, acceptedAt: new Date(Date.now() - ageMs), recipients: ['jane@example.com'] },
  ]);
  return id;
}

async function stateOf(id: string, client = 'acme'): Promise<string | undefined> {
  return (await fixture.ledger.getEmail(client, id))?.state;
}

describe('abandonStaleQueued', () => {
  test('when an email is still queued with no try past the bound, then it becomes abandoned; younger or touched ones stay', async () => {
    const stale = await queuedAgo(2 * HOUR);
    const otherClients = await queuedAgo(2 * HOUR, 'globex');
    const young = await queuedAgo(10 * 60_000);
    const claimed = await queuedAgo(2 * HOUR);
    await fixture.ledger.claimAttempt({ id: claimed, attempt: 1, provider: 'smtp' });

    expect(await fixture.ledger.abandonStaleQueued(HOUR)).toBeGreaterThanOrEqual(2);

    expect(await stateOf(stale)).toBe('abandoned');
    expect(await stateOf(otherClients, 'globex')).toBe('abandoned');
    expect(await stateOf(young)).toBe('queued');
    expect(await stateOf(claimed)).toBe('sending');
    expect((await fixture.ledger.listEmails('acme', { status: 'abandoned' })).emails.map((e) => e.id)).toContain(stale);
  });

  test('when an abandoned email was on the queue after all, then its claim moves it on and it is sent', async () => {
    const id = await queuedAgo(2 * HOUR);
    await fixture.ledger.abandonStaleQueued(HOUR);
    expect(await stateOf(id)).toBe('abandoned');

    expect(await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'smtp' })).toEqual({ outcome: 'claimed' });
    expect(await fixture.ledger.recordSent({ id, attempt: 1, provider: 'smtp', providerMessageId: 'm-1' })).toBe(
      'advanced',
    );
    expect(await stateOf(id)).toBe('sent');
  });

  test('when more than the limit are due, then one call moves at most the limit, oldest first', async () => {
    const oldest = await queuedAgo(5 * HOUR);
    const older = await queuedAgo(4 * HOUR);
    const old = await queuedAgo(3 * HOUR);
    // The tests before left nothing older than 3.5 h.
    expect(await fixture.ledger.abandonStaleQueued(3.5 * HOUR, 1)).toBe(1);
    expect(await stateOf(oldest)).toBe('abandoned');
    expect(await stateOf(older)).toBe('queued');
    expect(await fixture.ledger.abandonStaleQueued(3.5 * HOUR, 1)).toBe(1);
    expect(await fixture.ledger.abandonStaleQueued(3.5 * HOUR, 1)).toBe(0);
    expect(await stateOf(older)).toBe('abandoned');
    expect(await stateOf(old)).toBe('queued');
  });
});
