import { randomBytes, randomUUID } from 'node:crypto';
import { Ajv2020 } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import request from 'supertest';
import {
  DestinationPolicy,
  parseNetwork,
  WEBHOOK_DELIVERY_ROUTING_KEY,
  lifecycleEventSchema,
  type Network,
  type WebhookDeliveryMessage,
  type WebhookUrlRules,
} from '@mailer/contract';
import { Webhooks, createPool, withDatabase } from '@mailer/ledger';
import { TEST_SERVER_URL, freePort, takeMessages } from '@mailer/testkit';
import { hashKey, type ApiKey } from '../src/domain/api-keys';
import { openApiDocument } from '../src/http/openapi';
import { WebhookAdapter } from '../src/ledger/webhook-adapter';
import { useScratchLedger } from './support/ledger';
import { TEST_KEY, startTestProducer, testApiKeys, type TestProducer } from './support/producer';

const HOOKS_KEY = 'hooks-key-0123456789';
const OTHER_HOOKS_KEY = 'other-hooks-key-0123456789';

const apiKeys: readonly ApiKey[] = [
  ...testApiKeys,
  { name: 'hooks', keyHash: hashKey(HOOKS_KEY), senders: [], scopes: ['webhooks'] },
  { name: 'other-hooks', keyHash: hashKey(OTHER_HOOKS_KEY), senders: [], scopes: ['webhooks', 'read'] },
];

/** WEBHOOK_ALLOW_NETWORKS and WEBHOOK_ALLOW_HTTP at their defaults. */
const strict: WebhookUrlRules = { allowHttp: false, policy: new DestinationPolicy() };

const scratch = useScratchLedger('webhooks');
let store: Webhooks;
let producer: TestProducer;

beforeAll(async () => {
  store = new Webhooks(scratch.current().pool, randomBytes(32).toString('base64'));
  producer = await startTestProducer('webhooks', {
    apiKeys,
    webhooks: { endpoints: new WebhookAdapter(store), urlRules: strict },
  });
});

afterAll(async () => {
  await producer.close();
});

const as = (key: string) => ({ authorization: `Bearer ${key}` });
const create = (body: object, key = HOOKS_KEY, app = producer.app) =>
  request(app).post('/v1/webhooks').set(as(key)).send(body);
const url = () => `https://hooks.example.com/${randomUUID()}`;

/** Registers an endpoint and answers its id and secret. */
async function registered(key = HOOKS_KEY): Promise<{ id: string; secret: string }> {
  const response = await create({ url: url() }, key);
  expect(response.status).toBe(201);
  return { id: String(response.body.id), secret: String(response.body.secret) };
}

