import { Ajv2020 } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import request from 'supertest';
import { maskAddress, type EmailEnvelope } from '@mailer/contract';
import { drainQueue, queueDepth } from '@mailer/testkit';
import { openApiDocument } from '../src/http/openapi';
import { ProducerMetrics } from '../src/metrics/producer-metrics';
import { useScratchLedger } from './support/ledger';
import { TEST_KEY, startTestProducer, validEmail, type TestProducer } from './support/producer';

const scratch = useScratchLedger('suppression');
let producer: TestProducer;

beforeAll(async () => {
  producer = await startTestProducer('suppression', {
    ledger: scratch.current().adapter,
    metrics: new ProducerMetrics(),
  });
});

afterAll(async () => {
  await producer.close();
});

const auth = { authorization: `Bearer ${TEST_KEY}` };
const post = (path = '/v1/emails') => request(producer.app).post(path).set(auth);
const get = (path: string) => request(producer.app).get(path).set(auth);

/** The OpenAPI document's schemas, compiled: the answers must be what the document says they are. */
const documentAjv = (() => {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  ajv.addSchema({ $id: 'https://mailer.local/openapi.json', components: openApiDocument.components });
  return ajv;
})();

/** What is wrong with `value` as the document's schema `name` says it; empty when nothing is. */
function againstDocument(name: keyof typeof openApiDocument.components.schemas, value: unknown): unknown[] {
  const validate = documentAjv.getSchema(`https://mailer.local/openapi.json#/components/schemas/${name}`);
  if (validate === undefined) throw new Error(`the document has no schema ${name}`);
  return validate(value) ? [] : [...(validate.errors ?? [])];
}

/** Puts an address on the suppression list as the feedback worker or the API would (a hard bounce). */
async function suppress(address: string, expiresAt?: Date): Promise<void> {
  const { ledger, hasher } = scratch.current();
  const changed = await ledger.addSuppressions([
    {
      hashes: hasher.candidates(address),
      masked: maskAddress(address),
      reason: 'hard-bounce',
      createdBy: 'test',
      ...(expiresAt === undefined ? {} : { expiresAt }),
    },
  ]);
  expect(changed).toEqual([true]);
}

/** The envelopes on the work queue, taken off it: exactly `count`. */
async function queued(count: number): Promise<EmailEnvelope[]> {
  const messages = await drainQueue(producer.topology.workQueue.name, count);
  return messages.map((message) => JSON.parse(message.content.toString('utf8')) as EmailEnvelope);
}

