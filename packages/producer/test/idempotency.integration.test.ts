import request from 'supertest';
import { drainQueue, queueDepth } from '@mailer/testkit';
import { useScratchLedger } from './support/ledger';
import { OTHER_KEY, TEST_KEY, startTestProducer, validEmail, type TestProducer } from './support/producer';

const scratch = useScratchLedger('idempotency');
let producer: TestProducer;

beforeAll(async () => {
  producer = await startTestProducer('idempotency', { ledger: scratch.current().adapter });
});

afterAll(async () => {
  await producer.close();
});

afterEach(async () => {
  await drainQueue(producer.topology.workQueue.name);
});

const keyCounter = { n: 0 };
/** A key no other test in this file uses. */
const freshKey = () => `test-key-${process.pid}-${++keyCounter.n}`;

function post(key: string | undefined, path = '/v1/emails', apiKey = TEST_KEY): request.Test {
  const test = request(producer.app).post(path).set('authorization', `Bearer ${apiKey}`);
  return key === undefined ? test : test.set('idempotency-key', key);
}

const depth = () => queueDepth(producer.topology.workQueue.name);

describe('POST /v1/emails with Idempotency-Key', () => {
  it('when the same key and body come twice, then the second gets the first answer again and nothing more is queued', async () => {
    const key = freshKey();
    const email = validEmail({ subject: 'once only' });

    const first = await post(key).send(email);
    const second = await post(key).send(email);

    expect(first.status).toBe(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(second.status).toBe(202);
    expect(second.body).toEqual(first.body);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.headers['location']).toBe(`/v1/emails/${first.body.id}`);
    expect(await depth()).toBe(1);
    const [message] = await drainQueue(producer.topology.workQueue.name, 1);
    expect(message?.properties.messageId).toBe(first.body.id);
  });

  it('when the same body comes with its keys in another order, then it is the same request (replayed)', async () => {
    const key = freshKey();
    const first = await post(key).send({
      from: { email: 'a@example.com' },
      subject: 's',
      text: 't',
      to: [{ email: 'b@example.org' }],
    });
    const second = await post(key).send({
      to: [{ email: 'b@example.org' }],
      text: 't',
      subject: 's',
      from: { email: 'a@example.com' },
    });

    expect(second.status).toBe(202);
    expect(second.body.id).toBe(first.body.id);
    expect(await depth()).toBe(1);
  });

  it('when the key comes again with another body, then 422 idempotency-key-reused and nothing is queued', async () => {
    const key = freshKey();
    await post(key).send(validEmail({ subject: 'first' }));

    const reused = await post(key).send(validEmail({ subject: 'second' }));

    expect(reused.status).toBe(422);
    expect(reused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(reused.body).toMatchObject({ type: '/problems/idempotency-key-reused', status: 422 });
    expect(await depth()).toBe(1);
  });

  it('when two API keys use the same key, then each gets an email of its own', async () => {
    const key = freshKey();
    const mine = await post(key).send(validEmail());
    const theirs = await post(key, '/v1/emails', OTHER_KEY).send(
      validEmail({ from: { email: 'billing@example.net' } }),
    );

    expect(mine.status).toBe(202);
    expect(theirs.status).toBe(202);
    expect(theirs.body.id).not.toBe(mine.body.id);
    expect(theirs.headers['idempotent-replayed']).toBeUndefined();
    expect(await depth()).toBe(2);
  });

  it.each([
    ['empty', '', 'Idempotency-Key must not be empty'],
    ['256 characters', 'k'.repeat(256), 'Idempotency-Key must be at most 255 characters (got 256)'],
  ])(
    'when the key is %s, then 400 invalid-idempotency-key names the problem and nothing is queued',
    async (_label, key, detail) => {
      const response = await post(key).send(validEmail());

      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({
        type: '/problems/invalid-idempotency-key',
        status: 400,
        detail: `${detail}; nothing was queued.`,
      });
      expect(await depth()).toBe(0);
    },
  );

  it('when the request is refused (400), then the key is not used up: the corrected body is accepted with it', async () => {
    const key = freshKey();
    const refused = await post(key).send(validEmail({ subject: '' }));
    const accepted = await post(key).send(validEmail());

    expect(refused.status).toBe(400);
    expect(accepted.status).toBe(202);
    expect(accepted.headers['idempotent-replayed']).toBeUndefined();
  });
});

describe('POST /v1/emails/batch with Idempotency-Key', () => {
  it('when the same batch comes twice, then the same ids in the same order, and each email is queued once', async () => {
    const key = freshKey();
    const batch = {
      emails: [validEmail({ subject: 'one' }), validEmail({ subject: 'two' }), validEmail({ subject: 'three' })],
    };

    const first = await post(key, '/v1/emails/batch').send(batch);
    const second = await post(key, '/v1/emails/batch').send(batch);

    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.body).toEqual(first.body);
    const items = (first.body as { items: { index: number; id: string }[] }).items;
    expect(items.map((item) => item.index)).toEqual([0, 1, 2]);
    const messages = await drainQueue(producer.topology.workQueue.name, 3);
    expect(messages.map((m) => String(m.properties.messageId)).sort()).toEqual(items.map((item) => item.id).sort());
    expect(await depth()).toBe(0);
  });

  it('when the batch key comes again with another batch, then 422 and nothing more is queued', async () => {
    const key = freshKey();
    await post(key, '/v1/emails/batch').send({ emails: [validEmail()] });

    const reused = await post(key, '/v1/emails/batch').send({ emails: [validEmail(), validEmail()] });

    expect(reused.status).toBe(422);
    expect(reused.body.type).toBe('/problems/idempotency-key-reused');
    expect(await depth()).toBe(1);
  });
});