describe('webhook endpoints, CRUD', () => {
  it('when an endpoint is registered, read, listed, changed and deleted, then each answer shows it as it now is', async () => {
    const target = url();
    const made = await create({ url: target, event_types: ['email.bounced'], description: 'orders' });
    expect(made.status).toBe(201);
    expect(made.headers['location']).toBe(`/v1/webhooks/${made.body.id}`);
    expect(made.headers['cache-control']).toBe('no-store');
    expect(made.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
      url: target,
      event_types: ['email.bounced'],
      description: 'orders',
      status: 'enabled',
      disabled_reason: null,
      disabled_at: null,
      failing_since: null,
      previous_secret_expires_at: null,
      created_at: expect.any(String) as unknown,
      updated_at: expect.any(String) as unknown,
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/) as unknown,
    });
    const location = String(made.headers['location']);

    const read = await request(producer.app).get(location).set(as(HOOKS_KEY));
    expect(read.status).toBe(200);
    const { secret: _secret, ...shown } = made.body as Record<string, unknown>;
    expect(read.body).toEqual(shown);

    const listed = await request(producer.app).get('/v1/webhooks').set(as(HOOKS_KEY));
    expect(listed.status).toBe(200);
    expect((listed.body.webhooks as { id: string }[]).find((w) => w.id === made.body.id)).toEqual(shown);

    const changed = await request(producer.app)
      .patch(location)
      .set(as(HOOKS_KEY))
      .send({ url: `${target}/v2`, event_types: [], description: null });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ url: `${target}/v2`, event_types: [], description: null, status: 'enabled' });

    const off = await request(producer.app).patch(location).set(as(HOOKS_KEY)).send({ enabled: false });
    expect(off.body).toMatchObject({ status: 'disabled', disabled_reason: 'manual' });
    expect(off.body.disabled_at).toEqual(expect.any(String));
    const on = await request(producer.app).patch(location).set(as(HOOKS_KEY)).send({ enabled: true });
    expect(on.body).toMatchObject({ status: 'enabled', disabled_reason: null, disabled_at: null, failing_since: null });

    expect((await request(producer.app).delete(location).set(as(HOOKS_KEY))).status).toBe(204);
    const gone = await request(producer.app).get(location).set(as(HOOKS_KEY));
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ type: '/problems/not-found' });
    expect((await request(producer.app).delete(location).set(as(HOOKS_KEY))).status).toBe(404);
  });

  it('when endpoints are listed a page at a time, then the Link and next_cursor lead through all of them', async () => {
    const ids: string[] = [];
    for (let k = 0; k < 3; k++) ids.push((await registered(OTHER_HOOKS_KEY)).id);
    const seen: string[] = [];
    let path: string | undefined = '/v1/webhooks?limit=2';
    while (path !== undefined) {
      const page = await request(producer.app).get(path).set(as(OTHER_HOOKS_KEY));
      expect(page.status).toBe(200);
      seen.push(...(page.body.webhooks as { id: string }[]).map((w) => w.id));
      const link = /^<([^>]+)>; rel="next"$/.exec(page.headers['link'] ?? '');
      expect(page.body.next_cursor === undefined).toBe(link === null);
      path = link?.[1];
    }
    expect(seen).toEqual(expect.arrayContaining(ids));
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('when a path is served with another method, then 405 names the methods allowed', async () => {
    const { id } = await registered();
    const put = await request(producer.app).put(`/v1/webhooks/${id}`).set(as(HOOKS_KEY)).send({});
    expect(put.status).toBe(405);
    expect(put.headers['allow']).toBe('DELETE, GET, HEAD, PATCH');
    const get = await request(producer.app).get(`/v1/webhooks/${id}/test`).set(as(HOOKS_KEY));
    expect(get.status).toBe(405);
    expect(get.headers['allow']).toBe('POST');
  });
});

describe('scopes and clients', () => {
  it('when a key without the webhooks scope calls any webhook route, then 403 names the scope', async () => {
    const { id } = await registered();
    for (const call of [
      request(producer.app).post('/v1/webhooks').send({ url: url() }),
      request(producer.app).get('/v1/webhooks'),
      request(producer.app).get(`/v1/webhooks/${id}`),
      request(producer.app).patch(`/v1/webhooks/${id}`).send({ enabled: false }),
      request(producer.app).delete(`/v1/webhooks/${id}`),
      request(producer.app).post(`/v1/webhooks/${id}/rotate-secret`),
      request(producer.app).post(`/v1/webhooks/${id}/test`),
      request(producer.app).get(`/v1/webhooks/${id}/deliveries`),
    ]) {
      const response = await call.set(as(TEST_KEY));
      expect(response.status).toBe(403);
      expect(response.body).toMatchObject({ type: '/problems/insufficient-scope', scope: 'webhooks' });
    }
    expect((await request(producer.app).get('/v1/webhooks')).status).toBe(401);
    expect((await request(producer.app).get(`/v1/webhooks/${id}`).set(as(HOOKS_KEY))).body.status).toBe('enabled');
  });

  it('when another client names an endpoint, then every route answers 404 as for an unknown id, and it stays as it was', async () => {
    const { id, secret } = await registered(HOOKS_KEY);
    const before = (await request(producer.app).get(`/v1/webhooks/${id}`).set(as(HOOKS_KEY))).body as object;
    for (const call of [
      request(producer.app).get(`/v1/webhooks/${id}`),
      request(producer.app).patch(`/v1/webhooks/${id}`).send({ enabled: false }),
      request(producer.app).delete(`/v1/webhooks/${id}`),
      request(producer.app).post(`/v1/webhooks/${id}/rotate-secret`),
      request(producer.app).post(`/v1/webhooks/${id}/test`),
      request(producer.app).get(`/v1/webhooks/${id}/deliveries`),
      request(producer.app).get(`/v1/webhooks/${randomUUID()}`),
      request(producer.app).get('/v1/webhooks/not-an-id'),
    ]) {
      const response = await call.set(as(OTHER_HOOKS_KEY));
      expect(response.status).toBe(404);
      expect(response.body).toEqual({
        type: '/problems/not-found',
        title: 'Not found',
        status: 404,
        detail: 'No webhook endpoint with this id for this API key.',
      });
    }
    const listed = await request(producer.app).get('/v1/webhooks?limit=100').set(as(OTHER_HOOKS_KEY));
    expect((listed.body.webhooks as { id: string }[]).map((w) => w.id)).not.toContain(id);
    expect((await request(producer.app).get(`/v1/webhooks/${id}`).set(as(HOOKS_KEY))).body).toEqual(before);
    expect((await store.signingEndpoint(id))?.secrets).toEqual([secret]);
  });
});

