import { randomUUID } from 'node:crypto';
import { InvalidCursorError, type EmailSummary } from '../src';
import { useMigratedLedger } from './support/database';

const fixture = useMigratedLedger();

describe('getEmail', () => {
  test('when the owner reads an email, then it gets state, masked recipients, tags and metadata, never full addresses', async () => {
    const id = randomUUID();
    const acceptedAt = new Date('2026-01-02T03:04:05.678Z');
    await fixture.ledger.recordAccepted([
      {
        id,
        client: 'acme',
        acceptedAt,
        recipients: ['jane.doe@example.com', 'bob@example.org'],
        tags: { kind: 'receipt' },
        metadata: { order: 42, gift: false },
      },
    ]);
    expect(await fixture.ledger.getEmail('acme', id)).toEqual({
      id,
      state: 'queued',
      attempt: 0,
      acceptedAt,
      updatedAt: expect.any(Date),
      provider: null,
      providerMessageId: null,
      recipientCount: 2,
      recipients: ['j***@example.com', 'b***@example.org'],
      tags: { kind: 'receipt' },
      metadata: { order: 42, gift: false },
      inDoubt: false,
      attempts: [],
      // No outcome yet: each shows the email's state.
      recipientOutcomes: [
        { address: 'j***@example.com', status: 'queued' },
        { address: 'b***@example.org', status: 'queued' },
      ],
    });
  });

  test('when another client asks for an email, then it gets null, the same answer as for an unknown id', async () => {
    const id = randomUUID();
    await fixture.ledger.recordAccepted([
      { id, client: 'acme', acceptedAt: new Date(), recipients: ['a@example.com'] },
    ]);
    expect(await fixture.ledger.getEmail('globex', id)).toBeNull();
    expect(await fixture.ledger.getEmail('acme', randomUUID())).toBeNull();
    expect(await fixture.ledger.getEmail('acme', 'not-a-uuid')).toBeNull();
  });
});

describe('attemptOf', () => {
  test("when a replay asks for an email's attempt, then it gets the attempt getEmail shows, and undefined where getEmail gives null", async () => {
    const id = randomUUID();
    await fixture.ledger.recordAccepted([
      { id, client: 'acme', acceptedAt: new Date(), recipients: ['a@example.com'] },
    ]);
    expect(await fixture.ledger.attemptOf('acme', id)).toBe(0);
    await fixture.ledger.claimAttempt({ id, attempt: 3, provider: 'smtp' });
    expect(await fixture.ledger.attemptOf('acme', id)).toBe(3);
    expect((await fixture.ledger.getEmail('acme', id))?.attempt).toBe(3);
    expect(await fixture.ledger.attemptOf('globex', id)).toBeUndefined();
    expect(await fixture.ledger.attemptOf('acme', randomUUID())).toBeUndefined();
    expect(await fixture.ledger.attemptOf('acme', 'not-a-uuid')).toBeUndefined();
  });
});