describe('a producer with LEDGER=off (broker only)', () => {
  let brokerOnly: TestProducer;

  beforeAll(async () => {
    brokerOnly = await startTestProducer('ledger-off');
  });

  afterAll(async () => {
    await brokerOnly.close();
  });

  const auth = { authorization: `Bearer ${TEST_KEY}` };

  it('when an email comes without a key, then it is queued as before the ledger, and /readyz is ready', async () => {
    const response = await request(brokerOnly.app).post('/v1/emails').set(auth).send(validEmail());

    expect(response.status).toBe(202);
    expect(response.headers['location']).toBe(`/v1/emails/${response.body.id}`);
    const [message] = await drainQueue(brokerOnly.topology.workQueue.name, 1);
    expect(message?.properties.messageId).toBe(response.body.id);
    expect((await request(brokerOnly.app).get('/readyz')).body).toEqual({ status: 'ready' });
  });

  it('when a request carries Idempotency-Key, then 501 ledger-off and nothing is queued', async () => {
    for (const path of ['/v1/emails', '/v1/emails/batch']) {
      const response = await request(brokerOnly.app)
        .post(path)
        .set(auth)
        .set('idempotency-key', 'k')
        .send(path === '/v1/emails' ? validEmail() : { emails: [validEmail()] });

      expect(response.status).toBe(501);
      expect(response.body).toMatchObject({ type: '/problems/ledger-off', status: 501 });
    }
    expect(await queueDepth(brokerOnly.topology.workQueue.name)).toBe(0);
  });

  it('when the status is asked for, then 501 ledger-off for one email and for the list', async () => {
    const one = await request(brokerOnly.app).get('/v1/emails/0191f7a4-8c1e-7c4b-9a53-2f9d8d3e4b10').set(auth);
    const list = await request(brokerOnly.app).get('/v1/emails').set(auth);

    expect(one.status).toBe(501);
    expect(one.body.type).toBe('/problems/ledger-off');
    expect(list.status).toBe(501);
    expect(list.body.type).toBe('/problems/ledger-off');
  });
});
