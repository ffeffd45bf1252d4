import { randomUUID } from 'node:crypto';
import { connect } from 'amqplib';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import { DEFAULT_DELIVERY_LIMIT, buildTopology, type LifecycleEvent, type Topology } from '@mailer/contract';
import { Ledger, Outbox, createPool, migrate } from '@mailer/ledger';
import {
  AMQP_URL,
  createScratchDatabase,
  deleteTopology,
  queueDepth,
  takeMessages,
  uniquePrefix,
  until,
  type ScratchDatabase,
} from '@mailer/testkit';
import { EventsRelay } from '../src/events/relay';
import { testLogger } from './support/consumer';

const logger = testLogger;

let scratch: ScratchDatabase;
let pool: ReturnType<typeof createPool>;
let ledger: Ledger;
let outbox: Outbox;
let topology: Topology;
let broker: BrokerConnection;
let counting: string;

beforeAll(async () => {
  scratch = await createScratchDatabase('relay_test');
  pool = createPool({ url: scratch.url, max: 4 });
  await migrate(pool);
  ledger = new Ledger({ db: pool });
  outbox = new Outbox(pool);
  topology = buildTopology({
    prefix: uniquePrefix('relay'),
    retryDelaysMs: [60_000],
    deliveryLimit: DEFAULT_DELIVERY_LIMIT,
  });
  broker = new BrokerConnection({ url: AMQP_URL, topology, logger, connectionName: 'relay-test' });
  await broker.start();
  // What a backend service would do: a queue of its own bound `#` to the events exchange.
  counting = `${topology.eventsExchange.name}.counting`;
  const model = await connect(AMQP_URL);
  const channel = await model.createChannel();
  await channel.assertQueue(counting, { durable: true });
  await channel.bindQueue(counting, topology.eventsExchange.name, '#');
  await model.close();
});

afterAll(async () => {
  await broker.close();
  const model = await connect(AMQP_URL);
  const channel = await model.createChannel();
  await channel.deleteQueue(counting);
  await model.close();
  await deleteTopology(topology);
  await pool.end();
  await scratch.drop();
});

function relayWith(pollMs: number): EventsRelay {
  return new EventsRelay({
    outbox,
    publisher: new ConfirmPublisher(broker, { timeoutMs: 10_000, maxInflight: 100, logger }),
    exchange: topology.eventsExchange.name,
    batch: 50,
    databaseUrl: scratch.url,
    logger,
    pollMs,
  });
}

const unpublished = async () => (await outbox.lag()).unpublished;

/** Records `n` emails and sends the first `sent` of them: n queued events and `sent` sent ones. */
async function someEmails(n: number, sent: number): Promise<string[]> {
  const emails = Array.from({ length: n }, () => ({
    id: randomUUID(),
    client: 'acme',
    acceptedAt: new Date(),
    recipients: ['jane.doe@example.com'],
  }));
  await ledger.recordAccepted(emails);
  for (const e of emails.slice(0, sent)) {
    await ledger.claimAttempt({ id: e.id, attempt: 1, provider: 'ses' });
    await ledger.recordSent({ id: e.id, attempt: 1, provider: 'ses', providerMessageId: `ses-${e.id}` });
  }
  return emails.map((e) => e.id);
}

describe('the events relay', () => {
  it('when the outbox holds events, then a queue bound # receives each once, keyed by its type, and every row is marked published', async () => {
    const ids = await someEmails(120, 30);
    const relay = relayWith(1_000);
    relay.start();
    try {
      await until(async () => (await unpublished()) === 0, 'the outbox is published', 30_000);
    } finally {
      await relay.stop();
    }

    const messages = await takeMessages(counting, 150, 30_000);
    expect(await queueDepth(counting)).toBe(0);
    const events = messages.map((m) => JSON.parse(m.content.toString('utf8')) as LifecycleEvent);
    expect(new Set(events.map((e) => e.id)).size).toBe(150);
    expect(messages.every((m, k) => m.fields.routingKey === events[k]?.type)).toBe(true);
    expect(messages.every((m, k) => m.properties.messageId === events[k]?.id)).toBe(true);
    expect(
      messages.every((m) => m.properties.contentType === 'application/json' && m.properties.deliveryMode === 2),
    ).toBe(true);
    expect(
      events
        .filter((e) => e.type === 'email.queued')
        .map((e) => e.data.email_id)
        .sort(),
    ).toEqual([...ids].sort());
    expect(
      events
        .filter((e) => e.type === 'email.sent')
        .map((e) => e.data.email_id)
        .sort(),
    ).toEqual(ids.slice(0, 30).sort());
    const { rows } = await pool.query<{ n: number }>(
      'SELECT count(*)::integer AS n FROM outbox WHERE published_at IS NULL',
    );
    expect(rows[0]?.n).toBe(0);
  });

  it('when events are written while the relay idles with a long poll, then the NOTIFY wakes it and they are published', async () => {
    // A poll far longer than the test's budget: only the notification can bring these out.
    const relay = relayWith(600_000);
    relay.start();
    try {
      await until(async () => (await unpublished()) === 0, 'the relay is idle', 30_000);
      await someEmails(10, 0);
      await until(async () => (await unpublished()) === 0, 'the new events are published', 30_000);
    } finally {
      await relay.stop();
    }
    const messages = await takeMessages(counting, 10, 30_000);
    expect(await queueDepth(counting)).toBe(0);
    expect(messages.map((m) => m.fields.routingKey)).toEqual(Array.from({ length: 10 }, () => 'email.queued'));
  });

  it('when no queue is bound to the events exchange (webhooks off, no subscriber), then the relay still publishes and marks every row, and nothing is returned or retried', async () => {
    const model = await connect(AMQP_URL);
    const channel = await model.createChannel();
    await channel.unbindQueue(counting, topology.eventsExchange.name, '#');
    const relay = relayWith(1_000);
    try {
      await someEmails(20, 5);
      relay.start();
      await until(async () => (await unpublished()) === 0, 'the outbox is published with no queue bound', 30_000);
    } finally {
      await relay.stop();
      await channel.bindQueue(counting, topology.eventsExchange.name, '#');
      await model.close();
    }
    expect(await queueDepth(counting)).toBe(0);
    const { rows } = await pool.query<{ n: number }>(
      'SELECT count(*)::integer AS n FROM outbox WHERE published_at IS NULL',
    );
    expect(rows[0]?.n).toBe(0);
  });
});
