import request from 'supertest';
import { RecipientHasher, maskAddress } from '@mailer/contract';
import { Ledger, createPool } from '@mailer/ledger';
import { TEST_RECIPIENT_HASH_SECRET, drainQueue } from '@mailer/testkit';
import { LedgerAdapter } from '../src/ledger/ledger-adapter';
import { SuppressionAdapter } from '../src/ledger/suppression-adapter';
import { testKeyTimes, useScratchLedger } from './support/ledger';
import {
  ADMIN_KEY,
  LIST_KEY,
  TEST_KEY,
  scopedApiKeys,
  startTestProducer,
  validEmail,
  type TestProducer,
} from './support/producer';

const scratch = useScratchLedger('suppressions');
const hasher = new RecipientHasher({ current: TEST_RECIPIENT_HASH_SECRET });
let ledger: Ledger;
let producer: TestProducer;

beforeAll(async () => {
  ledger = new Ledger({ db: scratch.current().pool, hasher });
  producer = await startTestProducer('suppressions', {
    apiKeys: scopedApiKeys,
    ledger: new LedgerAdapter(ledger, testKeyTimes),
    suppressions: { suppressions: new SuppressionAdapter(ledger), hasher },
  });
});

afterAll(async () => {
  await drainQueue(producer.topology.workQueue.name);
  await producer.close();
});

const as = (key: string) => ({ authorization: `Bearer ${key}` });
const lookup = (address: string, key = LIST_KEY) =>
  request(producer.app).get('/v1/suppressions').query({ email: address }).set(as(key));
const add = (body: object, key = LIST_KEY) => request(producer.app).post('/v1/suppressions').set(as(key)).send(body);
const remove = (query: Record<string, string>, key = LIST_KEY) =>
  request(producer.app).delete('/v1/suppressions').query(query).set(as(key));

/** Every text column of the list and its history, to show that no full address was kept. */
async function storedText(): Promise<string> {
  const rows = await scratch.current().rows(
    `SELECT s.masked, s.note, s.created_by FROM suppressions AS s
       UNION ALL SELECT h.masked, h.note, h.done_by FROM suppression_history AS h`,
  );
  return JSON.stringify(rows);
}

describe('API key scopes', () => {
  it('when a key written without scopes sends, then it is accepted as before, and it may read its emails', async () => {
    const sent = await request(producer.app).post('/v1/emails').set(as(TEST_KEY)).send(validEmail());
    expect(sent.status).toBe(202);
    const read = await request(producer.app).get(String(sent.headers['location'])).set(as(TEST_KEY));
    expect(read.status).toBe(200);
  });

  it.each([
    ['GET', () => lookup('a@example.org', TEST_KEY)],
    ['POST', () => add({ email: 'a@example.org' }, TEST_KEY)],
    ['DELETE', () => remove({ email: 'a@example.org' }, TEST_KEY)],
  ])(
    'when a sending key (no scopes given) calls %s /v1/suppressions, then 403 names the missing scope',
    async (_m, call) => {
      const response = await call();
      expect(response.status).toBe(403);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.body).toMatchObject({ type: '/problems/insufficient-scope', status: 403, scope: 'suppressions' });
    },
  );

  it('when a key with only the suppressions scope sends or reads emails, then 403 names send or read', async () => {
    const sent = await request(producer.app).post('/v1/emails').set(as(LIST_KEY)).send(validEmail());
    expect(sent.status).toBe(403);
    expect(sent.body).toMatchObject({ type: '/problems/insufficient-scope', scope: 'send' });
    const read = await request(producer.app).get('/v1/emails').set(as(LIST_KEY));
    expect(read.status).toBe(403);
    expect(read.body).toMatchObject({ type: '/problems/insufficient-scope', scope: 'read' });
  });

  it('when no key or an unknown key is sent, then 401 comes before any scope', async () => {
    const none = await request(producer.app).get('/v1/suppressions');
    expect(none.status).toBe(401);
    expect((await lookup('a@example.org', 'no-such-key')).status).toBe(401);
  });

  it('when a key with every scope is used, then it sends and manages the list', async () => {
    expect((await request(producer.app).post('/v1/emails').set(as(ADMIN_KEY)).send(validEmail())).status).toBe(202);
    expect((await lookup('nobody-admin@example.org', ADMIN_KEY)).status).toBe(404);
  });
});

