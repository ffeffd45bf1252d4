import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import {
  DEFAULT_DELIVERY_LIMIT,
  DEFAULT_RETRY_DELAYS_MS,
  PROVIDER_EVENT_MESSAGE_TYPE,
  buildTopology,
  decodeProviderEvent,
} from '@mailer/contract';
import { createLogger } from '@mailer/service';
import {
  AMQP_URL,
  deleteTopology,
  freePort,
  queueDepth,
  runService,
  sampleValue,
  takeMessages,
  uniquePrefix,
  type Service,
} from '@mailer/testkit';
import { SubscriptionConfirmer } from '../src/feedback/sns/subscription';
import { SnsSigner } from '../src/feedback/sns/testing';
import { SnsVerifier } from '../src/feedback/sns/verifier';
import { ProducerMetrics } from '../src/metrics/producer-metrics';
import { startTestProducer, type TestProducer } from './support/producer';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:ses-events';
const OTHER_TOPIC = 'arn:aws:sns:us-east-1:999999999999:someone-else';
const SES_PATH = '/v1/providers/ses/events';
const POSTMARK_PATH = '/v1/providers/postmark/events';
const POSTMARK = { user: 'postmark-hooks', password: 'a-long-random-webhook-password' };

const bounce = JSON.stringify({
  eventType: 'Bounce',
  bounce: {
    bounceType: 'Permanent',
    bounceSubType: 'General',
    bouncedRecipients: [{ emailAddress: 'jane@example.org', action: 'failed', status: '5.1.1' }],
    timestamp: '2026-12-07T21:00:00.000Z',
    feedbackId: 'feedback-1',
  },
  mail: {
    messageId: 'ses-message-1',
    destination: ['jane@example.org'],
    tags: { email_id: ['0190a0b0-0000-7000-8000-000000000001'] },
  },
});

/** A local server standing in for SNS's SubscribeURL: it records every GET. */
class SubscribeStandIn {
  readonly requests: string[] = [];
  private readonly server: Server = createServer((req: IncomingMessage, res) => {
    this.requests.push(req.url ?? '');
    const status = req.url?.startsWith('/refuse') === true ? 500 : 200;
    res.writeHead(status, { 'content-type': 'text/xml' }).end('<ConfirmSubscriptionResponse/>');
  });

  origin = '';