describe('POST /v1/emails with recipients on the suppression list', () => {
  it('when one recipient is suppressed, then the 202 names it masked, the queued email goes without it, and the email shows it suppressed', async () => {
    // Listed in another case: recipients are keyed by their normalized address.
    await suppress('Gone.One@Example.org');
    const email = validEmail({
      to: [{ email: 'jane@example.org' }, { email: 'gone.one@example.org' }],
      cc: [{ email: 'cc.one@example.net' }],
    });

    const response = await post().send(email);

    expect(response.status).toBe(202);
    expect(response.body).toEqual({ id: expect.any(String), status: 'queued', suppressed: ['g***@example.org'] });
    const [envelope] = await queued(1);
    expect(envelope?.id).toBe(response.body.id);
    expect(envelope?.request).toEqual({ ...email, to: [{ email: 'jane@example.org' }] });
    expect(JSON.stringify(response.body)).not.toContain('gone.one');
    expect(againstDocument('Queued', response.body)).toEqual([]);

    const shown = await get(String(response.headers['location']));
    expect(shown.body).toMatchObject({
      status: 'queued',
      recipient_count: 3,
      recipients: [
        { address: 'j***@example.org', status: 'queued' },
        { address: 'g***@example.org', status: 'suppressed', updated_at: expect.any(String) },
        { address: 'c***@example.net', status: 'queued' },
      ],
    });
    expect(againstDocument('Email', shown.body)).toEqual([]);
  });

  it('when every recipient is suppressed, then 202 suppressed with Location, nothing is queued, and the email shows suppressed', async () => {
    await suppress('all.to@example.org');
    await suppress('all.bcc@example.net');

    const response = await post().send(
      validEmail({ to: [{ email: 'all.to@example.org' }], bcc: [{ email: 'all.bcc@example.net' }] }),
    );

    expect(response.status).toBe(202);
    expect(response.body).toEqual({
      id: expect.any(String),
      status: 'suppressed',
      suppressed: ['a***@example.org', 'a***@example.net'],
    });
    // The 202 follows a publish's confirm; with nothing published there is nothing to wait for.
    expect(await queueDepth(producer.topology.workQueue.name)).toBe(0);
    const shown = await get(String(response.headers['location']));
    expect(shown.body).toMatchObject({
      id: response.body.id,
      status: 'suppressed',
      recipients: [
        { address: 'a***@example.org', status: 'suppressed' },
        { address: 'a***@example.net', status: 'suppressed' },
      ],
    });
    const listed = await get('/v1/emails?status=suppressed');
    expect(listed.status).toBe(200);
    expect(againstDocument('Queued', response.body)).toEqual([]);
    expect(againstDocument('Email', shown.body)).toEqual([]);
    expect(againstDocument('EmailList', listed.body)).toEqual([]);
    // The check can fail: the email's page in the shape it had before (masked addresses alone) is not the document's.
    expect(againstDocument('Email', { ...shown.body, recipients: ['a***@example.org'] })).not.toEqual([]);
    expect((listed.body as { emails: { id: string; recipients: unknown }[] }).emails).toEqual([
      expect.objectContaining({ id: response.body.id, recipients: ['a***@example.org', 'a***@example.net'] }),
    ]);
  });

  it('when a request with a suppressed recipient is retried with its Idempotency-Key, then the replay is the same body and nothing more is queued', async () => {
    await suppress('replay.gone@example.org');
    await suppress('replay.all@example.org');
    const partly = validEmail({ to: [{ email: 'replay.kept@example.org' }, { email: 'replay.gone@example.org' }] });
    const wholly = validEmail({ to: [{ email: 'replay.all@example.org' }] });

    const first = await post().set('idempotency-key', 'suppression-replay-1').send(partly);
    const whollyFirst = await post().set('idempotency-key', 'suppression-replay-2').send(wholly);
    expect(first.status).toBe(202);
    expect(whollyFirst.body).toMatchObject({ status: 'suppressed' });
    const [envelope] = await queued(1);
    expect(envelope?.request.to).toEqual([{ email: 'replay.kept@example.org' }]);

    const again = await post().set('idempotency-key', 'suppression-replay-1').send(partly);
    const whollyAgain = await post().set('idempotency-key', 'suppression-replay-2').send(wholly);

    expect(again.status).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(again.body).toEqual({ id: first.body.id, status: 'queued', suppressed: ['r***@example.org'] });
    expect(again.headers['location']).toBe(first.headers['location']);
    expect(whollyAgain.headers['idempotent-replayed']).toBe('true');
    expect(whollyAgain.body).toEqual(whollyFirst.body);
    expect(await queueDepth(producer.topology.workQueue.name)).toBe(0);
  });

  it('when the suppression has expired, then the recipient is not dropped and the 202 names nobody', async () => {
    await suppress('expired@example.org', new Date(Date.now() - 60_000));
    const email = validEmail({ to: [{ email: 'expired@example.org' }] });

    const response = await post().send(email);

    expect(response.status).toBe(202);
    expect(response.body).toEqual({ id: expect.any(String), status: 'queued' });
    const [envelope] = await queued(1);
    expect(envelope?.request).toEqual(email);
    const shown = await get(`/v1/emails/${response.body.id}`);
    expect(shown.body.recipients).toEqual([{ address: 'e***@example.org', status: 'queued' }]);
  });

  it('when a batch has an item with every recipient suppressed, then that item is answered suppressed and only the others are queued', async () => {
    await suppress('batch.gone@example.org');
    const emails = [
      validEmail({ subject: 'kept', to: [{ email: 'batch.kept@example.org' }, { email: 'batch.gone@example.org' }] }),
      validEmail({ subject: 'dropped', to: [{ email: 'batch.gone@example.org' }] }),
    ];

    const response = await post('/v1/emails/batch').send({ emails });

    expect(response.status).toBe(202);
    expect(response.body).toEqual({
      items: [
        { index: 0, id: expect.any(String), status: 'queued', suppressed: ['b***@example.org'] },
        { index: 1, id: expect.any(String), status: 'suppressed', suppressed: ['b***@example.org'] },
      ],
    });
    const envelopes = await queued(1);
    expect(envelopes.map((e) => [e.id, e.request.subject, e.request.to])).toEqual([
      [response.body.items[0].id, 'kept', [{ email: 'batch.kept@example.org' }]],
    ]);
    expect(await queueDepth(producer.topology.workQueue.name)).toBe(0);
  });
});

describe('suppression hits at intake', () => {
  /** `mailer_intake_suppressed_recipients_total` as `GET /metrics` shows it. */
  async function hits(): Promise<number> {
    const text = (await request(producer.app).get('/metrics')).text;
    const line = text.split('\n').find((l) => l.startsWith('mailer_intake_suppressed_recipients_total'));
    if (line === undefined) throw new Error('no mailer_intake_suppressed_recipients_total in /metrics');
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }

  it('when accepted emails leave recipients out, then the counter grows by those recipients, and not for an email with none', async () => {
    await suppress('counted.one@example.org');
    await suppress('counted.two@example.org');
    const before = await hits();

    const two = await post().send(
      validEmail({
        to: [{ email: 'counted.one@example.org' }, { email: 'kept@example.org' }],
        bcc: [{ email: 'counted.two@example.org' }],
      }),
    );
    const none = await post().send(validEmail({ to: [{ email: 'kept@example.org' }] }));

    expect([two.status, none.status]).toEqual([202, 202]);
    expect(await hits()).toBe(before + 2);
    await queued(2);
  });
});

describe('metadata.email_id', () => {
  it.each(['email_id', 'Email_ID'])(
    'when a caller sets metadata %p, then 400 names it and nothing is queued',
    async (name) => {
      const response = await post().send(validEmail({ metadata: { [name]: 'mine', order: 1 } }));

      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({
        type: '/problems/validation',
        errors: [
          {
            pointer: `/metadata/${name}`,
            detail: 'email_id is reserved for the mailer (it carries the email id to the provider)',
          },
        ],
      });
      expect(await queueDepth(producer.topology.workQueue.name)).toBe(0);
    },
  );
});