describe('listEmails', () => {
  const client = `lister-${randomUUID()}`;
  const base = Date.parse('2026-03-01T00:00:00Z');
  const ids: string[] = [];

  beforeAll(async () => {
    // 25 emails a second apart, two of them recorded in the same millisecond (the id breaks the tie).
    const emails = Array.from({ length: 25 }, (_, k) => ({
      id: randomUUID(),
      client,
      acceptedAt: new Date(base + Math.min(k, 23) * 1000),
      recipients: ['x@example.com'],
    }));
    await fixture.ledger.recordAccepted(emails);
    ids.push(...emails.map((e) => e.id));
    await fixture.ledger.recordAccepted([
      { id: randomUUID(), client: 'someone-else', acceptedAt: new Date(base), recipients: [] },
    ]);
    for (const id of ids.slice(0, 3)) {
      await fixture.ledger.claimAttempt({ id, attempt: 1, provider: 'ses' });
      await fixture.ledger.recordFailure({
        id,
        attempt: 1,
        provider: 'ses',
        kind: 'recipient-rejected',
        error: '550',
        ambiguous: false,
        next: 'parked',
      });
    }
  });

  async function everyPage(query: { status?: 'parked'; since?: Date; limit: number }): Promise<EmailSummary[][]> {
    const pages: EmailSummary[][] = [];
    let cursor: string | undefined;
    do {
      const page = await fixture.ledger.listEmails(client, { ...query, ...(cursor === undefined ? {} : { cursor }) });
      pages.push([...page.emails]);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return pages;
  }

  test('when a client pages through its emails, then it sees each of its own once, newest first', async () => {
    const pages = await everyPage({ limit: 10 });
    expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
    const seen = pages.flat();
    expect(new Set(seen.map((e) => e.id))).toEqual(new Set(ids));
    const order = seen.map((e) => [e.acceptedAt.getTime(), e.id] as const);
    const sorted = [...order].sort((a, b) => b[0] - a[0] || (a[1] < b[1] ? 1 : -1));
    expect(order).toEqual(sorted);
  });

  test('when emails are added between pages, then the next page neither repeats nor skips the older ones', async () => {
    const first = await fixture.ledger.listEmails(client, { limit: 5 });
    await fixture.ledger.recordAccepted([
      { id: randomUUID(), client, acceptedAt: new Date(base + 3_600_000), recipients: [] },
    ]);
    const second = await fixture.ledger.listEmails(client, { limit: 5, cursor: first.nextCursor! });
    const all = [...first.emails, ...second.emails].map((e) => e.id);
    expect(new Set(all).size).toBe(10);
    expect(second.emails[0]!.acceptedAt.getTime()).toBeLessThanOrEqual(first.emails[4]!.acceptedAt.getTime());
  });

  test('when filtered by status and since, then only those match', async () => {
    const parked = (await everyPage({ status: 'parked', limit: 2 })).flat();
    expect(new Set(parked.map((e) => e.id))).toEqual(new Set(ids.slice(0, 3)));
    const recent = (await everyPage({ since: new Date(base + 20_000), limit: 100 })).flat();
    expect(recent.every((e) => e.acceptedAt.getTime() >= base + 20_000)).toBe(true);
    expect(recent.length).toBeGreaterThanOrEqual(5);
  });

  test('when a cursor is not one the API gave this client, then it is refused', async () => {
    const page = await fixture.ledger.listEmails(client, { limit: 1 });
    await expect(fixture.ledger.listEmails('someone-else', { cursor: page.nextCursor! })).rejects.toThrow(
      InvalidCursorError,
    );
    await expect(fixture.ledger.listEmails(client, { cursor: 'garbage' })).rejects.toThrow(InvalidCursorError);
    await expect(fixture.ledger.listEmails(client, { limit: 0 })).rejects.toThrow(RangeError);
  });
});

describe('discardUnpublished', () => {
  test('when emails were recorded and their publish failed, then those no consumer touched are forgotten and the rest kept', async () => {
    const [untouched, claimed, other] = [randomUUID(), randomUUID(), randomUUID()];
    const acceptedAt = new Date();
    await fixture.ledger.recordAccepted(
      [untouched, claimed, other].map((id) => ({ id, client: 'acme', acceptedAt, recipients: ['a@example.com'] })),
    );
    expect(await fixture.ledger.claimAttempt({ id: claimed, attempt: 1, provider: 'smtp' })).toEqual({
      outcome: 'claimed',
    });

    expect(await fixture.ledger.discardUnpublished([untouched, claimed, randomUUID()])).toBe(1);

    expect(await fixture.ledger.getEmail('acme', untouched)).toBeNull();
    expect(await fixture.ledger.getEmail('acme', claimed)).toMatchObject({ state: 'sending' });
    expect(await fixture.ledger.getEmail('acme', other)).toMatchObject({ state: 'queued' });
    expect(await fixture.ledger.discardUnpublished([])).toBe(0);
  });
});