  async start(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.origin;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('provider events in, on the real broker', () => {
  const signer = new SnsSigner();
  const certificates = signer.certificates();
  const standIn = new SubscribeStandIn();
  let origin: string;
  let metrics: ProducerMetrics;
  let producer: TestProducer;

  beforeAll(async () => {
    origin = await standIn.start();
    metrics = new ProducerMetrics();
    const logger = createLogger({
      service: 'producer',
      level: 'error',
      silent: process.env['TEST_LOGS'] === undefined,
    });
    producer = await startTestProducer('provider-events', {
      metrics,
      providerEvents: {
        sns: {
          verifier: new SnsVerifier({ topicArns: [TOPIC], certificates }),
          confirmer: new SubscriptionConfirmer({ trustedOrigins: [origin], timeoutMs: 5000, logger }),
        },
        postmark: POSTMARK,
      },
    });
  });

  afterAll(async () => {
    await producer.close();
    await standIn.close();
  });

  const eventsQueue = () => producer.topology.providerEventsQueue.name;

  /** Posts an SNS message as SNS does: JSON under `text/plain; charset=UTF-8`. */
  const postSns = (body: unknown) =>
    request(producer.app)
      .post(SES_PATH)
      .set('content-type', 'text/plain; charset=UTF-8')
      .set('x-amz-sns-message-type', String((body as { Type?: unknown }).Type))
      .send(JSON.stringify(body));

  const postPostmark = (body: string, credentials = POSTMARK) =>
    request(producer.app)
      .post(POSTMARK_PATH)
      .auth(credentials.user, credentials.password)
      .set('content-type', 'application/json')
      .send(body);

  function expectProblem(response: request.Response, status: number, type: string): void {
    expect(response.status).toBe(status);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.body).toMatchObject({ status, type });
  }

  it.each(['1', '2'] as const)(
    'when a Notification signed with SignatureVersion %s arrives, then 200 (empty) and exactly one provider event is queued with its body',
    async (version) => {
      const message = signer.notification(TOPIC, bounce, version);
      const before = (await request(producer.app).get('/metrics')).text;

      const response = await postSns(message);

      expect(response.status).toBe(200);
      expect(response.text).toBe('');
      const [queued, ...more] = await takeMessages(eventsQueue(), 1);
      expect(more).toEqual([]);
      expect(queued?.properties.type).toBe(PROVIDER_EVENT_MESSAGE_TYPE);
      expect(queued?.properties.deliveryMode).toBe(2);
      const decoded = decodeProviderEvent(queued?.content ?? Buffer.alloc(0));
      expect(decoded).toEqual({
        ok: true,
        message: {
          version: 1,
          provider: 'ses',
          received_at: expect.any(String),
          event_key: message.MessageId,
          body: bounce,
        },
      });
      expect(await queueDepth(eventsQueue())).toBe(0);
      const after = (await request(producer.app).get('/metrics')).text;
      const labels = { provider: 'ses', type: 'Bounce', result: 'queued' };
      expect(
        sampleValue(after, 'mailer_provider_events_received_total', labels) -
          sampleValue(before, 'mailer_provider_events_received_total', labels),
      ).toBe(1);
    },
  );

  it('when the same Notification is posted twice (an SNS retry), then both are queued: the worker dedupes on event_key', async () => {
    const message = signer.notification(TOPIC, bounce);
    expect((await postSns(message)).status).toBe(200);
    expect((await postSns(message)).status).toBe(200);
    const queued = await takeMessages(eventsQueue(), 2);
    const keys = queued.map((m) => {
      const decoded = decodeProviderEvent(m.content);
      return decoded.ok ? decoded.message.event_key : undefined;
    });
    expect(keys).toEqual([message.MessageId, message.MessageId]);
  });

  it.each([
    [
      'a tampered Message',
      () => ({ ...signer.notification(TOPIC, bounce), Message: bounce.replace('Permanent', 'Transient') }),
      'bad-signature',
    ],
    ['an unlisted TopicArn', () => signer.notification(OTHER_TOPIC, bounce), 'topic-not-allowed'],
    [
      'an http certificate URL',
      () =>
        signer.sign({
          ...signer.notification(TOPIC, bounce),
          SigningCertURL: signer.certUrl.replace('https:', 'http:'),
        }),
      'bad-certificate-url',
    ],
    [
      'a certificate on another host',
      () =>
        signer.sign({
          ...signer.notification(TOPIC, bounce),
          SigningCertURL: signer.certUrl.replace('sns.us-east-1.amazonaws.com', 'attacker.example'),
        }),
      'bad-certificate-url',
    ],
    [
      'SignatureVersion 3',
      () => ({ ...signer.notification(TOPIC, bounce), SignatureVersion: '3' }),
      'unsupported-signature-version',
    ],
  ])('when a Notification has %s, then 403 and nothing is queued', async (_name, make, reason) => {
    const response = await postSns(make());

    expectProblem(response, 403, '/problems/sns-message-refused');
    expect(response.body.reason).toBe(reason);
    expect(await queueDepth(eventsQueue())).toBe(0);
  });

  it('when a SubscriptionConfirmation for an allowed topic arrives, then its SubscribeURL is fetched once and 200', async () => {
    standIn.requests.length = 0;
    const message = signer.confirmation(
      'SubscriptionConfirmation',
      TOPIC,
      `${origin}/?Action=ConfirmSubscription&Token=abc`,
    );

    const response = await postSns(message);

    expect(response.status).toBe(200);
    expect(standIn.requests).toEqual(['/?Action=ConfirmSubscription&Token=abc']);
    expect(await queueDepth(eventsQueue())).toBe(0);
  });

  it('when the SubscribeURL answers 500, then 503 subscription-not-confirmed (SNS sends it again)', async () => {
    standIn.requests.length = 0;
    const response = await postSns(
      signer.confirmation('SubscriptionConfirmation', TOPIC, `${origin}/refuse?Token=abc`),
    );

    expectProblem(response, 503, '/problems/subscription-not-confirmed');
    expect(response.headers['retry-after']).toBe('5');
    expect(standIn.requests).toEqual(['/refuse?Token=abc']);
  });

  it('when a signed SubscriptionConfirmation is for another topic, then 403 and its SubscribeURL is never fetched', async () => {
    standIn.requests.length = 0;
    const message = signer.confirmation(
      'SubscriptionConfirmation',
      OTHER_TOPIC,
      `${origin}/?Action=ConfirmSubscription&Token=abc`,
    );

    const response = await postSns(message);

    expectProblem(response, 403, '/problems/sns-message-refused');
    expect(standIn.requests).toEqual([]);
  });

  it("when an allowed topic's SubscribeURL is not on an SNS host or a trusted origin, then 403 and nothing is fetched", async () => {
    standIn.requests.length = 0;
    const elsewhere = origin.replace('127.0.0.1', 'localhost');
    const response = await postSns(signer.confirmation('SubscriptionConfirmation', TOPIC, `${elsewhere}/?Token=abc`));

    expectProblem(response, 403, '/problems/sns-message-refused');
    expect(response.body.reason).toBe('subscribe-url-not-allowed');
    expect(standIn.requests).toEqual([]);
  });

  it('when an UnsubscribeConfirmation (Token signed) arrives, then 200, nothing fetched and nothing queued', async () => {
    standIn.requests.length = 0;
    const response = await postSns(
      signer.confirmation('UnsubscribeConfirmation', TOPIC, `${origin}/?Action=ConfirmSubscription&Token=x`, '1'),
    );

    expect(response.status).toBe(200);
    expect(standIn.requests).toEqual([]);
    expect(await queueDepth(eventsQueue())).toBe(0);
  });

  it.each([
    ['not JSON', '{"Type":'],
    ['not an SNS message', JSON.stringify({ hello: 'world' })],
    ['an array', '[]'],
  ])('when the SNS body is %s, then 400 and nothing is queued', async (_name, body) => {
    const response = await request(producer.app).post(SES_PATH).set('content-type', 'text/plain').send(body);

    expectProblem(response, 400, '/problems/invalid-provider-event');
    expect(await queueDepth(eventsQueue())).toBe(0);
  });

  it('when the SNS body is over 300 KB, then 413 and nothing is queued', async () => {
    const message = signer.notification(TOPIC, 'x'.repeat(300 * 1024));
    const response = await postSns(message);

    expectProblem(response, 413, '/problems/too-large');
    expect(response.body.detail).toContain(String(300 * 1024));
    expect(await queueDepth(eventsQueue())).toBe(0);
  });

  describe('Postmark', () => {
    const hardBounce = JSON.stringify({
      RecordType: 'Bounce',
      ID: 42,
      Type: 'HardBounce',
      TypeCode: 1,
      MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
      Email: 'jane@example.org',
      Inactive: true,
      Metadata: { email_id: '0190a0b0-0000-7000-8000-000000000001' },
    });

    it.each([
      ['a wrong password', { ...POSTMARK, password: 'a-long-random-webhook-passworD' }],
      ['a wrong user', { ...POSTMARK, user: 'postmark-hook' }],
    ])('when the webhook has %s, then 401 with a Basic challenge and nothing is queued', async (_name, credentials) => {
      const response = await postPostmark(hardBounce, credentials);

      expectProblem(response, 401, '/problems/unauthorized');
      expect(response.headers['www-authenticate']).toBe('Basic realm="postmark-events"');
      expect(await queueDepth(eventsQueue())).toBe(0);
    });

    it('when the webhook has no credentials, then 401 and nothing is queued', async () => {
      const response = await request(producer.app)
        .post(POSTMARK_PATH)
        .set('content-type', 'application/json')
        .send(hardBounce);

      expectProblem(response, 401, '/problems/unauthorized');
      expect(await queueDepth(eventsQueue())).toBe(0);
    });

    it('when a Bounce comes with the right credentials, then 200 and it is queued byte for byte', async () => {
      const response = await postPostmark(hardBounce);

      expect(response.status).toBe(200);
      const [queued] = await takeMessages(eventsQueue(), 1);
      const decoded = decodeProviderEvent(queued?.content ?? Buffer.alloc(0));
      expect(decoded).toEqual({
        ok: true,
        message: { version: 1, provider: 'postmark', received_at: expect.any(String), body: hardBounce },
      });
      expect(await queueDepth(eventsQueue())).toBe(0);
    });

    it.each(['Open', 'Click'])(
      'when a %s arrives, then 200 and nothing is queued, but it is counted',
      async (recordType) => {
        const before = (await request(producer.app).get('/metrics')).text;
        const response = await postPostmark(
          JSON.stringify({ RecordType: recordType, MessageID: 'm', Recipient: 'jane@example.org' }),
        );

        expect(response.status).toBe(200);
        expect(await queueDepth(eventsQueue())).toBe(0);
        const after = (await request(producer.app).get('/metrics')).text;
        const labels = { provider: 'postmark', type: recordType, result: 'ignored' };
        expect(
          sampleValue(after, 'mailer_provider_events_received_total', labels) -
            sampleValue(before, 'mailer_provider_events_received_total', labels),
        ).toBe(1);
      },
    );

    it.each([
      ['no RecordType', JSON.stringify({ ID: 1 })],
      ['a numeric RecordType', JSON.stringify({ RecordType: 1 })],
      ['not JSON', '{"RecordType":'],
    ])('when the body has %s, then 400 and nothing is queued', async (_name, body) => {
      const response = await postPostmark(body);

      expectProblem(response, 400, '/problems/invalid-provider-event');
      expect(await queueDepth(eventsQueue())).toBe(0);
    });

    it('when the body is over 1 MB, then 413 and nothing is queued', async () => {
      const body = JSON.stringify({ RecordType: 'Bounce', ID: 1, Content: 'x'.repeat(1024 * 1024) });
      const response = await postPostmark(body);

      expectProblem(response, 413, '/problems/too-large');
      expect(await queueDepth(eventsQueue())).toBe(0);
    });
  });
});

describe('provider events when the broker cannot confirm', () => {
  const signer = new SnsSigner();
  let producer: TestProducer;

  beforeAll(async () => {
    producer = await startTestProducer('provider-events-down', {
      providerEvents: {
        postmark: POSTMARK,
        sns: {
          verifier: new SnsVerifier({ topicArns: [TOPIC], certificates: signer.certificates() }),
          confirmer: new SubscriptionConfirmer({
            trustedOrigins: [],
            timeoutMs: 1000,
            logger: createLogger({ service: 'producer', level: 'error', silent: true }),
          }),
        },
      },
    });
    await producer.broker.close();
  });

  afterAll(() => producer.close());

  it('when a verified Notification cannot be published, then 503 with Retry-After (SNS retries)', async () => {
    const response = await request(producer.app)
      .post(SES_PATH)
      .set('content-type', 'text/plain; charset=UTF-8')
      .send(JSON.stringify(signer.notification(TOPIC, bounce)));

    expect(response.status).toBe(503);
    expect(response.body).toMatchObject({ type: '/problems/broker-unavailable', reason: 'not-connected' });
    expect(response.headers['retry-after']).toBe('5');
    expect(await queueDepth(producer.topology.providerEventsQueue.name)).toBe(0);
  });

  it('when a Postmark webhook cannot be published, then 503 with Retry-After', async () => {
    const response = await request(producer.app)
      .post(POSTMARK_PATH)
      .auth(POSTMARK.user, POSTMARK.password)
      .set('content-type', 'application/json')
      .send(JSON.stringify({ RecordType: 'Delivery', MessageID: 'm', Recipient: 'jane@example.org' }));

    expect(response.status).toBe(503);
    expect(response.body).toMatchObject({ type: '/problems/broker-unavailable' });
    expect(response.headers['retry-after']).toBe('5');
  });
});

describe('provider-event endpoints left unconfigured', () => {
  let producer: TestProducer;

  beforeAll(async () => {
    producer = await startTestProducer('provider-events-off');
  });

  afterAll(() => producer.close());

  it.each([SES_PATH, POSTMARK_PATH])('when %s is posted to, then 404 not configured', async (path) => {
    const response = await request(producer.app).post(path).set('content-type', 'text/plain').send('{}');

    expect(response.status).toBe(404);
    expect(response.body).toMatchObject({ type: '/problems/not-configured', status: 404 });
    expect(await queueDepth(producer.topology.providerEventsQueue.name)).toBe(0);
  });

  it('when another method is used, then 405 with Allow: POST', async () => {
    const response = await request(producer.app).get(SES_PATH);

    expect(response.status).toBe(405);
    expect(response.headers['allow']).toBe('POST');
  });
});

describe('the built producer, configured from the environment', () => {
  const main = path.resolve(__dirname, '../dist/main.js');
  const signer = new SnsSigner();
  const stranger = new SnsSigner();
  const standIn = new SubscribeStandIn();
  const prefix = uniquePrefix('provider-events-process');
  const topology = buildTopology({
    prefix,
    retryDelaysMs: DEFAULT_RETRY_DELAYS_MS,
    deliveryLimit: DEFAULT_DELIVERY_LIMIT,
  });
  let certDir: string;
  let base: string;
  let service: Service;

  beforeAll(async () => {
    const origin = await standIn.start();
    certDir = await mkdtemp(path.join(tmpdir(), 'sns-certs-'));
    const certUrl = new URL(signer.certUrl);
    await mkdir(path.join(certDir, certUrl.hostname));
    await writeFile(path.join(certDir, certUrl.hostname, certUrl.pathname.slice(1)), signer.publicKeyPem);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    service = runService(main, {
      AMQP_URL,
      AMQP_PREFIX: prefix,
      PORT: String(port),
      HOST: '127.0.0.1',
      LEDGER: 'off',
      LOG_LEVEL: 'info',
      API_KEYS: JSON.stringify([{ name: 'test', key_sha256: 'a'.repeat(64), senders: ['example.com'] }]),
      SNS_TOPIC_ARNS: `${OTHER_TOPIC},${TOPIC}`,
      SNS_CERT_DIR: certDir,
      SNS_TRUSTED_ORIGINS: origin,
      POSTMARK_WEBHOOK_USER: POSTMARK.user,
      POSTMARK_WEBHOOK_PASSWORD: POSTMARK.password,
    });
    await service.logged((line) => line['message'] === 'producer listening');
    // The topology is declared on connecting, which the listening server does not wait for.
    await service.logged((line) => line['message'] === 'broker connected');
  });

  afterAll(async () => {
    service.child.kill('SIGTERM');
    await service.exited;
    await deleteTopology(topology);
    await standIn.close();
    await rm(certDir, { recursive: true, force: true });
  });

  it('when a Notification signed by a certificate in SNS_CERT_DIR arrives, then 200 and it is on the queue', async () => {
    const message = signer.notification(TOPIC, bounce, '1');
    const response = await request(base)
      .post(SES_PATH)
      .set('content-type', 'text/plain; charset=UTF-8')
      .send(JSON.stringify(message));

    expect(response.status).toBe(200);
    const [queued] = await takeMessages(topology.providerEventsQueue.name, 1);
    expect(decodeProviderEvent(queued?.content ?? Buffer.alloc(0))).toMatchObject({
      ok: true,
      message: { provider: 'ses', event_key: message.MessageId, body: bounce },
    });
  });

  it('when the certificate is not in SNS_CERT_DIR, then 503 certificate-unavailable and nothing is queued', async () => {
    const response = await request(base)
      .post(SES_PATH)
      .set('content-type', 'text/plain; charset=UTF-8')
      .send(JSON.stringify(stranger.notification(TOPIC, bounce)));

    expect(response.status).toBe(503);
    expect(response.body).toMatchObject({ type: '/problems/certificate-unavailable' });
    expect(await queueDepth(topology.providerEventsQueue.name)).toBe(0);
  });

  it('when a SubscriptionConfirmation arrives, then its SubscribeURL is fetched and the log names the status, not the URL', async () => {
    const token = 'secret-subscription-token-0123456789';
    const response = await request(base)
      .post(SES_PATH)
      .set('content-type', 'text/plain; charset=UTF-8')
      .send(
        JSON.stringify(
          signer.confirmation(
            'SubscriptionConfirmation',
            TOPIC,
            `${standIn.origin}/?Action=ConfirmSubscription&Token=${token}`,
          ),
        ),
      );

    expect(response.status).toBe(200);
    expect(standIn.requests).toEqual([`/?Action=ConfirmSubscription&Token=${token}`]);
    const line = await service.logged((entry) => entry['message'] === 'sns subscription confirmed');
    expect(line).toMatchObject({ status: 200, topic_arn: TOPIC });
    expect(service.output()).not.toContain(token);
  });

  it('when a Postmark webhook carries the configured credentials, then 200 and it is queued', async () => {
    const body = JSON.stringify({
      RecordType: 'Delivery',
      MessageID: 'm-1',
      Recipient: 'jane@example.org',
      DeliveredAt: '2026-12-07T21:00:00Z',
    });
    const response = await request(base)
      .post(POSTMARK_PATH)
      .auth(POSTMARK.user, POSTMARK.password)
      .set('content-type', 'application/json')
      .send(body);

    expect(response.status).toBe(200);
    const [queued] = await takeMessages(topology.providerEventsQueue.name, 1);
    expect(decodeProviderEvent(queued?.content ?? Buffer.alloc(0))).toMatchObject({
      ok: true,
      message: { provider: 'postmark', body },
    });
    expect(service.output()).not.toContain('jane@example.org');
  });
});