describe('secrets', () => {
  it('when a secret is rotated, then the answer shows the new one, and the old one signs beside it for 24 h', async () => {
    const { id, secret } = await registered();
    const before = Date.now();
    const rotated = await request(producer.app).post(`/v1/webhooks/${id}/rotate-secret`).set(as(HOOKS_KEY));
    expect(rotated.status).toBe(200);
    expect(rotated.headers['cache-control']).toBe('no-store');
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(secret);
    const expires = Date.parse(String(rotated.body.previous_secret_expires_at));
    expect(expires).toBeGreaterThanOrEqual(before + 24 * 3_600_000 - 5_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 24 * 3_600_000 + 5_000);
    expect((await store.signingEndpoint(id))?.secrets).toEqual([rotated.body.secret, secret]);
  });

  it('when an endpoint is created, read, listed, changed and rotated, then its secret is in no answer but the create and rotate, and in no log line', async () => {
    const lines: string[] = [];
    const capture = (level: string) => (message: string, meta?: Record<string, unknown>) =>
      lines.push(JSON.stringify({ level, message, ...meta }));
    const logged = await startTestProducer('webhooks_logs', {
      apiKeys,
      logger: { debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error') },
      webhooks: { endpoints: new WebhookAdapter(store), urlRules: strict },
    });
    try {
      const made = await create({ url: url() }, HOOKS_KEY, logged.app);
      const id = String(made.body.id);
      const secrets = [String(made.body.secret)];
      const answers = [
        await request(logged.app).get(`/v1/webhooks/${id}`).set(as(HOOKS_KEY)),
        await request(logged.app).get('/v1/webhooks?limit=100').set(as(HOOKS_KEY)),
        await request(logged.app).patch(`/v1/webhooks/${id}`).set(as(HOOKS_KEY)).send({ description: 'x' }),
      ];
      const rotated = await request(logged.app).post(`/v1/webhooks/${id}/rotate-secret`).set(as(HOOKS_KEY));
      secrets.push(String(rotated.body.secret));
      answers.push(await request(logged.app).get(`/v1/webhooks/${id}`).set(as(HOOKS_KEY)));

      for (const answer of answers) expect(answer.status).toBe(200);
      const answered = answers.map((a) => a.text).join('\n');
      // The access log wrote one line per request, naming the caller: the capture did see them.
      expect(lines.filter((l) => l.includes('"message":"request"') && l.includes('"client":"hooks"'))).toHaveLength(6);
      for (const secret of secrets) {
        const body = secret.slice('whsec_'.length);
        expect(answered).not.toContain(body);
        expect(lines.join('\n')).not.toContain(body);
      }
      expect(answered).not.toContain('"secret"');
    } finally {
      await logged.close();
    }
  });
});

describe('test deliveries', () => {
  it('when a test is asked for, then a webhook.test delivery for that endpoint is confirmed on the deliveries queue', async () => {
    const { id } = await registered();
    const answer = await request(producer.app).post(`/v1/webhooks/${id}/test`).set(as(HOOKS_KEY));
    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({
      delivery_id: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
      event_id: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
    });

    const [message] = await takeMessages(producer.topology.webhookDeliveriesQueue.name, 1);
    if (message === undefined) throw new Error('no delivery on the queue');
    expect(message.fields.exchange).toBe(producer.topology.webhooksExchange.name);
    expect(message.fields.routingKey).toBe(WEBHOOK_DELIVERY_ROUTING_KEY);
    expect(message.properties).toMatchObject({
      messageId: answer.body.delivery_id,
      contentType: 'application/json',
      type: 'webhook.test',
    });
    const delivery = JSON.parse(message.content.toString('utf8')) as WebhookDeliveryMessage;
    expect(delivery).toEqual({
      delivery_id: answer.body.delivery_id,
      endpoint_id: id,
      client: 'hooks',
      try: 1,
      first_try_at: expect.any(String) as unknown,
      event: {
        id: answer.body.event_id,
        type: 'webhook.test',
        timestamp: delivery.first_try_at,
        sequence: 0,
        data: { endpoint_id: id, client: 'hooks' },
      },
    });
    expect(Math.abs(Date.parse(delivery.first_try_at) - Date.now())).toBeLessThan(60_000);
  });

  it('when the endpoint is disabled, then the test is refused with 409 and nothing is queued', async () => {
    const { id } = await registered();
    await request(producer.app).patch(`/v1/webhooks/${id}`).set(as(HOOKS_KEY)).send({ enabled: false });
    const answer = await request(producer.app).post(`/v1/webhooks/${id}/test`).set(as(HOOKS_KEY));
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ type: '/problems/webhook-disabled' });
    // A test that does publish after it: the one message on the queue is that one.
    const { id: other } = await registered();
    const queued = await request(producer.app).post(`/v1/webhooks/${other}/test`).set(as(HOOKS_KEY));
    const [message] = await takeMessages(producer.topology.webhookDeliveriesQueue.name, 1);
    expect(message?.properties.messageId).toBe(queued.body.delivery_id);
  });
});