describe('POST, GET and DELETE /v1/suppressions', () => {
  it('when an address is added, checked, added again and removed, then each answer says so and the full address is kept nowhere', async () => {
    const added = await add({ email: 'Jane.Doe@Example.org', note: 'asked by phone' });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({
      address: 'J***@Example.org',
      reason: 'manual',
      created_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      expires_at: null,
      note: 'asked by phone',
      created_by: 'lists',
      source: null,
    });

    // The same recipient in another case is the same key: found, and added once.
    const found = await lookup('jane.doe@example.org');
    expect(found.status).toBe(200);
    expect(found.body).toEqual(added.body);
    const again = await add({ email: 'jane.doe@example.org' });
    expect(again.status).toBe(200);
    expect(again.body.created_at).toBe(added.body.created_at);

    const removed = await remove({ email: 'jane.doe@example.org', note: 'ticket 42' });
    expect(removed.status).toBe(204);
    expect(removed.text).toBe('');
    expect((await lookup('jane.doe@example.org')).status).toBe(404);
    const twice = await remove({ email: 'jane.doe@example.org' });
    expect(twice.status).toBe(404);
    expect(twice.body).toMatchObject({
      type: '/problems/not-found',
      detail: 'This address is not on the suppression list.',
    });

    const history = await scratch
      .current()
      .rows<{ action: string; note: string | null; done_by: string }>(
        `SELECT action, note, done_by FROM suppression_history WHERE masked = 'J***@Example.org' ORDER BY seq`,
      );
    expect(history).toEqual([
      { action: 'add', note: 'asked by phone', done_by: 'lists' },
      { action: 'remove', note: 'ticket 42', done_by: 'lists' },
    ]);
    expect((await storedText()).toLowerCase()).not.toContain('jane.doe');
  });

  it('when an address is not on the list, then GET is a 404 problem that does not repeat it', async () => {
    const response = await lookup('never.listed@example.org');
    expect(response.status).toBe(404);
    expect(response.body).toEqual({
      type: '/problems/not-found',
      title: 'Not found',
      status: 404,
      detail: 'This address is not on the suppression list.',
    });
  });

  it('when an entry is added with an expiry, then a later expiry extends it and an earlier one does not', async () => {
    const soon = new Date(Date.now() + 3_600_000).toISOString();
    const later = new Date(Date.now() + 7_200_000).toISOString();
    const first = await add({ email: 'temp@example.org', expires_at: soon });
    expect(first.status).toBe(201);
    expect(first.body.expires_at).toBe(soon);
    const extended = await add({ email: 'temp@example.org', expires_at: later });
    expect(extended.status).toBe(200);
    expect(extended.body.expires_at).toBe(later);
    const shorter = await add({ email: 'temp@example.org', expires_at: soon });
    expect(shorter.status).toBe(200);
    expect(shorter.body.expires_at).toBe(later);
  });

  it('when an entry came from a provider, then adding it by hand keeps its reason and source', async () => {
    const address = 'bounced@example.org';
    await ledger.addSuppressions([
      {
        hashes: hasher.candidates(address),
        masked: maskAddress(address),
        reason: 'hard-bounce',
        createdBy: 'provider',
        source: { provider: 'ses', eventKey: 'sns-message-1' },
      },
    ]);
    const response = await add({ email: address, note: 'again' });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ reason: 'hard-bounce', created_by: 'provider', source: { provider: 'ses' } });
    expect(JSON.stringify(response.body)).not.toContain('sns-message-1');
  });
});

