import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { connect, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { Webhook } from 'standardwebhooks';
import {
  WEBHOOK_DELIVERY_ROUTING_KEY,
  WebhookDeliveryHeaders,
  buildTopology,
  parseNetwork,
  type EmailState,
  type LifecycleEvent,
  type LifecycleEventType,
  type Network,
  type Topology,
  type WebhookDeliveryMessage,
  type WebhookDeliveryRecord,
  type WebhookStore,
  deliveryIdOf,
} from '@mailer/contract';
import { Webhooks } from '@mailer/ledger';
import { AMQP_URL, deleteTopology, uniquePrefix } from '@mailer/testkit';
import { ConsumerMetrics } from '../src/metrics/consumer-metrics';
import type { ResolveAll } from '../src/webhooks/destination-guard';
import { startWebhooks, type RunningWebhooks, type WebhookConfig } from '../src/webhooks/start';
import { testLedger, testLogger, until } from './support/consumer';
import { WebhookReceiver, type ReceivedRequest } from './support/webhook-receiver';

/*
 * The webhook workers on the real broker and a real PostgreSQL (the file's scratch ledger, with
 * the ledger's own webhook store), delivering to a receiver on 127.0.0.1. Lifecycle events are
 * published to the events exchange as the outbox relay publishes them. Retries wait 200 ms then
 * 400 ms; a delivery over its endpoint's in-flight bound waits 100 ms.
 */

const KEY = randomBytes(32).toString('base64');
const DAY_MS = 24 * 60 * 60 * 1000;
const RETRY_DELAYS_MS = [200, 400];
/** Budget for one delivery to arrive through the workers (generous: the machine may be busy). */
const ARRIVAL_MS = 30_000;

// The Standard Webhooks reference vector: standard-webhooks/standard-webhooks,
// libraries/javascript/src/webhook.test.ts ("sign function works"), commit 10d3e46d720c4e5861a792bec25792a04ad4e2b3.
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: '1614265330',
  payload: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

/** An independent signer: HMAC-SHA256 over `id.timestamp.body` with the base64-decoded secret (the spec's steps). */
function independentSign(secret: string, id: string, timestamp: string, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** An independent verifier: headers present, timestamp within 5 minutes of `nowSeconds`, one v1 signature equal in constant time. */
function independentVerify(secret: string, headers: IncomingHttpHeaders, body: string, nowSeconds: number): boolean {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signatures !== 'string') return false;
  if (!/^\d+$/.test(timestamp) || Math.abs(nowSeconds - Number(timestamp)) > 300) return false;
  const expected = Buffer.from(independentSign(secret, id, timestamp, body).slice(3), 'base64');
  return signatures.split(' ').some((entry) => {
    const [version, signature] = entry.split(',');
    if (version !== 'v1' || signature === undefined) return false;
    const given = Buffer.from(signature, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/** The library's verdict on a received request (throws WebhookVerificationError when it fails). */
function libraryVerify(secret: string, request: ReceivedRequest): unknown {
  const headers: Record<string, string> = {};
  for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    const value = request.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  return new Webhook(secret).verify(request.body, headers);
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

const STATES: Record<LifecycleEventType, EmailState> = {
  'email.queued': 'queued',
  'email.suppressed': 'suppressed',
  'email.retrying': 'retrying',
  'email.parked': 'parked',
  'email.in_doubt': 'sending',
  'email.abandoned': 'abandoned',
  'email.sent': 'sent',
  'email.delivery_delayed': 'sent',
  'email.delivered': 'delivered',
  'email.bounced': 'bounced',
  'email.complained': 'complained',
};

function lifecycleEvent(
  client: string,
  type: LifecycleEventType,
  emailId = randomUUID(),
  sequence = 1,
): LifecycleEvent {
  return {
    id: randomUUID(),
    type,
    timestamp: new Date().toISOString(),
    sequence,
    data: {
      email_id: emailId,
      client,
      state: STATES[type],
      attempt: 1,
      recipients: ['j***@example.com'],
      provider: 'ses',
      provider_message_id: null,
      tags: { order: '42' },
      metadata: null,
    },
  };
}

const networks = (...raw: string[]): Network[] => raw.map((r) => parseNetwork(r) as Network);

/** One webhook instance on a topology of its own, with the receiver, a dead-queue reader and metrics. */
interface Harness {
  readonly topology: Topology;
  readonly running: RunningWebhooks;
  readonly metrics: ConsumerMetrics;
  readonly parked: ConsumeMessage[];
  readonly model: ChannelModel;
}

async function startHarness(
  label: string,
  settings: { allow: Network[]; resolveAll: ResolveAll; store?: WebhookStore; deliveryLimit?: number },
): Promise<Harness> {
  const topology = buildTopology({
    prefix: uniquePrefix(label),
    retryDelaysMs: [200],
    deliveryLimit: settings.deliveryLimit ?? 5,
    webhookRetryDelaysMs: RETRY_DELAYS_MS,
    webhookWaitDelayMs: 100,
  });
  const config: WebhookConfig = {
    ledger: 'on',
    webhooks: 'on',
    webhookSecretsKey: KEY,
    amqpUrl: AMQP_URL,
    webhookPrefetch: 10,
    webhookMaxInFlightPerEndpoint: 2,
    webhookTimeoutMs: 10_000,
    webhookDisableAfterMs: 5 * DAY_MS,
    webhookRetryDelaysMs: RETRY_DELAYS_MS,
    webhookAllowNetworks: settings.allow,
    webhookAllowHttp: true,
  };
  const metrics = new ConsumerMetrics();
  const running = startWebhooks(config, {
    topology,
    store: settings.store ?? store,
    logger: testLogger,
    metrics: metrics.webhooks,
    resolveAll: settings.resolveAll,
    // Every lookup reads the ledger, so a rotation or a disable shows at once.
    cacheMs: 0,
  });
  if (running === undefined) throw new Error('webhooks did not start');
  await until(() => running.broker.ready, 'the webhook connection declared the topology', ARRIVAL_MS);
  const model = await connect(AMQP_URL);
  const channel = await model.createChannel();
  const parked: ConsumeMessage[] = [];
  await channel.consume(topology.webhooksDeadQueue.name, (message) => {
    if (message === null) return;
    parked.push(message);
    channel.ack(message);
  });
  return { topology, running, metrics, parked, model };
}

async function stopHarness(harness: Harness): Promise<void> {
  await harness.running.stop(5_000);
  await harness.model.close();
  await deleteTopology(harness.topology);
}

/** Publishes events to the events exchange as the relay does: routing key = type, persistent, confirmed. */
async function publishEvents(topology: Topology, events: readonly LifecycleEvent[]): Promise<void> {
  const model = await connect(AMQP_URL);
  try {
    const channel = await model.createConfirmChannel();
    for (const event of events) {
      channel.publish(topology.eventsExchange.name, event.type, Buffer.from(JSON.stringify(event)), {
        persistent: true,
        mandatory: true,
        messageId: event.id,
        contentType: 'application/json',
        type: event.type,
      });
    }
    await channel.waitForConfirms();
    await channel.close();
  } finally {
    await model.close();
  }
}

/** Publishes raw bodies to `exchange` with `routingKey`, confirmed. */
async function publishRaw(exchange: string, routingKey: string, bodies: readonly Buffer[]): Promise<void> {
  const model = await connect(AMQP_URL);
  try {
    const channel = await model.createConfirmChannel();
    for (const body of bodies) {
      channel.publish(exchange, routingKey, body, { persistent: true, mandatory: true, messageId: randomUUID() });
    }
    await channel.waitForConfirms();
    await channel.close();
  } finally {
    await model.close();
  }
}

let store: Webhooks;
let receiver: WebhookReceiver;
let base: string;

beforeAll(async () => {
  const { pool } = await testLedger();
  store = new Webhooks(pool, KEY);
  receiver = new WebhookReceiver();
  base = await receiver.listen();
}, 60_000);

afterAll(async () => {
  await receiver.close();
});

/** An endpoint of `client` at `path` of the receiver (or at `url`), every event type. */
async function endpointAt(client: string, url: string) {
  return store.createEndpoint({ client, url, eventTypes: [], description: null });
}

/** The endpoint's delivery records once `matches` holds for one of them. */
async function recordWhen(
  endpointId: string,
  matches: (record: WebhookDeliveryRecord) => boolean,
  what: string,
): Promise<WebhookDeliveryRecord> {
  let found: WebhookDeliveryRecord | undefined;
  await until(
    async () => {
      found = (await store.listDeliveries(endpointId, { limit: 50 })).items.find(matches);
      return found !== undefined;
    },
    what,
    ARRIVAL_MS,
  );
  return found as WebhookDeliveryRecord;
}

describe('webhook deliveries to an allowed receiver', () => {
  let harness: Harness;
  const client = () => `client-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    harness = await startHarness('webhooks', {
      allow: networks('127.0.0.0/8'),
      // A name the test resolves itself: deliveries go by name, checked at connect time.
      resolveAll: (hostname) =>
        hostname === 'hooks.test'
          ? Promise.resolve([{ address: '127.0.0.1', family: 4 }])
          : Promise.reject(new Error('unknown')),
    });
  }, 60_000);

  afterAll(async () => {
    await stopHarness(harness);
  });

  it('when the independent verifier signs the specification’s test vector, then it gets the specification’s signature', () => {
    expect(independentSign(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.payload)).toBe(VECTOR.signature);
    const headers = {
      'webhook-id': VECTOR.id,
      'webhook-timestamp': VECTOR.timestamp,
      'webhook-signature': VECTOR.signature,
    };
    expect(independentVerify(VECTOR.secret, headers, VECTOR.payload, Number(VECTOR.timestamp) + 300)).toBe(true);
    expect(independentVerify(VECTOR.secret, headers, VECTOR.payload, Number(VECTOR.timestamp) + 301)).toBe(false);
  });

  it('when an email fails then heals, then its receiver gets every event once, signed (library and independent check), sortable by sequence', async () => {
    const name = client();
    const path = `/events/${randomUUID()}`;
    const { endpoint, secret } = await endpointAt(name, `http://hooks.test:${receiver.port}${path}`);
    const emailId = randomUUID();
    const events = [
      lifecycleEvent(name, 'email.queued', emailId, 1),
      lifecycleEvent(name, 'email.retrying', emailId, 2),
      lifecycleEvent(name, 'email.sent', emailId, 5),
      lifecycleEvent(name, 'email.delivered', emailId, 6),
    ];
    // Published out of order: the receiver sorts by sequence, nothing promises arrival order.
    await publishEvents(harness.topology, [events[2], events[0], events[3], events[1]] as LifecycleEvent[]);

    await until(() => receiver.on(path).length >= events.length, 'every event arrived', ARRIVAL_MS);
    const received = receiver.on(path);
    expect(received).toHaveLength(events.length);
    for (const request of received) {
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['user-agent']).toMatch(/^mailer-webhooks\//);
      expect(request.headers['webhook-id']).toBe((JSON.parse(request.body) as LifecycleEvent).id);
      expect(request.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
      expect(libraryVerify(secret, request)).toEqual(JSON.parse(request.body));
      expect(independentVerify(secret, request.headers, request.body, nowSeconds())).toBe(true);
    }
    const sorted = received.map((r) => JSON.parse(r.body) as LifecycleEvent).sort((a, b) => a.sequence - b.sequence);
    expect(sorted).toEqual(events);
    for (const event of events) {
      await recordWhen(
        endpoint.id,
        (r) => r.eventId === event.id && r.outcome === 'succeeded',
        `the ${event.type} delivery is recorded as succeeded`,
      );
    }
  });

  it('when a delivery’s timestamp is more than 5 minutes old, then both verifiers refuse it', async () => {
    const name = client();
    const path = `/old/${randomUUID()}`;
    const { secret } = await endpointAt(name, `${base}${path}`);
    await publishEvents(harness.topology, [lifecycleEvent(name, 'email.sent')]);
    await until(() => receiver.on(path).length === 1, 'the delivery arrived', ARRIVAL_MS);
    const [request] = receiver.on(path) as [ReceivedRequest];
    const sentAt = Number(request.headers['webhook-timestamp']);

    expect(independentVerify(secret, request.headers, request.body, sentAt + 301)).toBe(false);
    // The library reads the clock itself: let it see the same request 301 s later.
    jest.useFakeTimers({
      now: (sentAt + 301) * 1000,
      doNotFake: [
        'nextTick',
        'setImmediate',
        'setTimeout',
        'setInterval',
        'clearTimeout',
        'clearInterval',
        'queueMicrotask',
        'performance',
        'hrtime',
      ],
    });
    try {
      expect(() => libraryVerify(secret, request)).toThrow('Message timestamp too old');
    } finally {
      jest.useRealTimers();
    }
    expect(() => libraryVerify(secret, request)).not.toThrow();
  });

  it('when the secret is rotated, then the old secret verifies during the overlap, and a delivery after it is signed with the new one only', async () => {
    const name = client();
    const path = `/rotated/${randomUUID()}`;
    const { endpoint, secret: oldSecret } = await endpointAt(name, `${base}${path}`);

    const overlapping = await store.rotateSecret(name, endpoint.id, DAY_MS);
    await publishEvents(harness.topology, [lifecycleEvent(name, 'email.sent')]);
    await until(() => receiver.on(path).length === 1, 'the delivery in the overlap arrived', ARRIVAL_MS);
    const during = receiver.on(path)[0] as ReceivedRequest;
    expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(2);
    for (const secret of [oldSecret, overlapping?.secret ?? '']) {
      expect(libraryVerify(secret, during)).toEqual(JSON.parse(during.body));
      expect(independentVerify(secret, during.headers, during.body, nowSeconds())).toBe(true);
    }

    // A rotation whose overlap is over at once: the secret it replaces signs nothing more.
    const ended = await store.rotateSecret(name, endpoint.id, 0);
    const replaced = overlapping?.secret ?? '';
    await publishEvents(harness.topology, [lifecycleEvent(name, 'email.delivered')]);
    await until(() => receiver.on(path).length === 2, 'the delivery after the overlap arrived', ARRIVAL_MS);
    const after = receiver.on(path)[1] as ReceivedRequest;
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(() => libraryVerify(replaced, after)).toThrow('No matching signature found');
    expect(independentVerify(replaced, after.headers, after.body, nowSeconds())).toBe(false);
    expect(libraryVerify(ended?.secret ?? '', after)).toEqual(JSON.parse(after.body));
  });

  it('when an event is fanned out twice (the relay published it again), then both deliveries carry the same delivery id and webhook-id', async () => {
    const name = client();
    const path = `/twice/${randomUUID()}`;
    const { endpoint } = await endpointAt(name, `${base}${path}`);
    const event = lifecycleEvent(name, 'email.bounced');
    await publishEvents(harness.topology, [event, event]);
    await until(() => receiver.on(path).length === 2, 'both copies arrived', ARRIVAL_MS);
    expect(receiver.on(path).map((r) => r.headers['webhook-id'])).toEqual([event.id, event.id]);
    const record = await recordWhen(endpoint.id, (r) => r.eventId === event.id, 'the delivery is recorded');
    expect(record.id).toBe(deliveryIdOf(event.id, endpoint.id));
    expect((await store.listDeliveries(endpoint.id, { limit: 50 })).items).toHaveLength(1);
  });

  it('when the receiver answers 500 then 200, then the delivery is tried again after the first delay and succeeds', async () => {
    const name = client();
    const path = `/flaky/${randomUUID()}`;
    receiver.answer(path, (_request, count) => (count === 1 ? 500 : 200));
    const { endpoint } = await endpointAt(name, `${base}${path}`);
    const event = lifecycleEvent(name, 'email.sent');
    await publishEvents(harness.topology, [event]);

    const record = await recordWhen(endpoint.id, (r) => r.outcome === 'succeeded', 'the retry succeeded');
    expect(record).toMatchObject({ eventId: event.id, tries: 2, status: 200, error: null });
    const [first, second] = receiver.on(path) as [ReceivedRequest, ReceivedRequest];
    expect(receiver.on(path)).toHaveLength(2);
    expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
    expect(second.at - first.at).toBeGreaterThanOrEqual((RETRY_DELAYS_MS[0] as number) - 20);
  });

  it('when the retry copy of a failed try cannot be published at first (its delay queue is gone), then it is published once the broker takes it, and the receiver is not sent the same try again', async () => {
    const name = client();
    const path = `/no-tier/${randomUUID()}`;
    receiver.answer(path, (_request, count) => (count === 1 ? 500 : 200));
    const { endpoint } = await endpointAt(name, `${base}${path}`);
    // The first retry tier's queue deleted: its copy comes back unroutable until the worker's
    // connection declares the topology again (it does on a returned message).
    const tier = harness.topology.webhookRetryTiers[0]?.queue.name as string;
    const model = await connect(AMQP_URL);
    try {
      const channel = await model.createChannel();
      await channel.deleteQueue(tier);
    } finally {
      await model.close();
    }
    const event = lifecycleEvent(name, 'email.sent');
    await publishEvents(harness.topology, [event]);

    const record = await recordWhen(endpoint.id, (r) => r.outcome === 'succeeded', 'the retry succeeded');
    expect(record).toMatchObject({ eventId: event.id, tries: 2, status: 200 });
    // One POST per try: the failed try was not made again while its copy waited for the broker.
    expect(receiver.on(path)).toHaveLength(2);
  });

  it('when the receiver answers 500 forever, then after the last try the delivery is parked with the last answer, and recorded parked', async () => {
    const name = client();
    const path = `/down/${randomUUID()}`;
    receiver.answer(path, () => 500);
    const { endpoint } = await endpointAt(name, `${base}${path}`);
    const event = lifecycleEvent(name, 'email.sent');
    await publishEvents(harness.topology, [event]);

    const record = await recordWhen(endpoint.id, (r) => r.outcome === 'parked', 'the delivery is parked');
    expect(record).toMatchObject({ eventId: event.id, tries: RETRY_DELAYS_MS.length + 1, status: 500 });
    // The answer quoted an address: it is stored masked.
    expect(record.error).toBe('failed for o***@example.com with 500');
    expect(receiver.on(path)).toHaveLength(RETRY_DELAYS_MS.length + 1);
    const deliveryId = deliveryIdOf(event.id, endpoint.id);
    await until(
      () => harness.parked.some((m) => m.properties.messageId === deliveryId),
      'the parked copy is in the dead queue',
      ARRIVAL_MS,
    );
    const parked = harness.parked.find((m) => m.properties.messageId === deliveryId) as ConsumeMessage;
    expect(parked.properties.headers).toMatchObject({
      [WebhookDeliveryHeaders.parkedReason]: 'retries-exhausted',
      [WebhookDeliveryHeaders.tries]: 3,
      [WebhookDeliveryHeaders.lastStatus]: 500,
      [WebhookDeliveryHeaders.lastError]: 'failed for o***@example.com with 500',
    });
    expect(JSON.parse(parked.content.toString())).toMatchObject({ delivery_id: deliveryId, try: 3, event });
  });

  it('when the receiver answers 410 Gone, then the endpoint is disabled at once (its GET says gone) and the delivery is not retried', async () => {
    const name = client();
    const path = `/gone/${randomUUID()}`;
    receiver.answer(path, () => 410);
    const { endpoint } = await endpointAt(name, `${base}${path}`);
    await publishEvents(harness.topology, [lifecycleEvent(name, 'email.sent')]);

    const record = await recordWhen(endpoint.id, (r) => r.outcome === 'parked', 'the 410 is recorded');
    expect(record).toMatchObject({ tries: 1, status: 410 });
    expect(await store.getEndpoint(name, endpoint.id)).toMatchObject({
      disabledReason: 'gone',
      disabledAt: expect.any(Date),
    });
    expect(receiver.on(path)).toHaveLength(1);
    const metrics = await harness.metrics.registry.getSingleMetric('mailer_webhook_endpoints_disabled_total')?.get();
    expect(metrics?.values.find((v) => v.labels['reason'] === 'gone')?.value).toBe(1);
  });

  it('when a delivery is due for an endpoint disabled meanwhile, then nothing is sent and the try is recorded skipped', async () => {
    const name = client();
    const path = `/disabled/${randomUUID()}`;
    const { endpoint } = await endpointAt(name, `${base}${path}`);
    await store.updateEndpoint(name, endpoint.id, { enabled: false });
    const event = lifecycleEvent(name, 'email.sent');
    const delivery: WebhookDeliveryMessage = {
      delivery_id: deliveryIdOf(event.id, endpoint.id),
      endpoint_id: endpoint.id,
      client: name,
      try: 2,
      first_try_at: new Date().toISOString(),
      event,
    };
    await publishRaw(harness.topology.webhooksExchange.name, WEBHOOK_DELIVERY_ROUTING_KEY, [
      Buffer.from(JSON.stringify(delivery)),
    ]);

    const record = await recordWhen(endpoint.id, (r) => r.eventId === event.id, 'the skipped try is recorded');
    expect(record).toMatchObject({ outcome: 'skipped', status: null, error: 'endpoint disabled' });
    expect(receiver.on(path)).toEqual([]);
  });

  it('when an event or a delivery message cannot be decoded, then it is parked in the dead queue with the reason', async () => {
    const before = harness.parked.length;
    await publishRaw(harness.topology.eventsExchange.name, 'email.sent', [Buffer.from('not json')]);
    await publishRaw(harness.topology.webhooksExchange.name, WEBHOOK_DELIVERY_ROUTING_KEY, [
      Buffer.from(JSON.stringify({ delivery_id: 'x' })),
    ]);
    await until(() => harness.parked.length >= before + 2, 'both are parked', ARRIVAL_MS);
    const reasons = harness.parked
      .slice(before)
      .map((m) => [
        m.properties.headers?.[WebhookDeliveryHeaders.parkedReason],
        m.properties.headers?.[WebhookDeliveryHeaders.lastError],
      ]);
    expect(reasons).toEqual(
      expect.arrayContaining([
        ['undecodable', 'not JSON'],
        ['undecodable', 'no delivery_id, endpoint_id or client'],
      ]),
    );
  });

  it('when one endpoint is slow, then a fast endpoint’s deliveries arrive meanwhile and the slow one never has more than its bound in flight', async () => {
    const slowClient = client();
    const fastClient = client();
    const slowPath = `/slow/${randomUUID()}`;
    const fastPath = `/fast/${randomUUID()}`;
    let release: () => void = () => undefined;
    const gate = new Promise<number>((resolve) => (release = () => resolve(200)));
    let slowInFlight = 0;
    let slowMostInFlight = 0;
    receiver.answer(slowPath, async () => {
      slowInFlight += 1;
      slowMostInFlight = Math.max(slowMostInFlight, slowInFlight);
      const status = await gate;
      slowInFlight -= 1;
      return status;
    });
    const slow = await endpointAt(slowClient, `${base}${slowPath}`);
    await endpointAt(fastClient, `${base}${fastPath}`);

    await publishEvents(
      harness.topology,
      Array.from({ length: 6 }, () => lifecycleEvent(slowClient, 'email.sent')),
    );
    await until(() => receiver.on(slowPath).length === 2, 'the slow endpoint holds its two in flight', ARRIVAL_MS);
    await publishEvents(
      harness.topology,
      Array.from({ length: 3 }, () => lifecycleEvent(fastClient, 'email.sent')),
    );
    await until(() => receiver.on(fastPath).length === 3, 'the fast endpoint got its deliveries', ARRIVAL_MS);
    // The slow endpoint has answered nothing yet and was never sent more than its bound.
    expect(slowInFlight).toBe(2);
    expect(receiver.on(slowPath)).toHaveLength(2);

    release();
    await until(() => receiver.on(slowPath).length === 6, 'the slow endpoint got the rest', ARRIVAL_MS);
    expect(slowMostInFlight).toBe(2);
    await until(
      async () =>
        (await store.listDeliveries(slow.endpoint.id, { limit: 50, outcomes: ['succeeded'] })).items.length === 6,
      'every slow delivery is recorded as succeeded',
      ARRIVAL_MS,
    );
  });
});

describe('webhook deliveries with the allow list empty (SSRF)', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness('webhooks-ssrf', {
      allow: [],
      resolveAll: (hostname) =>
        hostname === 'internal.test'
          ? Promise.resolve([
              { address: '93.184.215.14', family: 4 },
              { address: '127.0.0.1', family: 4 },
            ])
          : Promise.reject(new Error('unknown')),
    });
  }, 60_000);

  afterAll(async () => {
    await stopHarness(harness);
  });

  it('when endpoints are a name resolving to 127.0.0.1, a listening 127.0.0.1 port and its IPv4-mapped form, then none is connected to and each try records refused destination', async () => {
    const name = `ssrf-${randomUUID().slice(0, 8)}`;
    const before = receiver.connections;
    const endpoints = await Promise.all(
      [
        `http://internal.test:${receiver.port}/ssrf-name`,
        `http://127.0.0.1:${receiver.port}/ssrf-literal`,
        `http://[::ffff:127.0.0.1]:${receiver.port}/ssrf-mapped`,
      ].map((url) => endpointAt(name, url)),
    );
    await publishEvents(harness.topology, [lifecycleEvent(name, 'email.sent')]);

    const records = await Promise.all(
      endpoints.map(({ endpoint }) =>
        recordWhen(endpoint.id, (r) => r.outcome === 'parked', `the delivery to ${endpoint.url} is parked`),
      ),
    );
    expect(records.map((r) => [r.status, r.error])).toEqual([
      [null, 'refused destination: loopback'],
      [null, 'refused destination: loopback'],
      [null, 'refused destination: loopback (IPv4 in IPv6)'],
    ]);
    expect(receiver.connections - before).toBe(0);
    expect(receiver.requests.filter((r) => r.path.startsWith('/ssrf'))).toEqual([]);
  });
});

describe('webhook deliveries while the ledger cannot be reached', () => {
  let harness: Harness;
  /** While set, every call of the wrapped store fails as an unreachable PostgreSQL does. */
  let down = false;
  let refusedCalls = 0;

  function unreachable(): Error {
    refusedCalls += 1;
    return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  }

  beforeAll(async () => {
    // The real store, every call of which fails while `down` is set.
    const flaky = new Proxy(store, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) =>
          down ? Promise.reject(unreachable()) : (value as (...a: unknown[]) => unknown).apply(target, args);
      },
    });
    harness = await startHarness('webhooks-outage', {
      allow: networks('127.0.0.0/8'),
      resolveAll: () => Promise.reject(new Error('no names here')),
      store: flaky,
      // Fewer deliveries than the calls the outage fails: a requeue per failure would dead-letter the event.
      deliveryLimit: 2,
    });
  }, 60_000);

  afterAll(async () => {
    down = false;
    await stopHarness(harness);
  });

  it('when the ledger is out of reach for a while, then the event waits unacked and is delivered once it answers, not dead-lettered', async () => {
    const name = `outage-${randomUUID().slice(0, 8)}`;
    const path = `/outage/${randomUUID()}`;
    const { endpoint } = await endpointAt(name, `${base}${path}`);
    down = true;
    const event = lifecycleEvent(name, 'email.sent');
    await publishEvents(harness.topology, [event]);
    // The fan-out's lookup, then the pings that follow it (200 ms, 400 ms, ...), all refused.
    await until(() => refusedCalls >= 4, 'the ledger was asked several times while down', ARRIVAL_MS);
    expect(receiver.on(path)).toEqual([]);
    down = false;

    await until(() => receiver.on(path).length === 1, 'the delivery arrived after the outage', ARRIVAL_MS);
    expect(receiver.on(path)[0]?.headers['webhook-id']).toBe(event.id);
    await recordWhen(endpoint.id, (r) => r.outcome === 'succeeded', 'the delivery is recorded as succeeded');
    expect(harness.parked).toEqual([]);
  });
});