describe('deliveries', () => {
  it('when deliveries were recorded, then they are listed newest first, filtered by since, event_type and outcome', async () => {
    const { id } = await registered();
    const t0 = Date.now() - 3_600_000;
    const report = (k: number, eventType: string, outcome: 'succeeded' | 'parked') => ({
      deliveryId: randomUUID(),
      endpointId: id,
      eventId: randomUUID(),
      eventType,
      emailId: randomUUID(),
      try: 1,
      outcome,
      status: outcome === 'succeeded' ? 200 : 500,
      error: outcome === 'succeeded' ? null : 'HTTP 500',
      durationMs: 20,
      at: new Date(t0 + k * 1000),
    });
    const reports = [
      report(0, 'email.sent', 'succeeded'),
      report(1, 'email.bounced', 'parked'),
      report(2, 'email.sent', 'parked'),
    ];
    await store.recordDeliveries(reports, { disableAfterMs: 5 * 86_400_000 });
    const path = `/v1/webhooks/${id}/deliveries`;

    const all = await request(producer.app).get(path).set(as(HOOKS_KEY));
    expect(all.status).toBe(200);
    expect((all.body.deliveries as { id: string }[]).map((d) => d.id)).toEqual(
      [...reports].reverse().map((r) => r.deliveryId),
    );
    expect(all.body.deliveries[0]).toEqual({
      id: reports[2]?.deliveryId,
      event_id: reports[2]?.eventId,
      event_type: 'email.sent',
      email_id: reports[2]?.emailId,
      tries: 1,
      outcome: 'parked',
      http_status: 500,
      error: 'HTTP 500',
      duration_ms: 20,
      created_at: reports[2]?.at.toISOString(),
      updated_at: reports[2]?.at.toISOString(),
    });

    const filtered = await request(producer.app)
      .get(path)
      .query({ since: new Date(t0 + 500).toISOString(), event_type: 'email.sent', outcome: 'parked' })
      .set(as(HOOKS_KEY));
    expect((filtered.body.deliveries as { id: string }[]).map((d) => d.id)).toEqual([reports[2]?.deliveryId]);

    const first = await request(producer.app).get(path).query({ limit: 2 }).set(as(HOOKS_KEY));
    expect(first.body.deliveries).toHaveLength(2);
    const next = /^<([^>]+)>; rel="next"$/.exec(String(first.headers['link']))?.[1] ?? '';
    const second = await request(producer.app).get(next).set(as(HOOKS_KEY));
    expect((second.body.deliveries as { id: string }[]).map((d) => d.id)).toEqual([reports[0]?.deliveryId]);
    expect(second.body.next_cursor).toBeUndefined();
  });
});

