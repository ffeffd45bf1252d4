import request from 'supertest';
import { drainQueue } from '@mailer/testkit';
import { useScratchLedger } from './support/ledger';
import { OTHER_KEY, TEST_KEY, startTestProducer, validEmail, type TestProducer } from './support/producer';

const scratch = useScratchLedger('status');
let producer: TestProducer;

beforeAll(async () => {
  producer = await startTestProducer('status', { ledger: scratch.current().adapter });
});

afterAll(async () => {
  await drainQueue(producer.topology.workQueue.name);
  await producer.close();
});

const as = (key: string) => ({ authorization: `Bearer ${key}` });
const get = (path: string, key = TEST_KEY) => request(producer.app).get(path).set(as(key));

async function accept(overrides: Parameters<typeof validEmail>[0] = {}): Promise<string> {
  const response = await request(producer.app).post('/v1/emails').set(as(TEST_KEY)).send(validEmail(overrides));
  expect(response.status).toBe(202);
  return String(response.body.id);
}

describe('GET /v1/emails/{id}', () => {
  it('when an email was just accepted, then its Location shows it queued, masked, with tags and metadata and no body', async () => {
    const email = validEmail({
      to: [{ email: 'jane@example.org', name: 'Jane' }],
      bcc: [{ email: 'audit@example.net' }],
      tags: { kind: 'receipt' },
      metadata: { order: 42, vip: true },
    });
    const accepted = await request(producer.app).post('/v1/emails').set(as(TEST_KEY)).send(email);

    const response = await get(String(accepted.headers['location']));

    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      id: accepted.body.id,
      status: 'queued',
      attempt: 0,
      accepted_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      updated_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      provider: null,
      provider_message_id: null,
      recipient_count: 2,
      recipients: [
        { address: 'j***@example.org', status: 'queued' },
        { address: 'a***@example.net', status: 'queued' },
      ],
      tags: { kind: 'receipt' },
      metadata: { order: 42, vip: true },
      in_doubt: false,
      attempts: [],
    });
    expect(JSON.stringify(response.body)).not.toContain(email.text);
  });

  it('when the consumer has tried it, then the tries show provider, outcome, error and ambiguity, and the provider id once sent', async () => {
    const id = await accept();
    const { ledger } = scratch.current();
    await ledger.claimAttempt({ id, attempt: 1, provider: 'ses' });
    await ledger.recordFailure({
      id,
      attempt: 1,
      provider: 'ses',
      kind: 'transient',
      error: 'timed out',
      ambiguous: true,
    });
    await ledger.claimAttempt({ id, attempt: 1, provider: 'postmark' });
    await ledger.recordSent({ id, attempt: 1, provider: 'postmark', providerMessageId: 'pm-123' });

    const response = await get(`/v1/emails/${id}`);

    expect(response.body).toMatchObject({
      status: 'sent',
      provider: 'postmark',
      provider_message_id: 'pm-123',
      // No provider has reported on the recipient yet: it shows sent.
      recipients: [{ address: 'j***@example.org', status: 'sent' }],
      attempts: [
        { attempt: 1, provider: 'ses', outcome: 'transient', error: 'timed out', ambiguous: true },
        {
          attempt: 1,
          provider: 'postmark',
          outcome: 'sent',
          error: null,
          ambiguous: false,
          provider_message_id: 'pm-123',
        },
      ],
    });
    expect(response.body.attempts[0].started_at).toEqual(expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/));
  });

  it('when another API key asks for an email, then 404 exactly as for an unknown id and a malformed one', async () => {
    const id = await accept();

    const theirs = await get(`/v1/emails/${id}`, OTHER_KEY);
    const unknown = await get('/v1/emails/0191f7a4-8c1e-7c4b-9a53-2f9d8d3e4b10', OTHER_KEY);
    const malformed = await get('/v1/emails/not-an-id', OTHER_KEY);

    expect(theirs.status).toBe(404);
    expect(theirs.body).toEqual({
      type: '/problems/not-found',
      title: 'Not found',
      status: 404,
      detail: 'No email with this id for this API key.',
    });
    for (const other of [unknown, malformed]) {
      expect(other.status).toBe(404);
      expect(other.body).toEqual(theirs.body);
      expect(other.headers['content-type']).toBe(theirs.headers['content-type']);
    }
  });

  it('when no API key is sent, then 401', async () => {
    expect((await request(producer.app).get('/v1/emails')).status).toBe(401);
  });
});