describe('GET /v1/suppressions (the list)', () => {
  const addresses = ['alpha@example.net', 'bravo@example.net', 'charlie@example.net', 'delta@example.net'];

  beforeAll(async () => {
    // One at a time: created_at orders the page, and one statement would give them all one time.
    for (const [i, address] of addresses.entries()) {
      await ledger.addSuppressions([
        {
          hashes: hasher.candidates(address),
          masked: maskAddress(address),
          reason: i % 2 === 0 ? 'complaint' : 'unsubscribed',
          createdBy: 'provider',
        },
      ]);
    }
  });

  it('when it is paged one at a time by reason, then Link and next_cursor lead through every entry, newest first, masked', async () => {
    const seen: string[] = [];
    let path: string | undefined = '/v1/suppressions?reason=complaint&limit=1';
    let pages = 0;
    while (path !== undefined) {
      const response: request.Response = await request(producer.app).get(path).set(as(LIST_KEY));
      expect(response.status).toBe(200);
      pages += 1;
      for (const entry of response.body.suppressions as { address: string; reason: string }[]) {
        expect(entry.reason).toBe('complaint');
        seen.push(entry.address);
      }
      const link: string | undefined = response.headers['link'];
      path = link === undefined ? undefined : /^<([^>]+)>; rel="next"$/.exec(link)?.[1];
      expect(path === undefined).toBe(response.body.next_cursor === undefined);
      if (path !== undefined) expect(path).toContain('reason=complaint');
    }
    expect(seen).toEqual(['c***@example.net', 'a***@example.net']);
    expect(pages).toBe(2);
  });

  it('when the whole list is read, then it is newest first and holds no full address', async () => {
    const response = await request(producer.app).get('/v1/suppressions?limit=100').set(as(LIST_KEY));
    expect(response.status).toBe(200);
    expect(response.body.next_cursor).toBeUndefined();
    const created = (response.body.suppressions as { created_at: string }[]).map((entry) => entry.created_at);
    expect(created).toEqual([...created].sort().reverse());
    for (const address of addresses) expect(response.text).not.toContain(address);
  });

  it.each([
    ['/v1/suppressions?cursor=bm90LWEtY3Vyc29y', 'cursor', 'is not a cursor this API gave'],
    ['/v1/suppressions?limit=500', 'limit', 'must be a whole number from 1 to 100'],
    [
      '/v1/suppressions?reason=spam',
      'reason',
      'must be one of hard-bounce, complaint, recipient-rejected, unsubscribed, manual',
    ],
    ['/v1/suppressions?status=sent', 'status', 'is not allowed here'],
    ['/v1/suppressions?email=a@example.org&limit=5', 'limit', 'is not allowed here'],
    ['/v1/suppressions?email=a@example.org&email=b@example.org', 'email', 'must be given once'],
    ['/v1/suppressions?email=not-an-address', 'email', 'must be an email address'],
  ])('when %s is asked for, then 400 invalid-query names %s', async (path, parameter, detail) => {
    const response = await request(producer.app).get(path).set(as(LIST_KEY));
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ type: '/problems/invalid-query', errors: [{ parameter, detail }] });
  });

  it('when the list is asked for with HEAD, then it answers like GET without a body', async () => {
    const response = await request(producer.app).head('/v1/suppressions').set(as(LIST_KEY));
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toContain('application/json');
    expect(response.text).toBeFalsy();
  });
});

describe('refusals', () => {
  it.each([
    [{}, [{ pointer: '/email', detail: 'is required' }]],
    [{ email: 'a@example.org', reason: 'complaint' }, [{ pointer: '/reason', detail: 'must be one of manual' }]],
    [
      { email: 'a@example.org', expires_at: '2020-01-01T00:00:00Z' },
      [{ pointer: '/expires_at', detail: 'must be in the future' }],
    ],
    [
      { email: 'a@example.org', note: 'line\nbreak' },
      [{ pointer: '/note', detail: 'must not contain line breaks or other control characters' }],
    ],
  ])('when %j is posted, then 400 validation lists the problems and nothing is added', async (body, errors) => {
    const response = await add(body);
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ type: '/problems/validation', errors });
    expect(response.body.detail).toContain('nothing was changed');
  });

  it('when the body is not JSON, or declared too large, then 415 or 413 before anything is read', async () => {
    const text = await request(producer.app)
      .post('/v1/suppressions')
      .set(as(LIST_KEY))
      .set('content-type', 'text/plain')
      .send('a@example.org');
    expect(text.status).toBe(415);
    const big = await add({ email: 'a@example.org', note: 'x'.repeat(20_000) });
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ type: '/problems/too-large', detail: 'The body may be at most 16384 bytes.' });
  });

  it('when a method the path does not serve is used, then 405 with Allow', async () => {
    const response = await request(producer.app).put('/v1/suppressions').set(as(LIST_KEY)).send({});
    expect(response.status).toBe(405);
    expect(response.headers['allow']).toBe('DELETE, GET, HEAD, POST');
  });
});