describe('bad requests', () => {
  it('when a body or query is wrong, then 400 problems name each problem, bounded', async () => {
    const { id } = await registered();
    const cases: [request.Test, string, string[]][] = [
      [create({}), '/problems/validation', ['/url']],
      [create({ url: 42 }), '/problems/validation', ['/url']],
      [create({ url: url(), event_types: ['email.sent', 'email.opened'] }), '/problems/validation', ['/event_types/1']],
      [create({ url: url(), description: 'd'.repeat(201) }), '/problems/validation', ['/description']],
      [create({ url: url(), description: 'a\nb' }), '/problems/validation', ['/description']],
      [create({ url: `https://h.example.com/${'a'.repeat(2048)}` }), '/problems/validation', ['/url']],
      [create({ url: 'not a url' }), '/problems/validation', ['/url']],
      [create({ url: 'https://u:p@h.example.com/' }), '/problems/validation', ['/url']],
      [create({ url: 'https://api.localhost/' }), '/problems/validation', ['/url']],
      [request(producer.app).patch(`/v1/webhooks/${id}`).send({}), '/problems/validation', ['']],
      [
        request(producer.app).patch(`/v1/webhooks/${id}`).send({ enabled: 'yes' }),
        '/problems/validation',
        ['/enabled'],
      ],
      [
        request(producer.app).patch(`/v1/webhooks/${id}`).send({ url: 'http://a.example/' }),
        '/problems/validation',
        ['/url'],
      ],
    ];
    for (const [call, type, pointers] of cases) {
      const response = await call.set(as(HOOKS_KEY));
      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.body).toMatchObject({ type, status: 400 });
      const errors = response.body.errors as { pointer: string; detail: string }[];
      expect(errors.map((e) => e.pointer)).toEqual(pointers);
      expect(response.text.length).toBeLessThan(4096);
    }

    const many = await create(Object.fromEntries(Array.from({ length: 300 }, (_, k) => [`x${k}`, k])));
    expect(many.status).toBe(400);
    expect(many.body.errors).toHaveLength(100);
    expect(many.body.errors_omitted).toBeGreaterThan(0);
    expect(many.text.length).toBeLessThan(16_384);

    const notJson = await request(producer.app)
      .post('/v1/webhooks')
      .set(as(HOOKS_KEY))
      .set('content-type', 'application/json')
      .send('{"url":');
    expect(notJson.status).toBe(400);
    expect(notJson.body).toMatchObject({ type: '/problems/malformed-json' });

    const big = await create({ url: url(), description: 'x'.repeat(20_000) });
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ type: '/problems/too-large', detail: 'The body may be at most 16384 bytes.' });

    // 150 emoji are 150 characters for the schema (code points) and 300 UTF-16 units: taken, not a 500.
    const emoji = await create({ url: url(), description: '\u{1F600}'.repeat(150) });
    expect(emoji.status).toBe(201);
    expect(emoji.body.description).toBe('\u{1F600}'.repeat(150));

    const farCursor = Buffer.from(`-999999999999999999|${id}`, 'utf8').toString('base64url');
    for (const query of [
      'limit=0',
      'limit=101',
      'cursor=bm90LWEtY3Vyc29y',
      `cursor=${farCursor}`,
      'color=red',
      'limit=1&limit=2',
    ]) {
      const response = await request(producer.app).get(`/v1/webhooks?${query}`).set(as(HOOKS_KEY));
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ type: '/problems/invalid-query' });
    }
    for (const query of ['since=yesterday', 'outcome=lost', 'event_type=email.opened']) {
      const response = await request(producer.app).get(`/v1/webhooks/${id}/deliveries?${query}`).set(as(HOOKS_KEY));
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ type: '/problems/invalid-query' });
    }
  });
});