describe('GET /v1/emails', () => {
  it('when listed with a status filter and a small limit, then pages come newest first, linked by the cursor, to the end', async () => {
    // The other caller's emails, and this caller's parked one, must not show up in its queued list.
    await request(producer.app)
      .post('/v1/emails')
      .set(as(OTHER_KEY))
      .send(validEmail({ from: { email: 'billing@example.net' } }));
    const since = new Date().toISOString();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await accept({ subject: `page ${i}` }));
    const parked = await accept({ subject: 'parked' });
    const { ledger } = scratch.current();
    await ledger.claimAttempt({ id: parked, attempt: 1, provider: 'ses' });
    await ledger.recordFailure({
      id: parked,
      attempt: 1,
      provider: 'ses',
      kind: 'recipient-rejected',
      error: 'no',
      ambiguous: false,
      next: 'parked',
    });

    const seen: string[] = [];
    let path: string | undefined = `/v1/emails?status=queued&since=${encodeURIComponent(since)}&limit=2`;
    const pages: number[] = [];
    while (path !== undefined) {
      const response = await get(path);
      expect(response.status).toBe(200);
      pages.push(response.body.emails.length);
      for (const email of response.body.emails) {
        expect(email.status).toBe('queued');
        expect(email).not.toHaveProperty('attempts');
        seen.push(email.id);
      }
      const link = response.headers['link'];
      if (response.body.next_cursor === undefined) {
        expect(link).toBeUndefined();
        path = undefined;
      } else {
        expect(link).toBe(
          `<${'/v1/emails?status=queued&since=' + encodeURIComponent(since) + '&limit=2&cursor=' + encodeURIComponent(response.body.next_cursor)}>; rel="next"`,
        );
        path = /^<([^>]+)>; rel="next"$/.exec(link ?? '')?.[1];
      }
    }

    expect(pages).toEqual([2, 2, 1]);
    expect(seen).toEqual([...ids].reverse());
    const parkedList = await get('/v1/emails?status=parked');
    expect((parkedList.body as { emails: { id: string }[] }).emails.map((e) => e.id)).toEqual([parked]);
    process.stdout.write(`status list: pages of ${pages.join(', ')} for ${ids.length} queued emails\n`);
  });

  it('when the cursor is not one this API gave, or is another key’s, then 400 invalid-query names cursor', async () => {
    const first = await get('/v1/emails?limit=1');
    const theirs = await get(`/v1/emails?cursor=${encodeURIComponent(String(first.body.next_cursor))}`, OTHER_KEY);
    const forged = await get('/v1/emails?cursor=bm90LWEtY3Vyc29y');

    for (const response of [theirs, forged]) {
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ type: '/problems/invalid-query', errors: [{ parameter: 'cursor' }] });
    }
  });

  it('when cursor is empty, then the first page, as with no cursor', async () => {
    await accept();
    const withEmpty = await get('/v1/emails?limit=3&cursor=');
    const without = await get('/v1/emails?limit=3');

    expect(withEmpty.status).toBe(200);
    expect(withEmpty.body).toEqual(without.body);
  });

  it.each(['2026-02-31T00:00:00Z', '2026-04-31T08:00:00%2B02:00', '2026-01-01T24:00:00Z'])(
    'when since is %p, a date that does not exist, then 400 invalid-query names since',
    async (since) => {
      const response = await get(`/v1/emails?since=${since}`);

      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ type: '/problems/invalid-query', errors: [{ parameter: 'since' }] });
    },
  );

  it('when a parameter is unknown or malformed, then 400 invalid-query lists each', async () => {
    const response = await get('/v1/emails?status=lost&limit=500&colour=red');

    expect(response.status).toBe(400);
    expect((response.body as { errors: { parameter: string }[] }).errors.map((e) => e.parameter)).toEqual([
      'status',
      'limit',
      'colour',
    ]);
  });
});