describe('logs', () => {
  it('when addresses are added, looked up, listed, refused and removed, then no log line holds one', async () => {
    const lines: string[] = [];
    const capture = (level: string) => (message: string, meta?: Record<string, unknown>) =>
      lines.push(JSON.stringify({ level, message, ...meta }));
    const logged = await startTestProducer('suppressions_logs', {
      apiKeys: scopedApiKeys,
      logger: { debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error') },
      suppressions: { suppressions: new SuppressionAdapter(ledger), hasher },
    });
    try {
      const address = 'private.person@example.org';
      const call = (r: request.Test) => r.set(as(LIST_KEY));
      expect((await call(request(logged.app).post('/v1/suppressions').send({ email: address }))).status).toBe(201);
      expect((await call(request(logged.app).get('/v1/suppressions').query({ email: address }))).status).toBe(200);
      expect((await call(request(logged.app).get('/v1/suppressions'))).status).toBe(200);
      const refused = request(logged.app).post('/v1/suppressions').send({ email: address, reason: 'x' });
      expect((await call(refused)).status).toBe(400);
      expect((await call(request(logged.app).delete('/v1/suppressions').query({ email: address }))).status).toBe(204);
      // The access log wrote one line per request, naming the caller: the capture did see them.
      expect(
        lines.filter((line) => line.includes('"message":"request"') && line.includes('"client":"lists"')),
      ).toHaveLength(5);
      expect(lines.join('\n')).not.toContain('private.person');
    } finally {
      await logged.close();
    }
  });
});

describe('without the list', () => {
  it('when the producer runs with LEDGER=off, then every route is 501 ledger-off after the key is checked', async () => {
    const off = await startTestProducer('suppressions_off', { apiKeys: scopedApiKeys });
    try {
      for (const call of [
        request(off.app).get('/v1/suppressions').set(as(LIST_KEY)),
        request(off.app).post('/v1/suppressions').set(as(LIST_KEY)).send({ email: 'a@example.org' }),
        request(off.app).delete('/v1/suppressions?email=a@example.org').set(as(LIST_KEY)),
      ]) {
        const response = await call;
        expect(response.status).toBe(501);
        expect(response.body).toMatchObject({ type: '/problems/ledger-off' });
        expect(response.body.detail).toContain('suppression list');
      }
      expect((await request(off.app).get('/v1/suppressions').set(as(TEST_KEY))).status).toBe(403);
    } finally {
      await off.close();
    }
  });

  it('when PostgreSQL cannot be reached, then 503 ledger-unavailable with Retry-After', async () => {
    const pool = createPool({ url: 'postgres://postgres@127.0.0.1:9/nothing', max: 1 });
    const unreachable = new Ledger({ db: pool, hasher });
    const down = await startTestProducer('suppressions_down', {
      apiKeys: scopedApiKeys,
      suppressions: { suppressions: new SuppressionAdapter(unreachable), hasher },
    });
    try {
      for (const call of [
        request(down.app).get('/v1/suppressions?email=a@example.org').set(as(LIST_KEY)),
        request(down.app).get('/v1/suppressions').set(as(LIST_KEY)),
        request(down.app).post('/v1/suppressions').set(as(LIST_KEY)).send({ email: 'a@example.org' }),
        request(down.app).delete('/v1/suppressions?email=a@example.org').set(as(LIST_KEY)),
      ]) {
        const response = await call;
        expect(response.status).toBe(503);
        expect(response.headers['retry-after']).toBe('5');
        expect(response.body).toMatchObject({ type: '/problems/ledger-unavailable', reason: 'ledger-unavailable' });
      }
    } finally {
      await down.close();
      await pool.end();
    }
  });
});