describe('SSRF at registration (must show 4, registration half)', () => {
  it.each([
    ['http://example.com/', /must use https/],
    ['https://127.0.0.1/', /refused range \(loopback\)/],
    ['https://10.0.0.1/', /refused range \(private\)/],
    ['https://169.254.169.254/', /refused range \(link-local\)/],
    ['https://[::1]/', /refused range \(loopback\)/],
    ['https://[::ffff:127.0.0.1]/', /refused range \(loopback \(IPv4 in IPv6\)\)/],
    ['https://2130706433/', /refused range \(loopback\)/],
  ])('when WEBHOOK_ALLOW_NETWORKS is empty and %s is registered, then 400 names why', async (target, why) => {
    const response = await create({ url: target });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ type: '/problems/validation', errors: [{ pointer: '/url' }] });
    expect(response.body.errors[0].detail).toMatch(why);
    const patched = await request(producer.app)
      .patch(`/v1/webhooks/${(await registered()).id}`)
      .set(as(HOOKS_KEY))
      .send({ url: target });
    expect(patched.status).toBe(400);
  });

  it('when 127.0.0.0/8 is allowed and WEBHOOK_ALLOW_HTTP=true, then http://127.0.0.1:PORT/ is taken, and other ranges still are not', async () => {
    const loopback = await startTestProducer('webhooks_loopback', {
      apiKeys,
      webhooks: {
        endpoints: new WebhookAdapter(store),
        urlRules: { allowHttp: true, policy: new DestinationPolicy([parseNetwork('127.0.0.0/8') as Network]) },
      },
    });
    try {
      const target = `http://127.0.0.1:${await freePort()}/hook`;
      const taken = await create({ url: target }, HOOKS_KEY, loopback.app);
      expect(taken.status).toBe(201);
      expect(taken.body.url).toBe(target);
      expect((await create({ url: 'http://10.0.0.1/' }, HOOKS_KEY, loopback.app)).status).toBe(400);
    } finally {
      await loopback.close();
    }
  });
});

describe('ledger out of reach', () => {
  it('when PostgreSQL cannot be reached, then the webhook routes answer 503 ledger-unavailable with Retry-After', async () => {
    const unreachable = new URL(TEST_SERVER_URL);
    unreachable.port = String(await freePort());
    const pool = createPool({ url: withDatabase(unreachable.toString(), 'nowhere'), max: 1 });
    const out = await startTestProducer('webhooks_outage', {
      apiKeys,
      webhooks: {
        endpoints: new WebhookAdapter(new Webhooks(pool, randomBytes(32).toString('base64'))),
        urlRules: strict,
      },
    });
    try {
      for (const call of [
        request(out.app).get('/v1/webhooks'),
        request(out.app).post('/v1/webhooks').send({ url: url() }),
        request(out.app).post(`/v1/webhooks/${randomUUID()}/test`),
      ]) {
        const response = await call.set(as(HOOKS_KEY));
        expect(response.status).toBe(503);
        expect(response.headers['retry-after']).toBe('5');
        expect(response.body).toMatchObject({
          type: '/problems/ledger-unavailable',
          title: 'Webhooks unavailable: the ledger cannot be reached',
          reason: 'ledger-unavailable',
        });
      }
    } finally {
      await out.close();
      await pool.end();
    }
  });
});

describe('webhooks off', () => {
  it('when the producer runs without them, then every route answers 503 saying why, after the key is checked', async () => {
    const off = await startTestProducer('webhooks_off', {
      apiKeys,
      webhooks: { off: 'WEBHOOK_SECRETS_KEY is empty, so no signing secret can be kept' },
    });
    try {
      for (const call of [
        request(off.app).post('/v1/webhooks').send({ url: url() }),
        request(off.app).get('/v1/webhooks'),
        request(off.app).get(`/v1/webhooks/${randomUUID()}`),
        request(off.app).post(`/v1/webhooks/${randomUUID()}/test`),
      ]) {
        const response = await call.set(as(HOOKS_KEY));
        expect(response.status).toBe(503);
        expect(response.body).toMatchObject({ type: '/problems/webhooks-off', status: 503 });
        expect(response.body.detail).toContain('WEBHOOK_SECRETS_KEY is empty');
      }
      expect((await request(off.app).get('/v1/webhooks').set(as(TEST_KEY))).status).toBe(403);
    } finally {
      await off.close();
    }
  });
});

describe('the OpenAPI document', () => {
  const ajv = new Ajv2020({ strict: false });
  addFormats(ajv);
  ajv.addSchema({ $id: 'https://mailer.invalid/openapi.json', components: openApiDocument.components });
  const matches = (component: string, value: unknown) => {
    const check = ajv.compile({ $ref: `https://mailer.invalid/openapi.json#/components/schemas/${component}` });
    expect({ valid: check(value), errors: check.errors ?? null }).toEqual({ valid: true, errors: null });
  };

  it('when the API answers, then each answer is of the schema the document names for it', async () => {
    const made = await create({ url: url(), event_types: ['email.sent'], description: 'schema' });
    matches('WebhookEndpointWithSecret', made.body);
    const id = String(made.body.id);
    matches('WebhookEndpoint', (await request(producer.app).get(`/v1/webhooks/${id}`).set(as(HOOKS_KEY))).body);
    matches('WebhookEndpointList', (await request(producer.app).get('/v1/webhooks').set(as(HOOKS_KEY))).body);
    matches(
      'WebhookEndpointWithSecret',
      (await request(producer.app).post(`/v1/webhooks/${id}/rotate-secret`).set(as(HOOKS_KEY))).body,
    );
    await store.recordDeliveries(
      [
        {
          deliveryId: randomUUID(),
          endpointId: id,
          eventId: randomUUID(),
          eventType: 'email.sent',
          emailId: null,
          try: 2,
          outcome: 'retrying',
          status: null,
          error: 'timeout',
          durationMs: 15_000,
          at: new Date(),
        },
      ],
      { disableAfterMs: 86_400_000 },
    );
    matches(
      'WebhookDeliveryList',
      (await request(producer.app).get(`/v1/webhooks/${id}/deliveries`).set(as(HOOKS_KEY))).body,
    );
    const tested = await request(producer.app).post(`/v1/webhooks/${id}/test`).set(as(HOOKS_KEY));
    matches('WebhookTestQueued', tested.body);
    const [message] = await takeMessages(producer.topology.webhookDeliveriesQueue.name, 1);
    matches(
      'WebhookTestEvent',
      (JSON.parse(message?.content.toString('utf8') ?? '{}') as WebhookDeliveryMessage).event,
    );
    matches('Problem', (await create({ url: 'https://10.0.0.1/' })).body);
    // The check can fail: an endpoint without its fields is not one.
    expect(ajv.compile({ $ref: 'https://mailer.invalid/openapi.json#/components/schemas/WebhookEndpoint' })({})).toBe(
      false,
    );
  });

  it('when its LifecycleEvent is compared with the contract, then it is that one schema (without its $id)', () => {
    const { $id: _id, ...schema } = lifecycleEventSchema;
    expect(openApiDocument.components.schemas.LifecycleEvent).toEqual(schema);
    expect(JSON.stringify(openApiDocument.components.schemas.WebhookEndpoint)).not.toContain('secret"');
  });

  it('when its webhooks are read, then the POST the service sends names the three Standard Webhooks headers and the event body', () => {
    const post = openApiDocument.webhooks['lifecycle-event'].post;
    expect(post.parameters.map((p) => [p.name, p.in, p.required])).toEqual([
      ['webhook-id', 'header', true],
      ['webhook-timestamp', 'header', true],
      ['webhook-signature', 'header', true],
    ]);
    expect(post.requestBody.content['application/json'].schema.oneOf).toContainEqual({
      $ref: '#/components/schemas/LifecycleEvent',
    });
  });
});
