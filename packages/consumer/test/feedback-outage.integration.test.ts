import { randomUUID } from 'node:crypto';
import { connect } from 'amqplib';
import {
  PROVIDER_EVENT_MESSAGE_TYPE,
  PROVIDER_EVENT_ROUTING_KEY,
  RecipientHasher,
  buildTopology,
  encodeProviderEvent,
  type Topology,
} from '@mailer/contract';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import { Ledger, createPool, migrate } from '@mailer/ledger';
import {
  AMQP_URL,
  deleteTopology,
  queueDepth,
  startPrivatePostgres,
  uniquePrefix,
  type PrivatePostgres,
} from '@mailer/testkit';
import { EventWorker, type EventSettlement } from '../src/feedback/event-worker';
import { handleProviderEvent } from '../src/feedback/handle-event';
import { TEST_CLIENT, testLogger, until } from './support/consumer';

/*
 * The event worker while its ledger (a private PostgreSQL) is stopped: it must keep the events
 * it took unacked and take no more (never requeue them, which would spend their delivery
 * limit), then apply every one once the ledger is back, with no restart.
 */

const hasher = new RecipientHasher({ current: 'feedback-outage-secret-0123456789abcdefgh' });
const RECIPIENTS = Array.from({ length: 5 }, (_, i) => `outage-recipient-${i}@example.com`);

describe('when the ledger stops while provider events arrive', () => {
  let postgres: PrivatePostgres;
  let pool: ReturnType<typeof createPool>;
  let ledger: Ledger;
  let topology: Topology;
  let broker: BrokerConnection;
  let worker: EventWorker;

  beforeAll(async () => {
    postgres = await startPrivatePostgres();
    pool = createPool({ url: postgres.url, max: 4, connectTimeoutMs: 1000 });
    await migrate(pool);
    ledger = new Ledger({ db: pool, hasher });
    topology = buildTopology({ prefix: uniquePrefix('feedback-outage'), retryDelaysMs: [200], deliveryLimit: 3 });
    broker = new BrokerConnection({
      url: AMQP_URL,
      topology,
      logger: testLogger,
      connectionName: `test-events-${topology.providerEventsQueue.name}`,
      reconnectDelayMs: { initial: 50, max: 500 },
    });
    worker = new EventWorker({
      broker,
      publisher: new ConfirmPublisher(broker, { timeoutMs: 5000, maxInflight: 100, logger: testLogger }),
      topology,
      prefetch: 10,
      logger: testLogger,
      ledger,
      ledgerRetryMs: { initial: 50, max: 500 },
      handle: (event) => handleProviderEvent({ ledger, hasher, maxTries: 3 }, event),
    });
    worker.start();
    await broker.start();
  }, 120_000);

  afterAll(async () => {
    await worker.stop(5000);
    await broker.close();
    await deleteTopology(topology);
    await pool.end();
    await postgres.remove();
  });

  it('then it keeps them unacked and takes no more, and applies each once the ledger is back', async () => {
    const settled: EventSettlement[] = [];
    worker.on('settled', (s) => settled.push(s));
    const id = randomUUID();
    const messageId = `postmark-${randomUUID()}`;
    await ledger.recordAccepted([{ id, client: TEST_CLIENT, acceptedAt: new Date(), recipients: RECIPIENTS }]);
    expect(await ledger.claimAttempt({ id, attempt: 1, provider: 'postmark' })).toEqual({ outcome: 'claimed' });
    expect(await ledger.recordSent({ id, attempt: 1, provider: 'postmark', providerMessageId: messageId })).toBe(
      'advanced',
    );

    await postgres.stop('fast');
    const model = await connect(AMQP_URL);
    const channel = await model.createConfirmChannel();
    for (const recipient of RECIPIENTS) {
      const record = {
        RecordType: 'Delivery',
        MessageID: messageId,
        Metadata: { email_id: id },
        Recipient: recipient,
        DeliveredAt: new Date().toISOString(),
      };
      const body = encodeProviderEvent({
        version: 1,
        provider: 'postmark',
        received_at: new Date().toISOString(),
        body: JSON.stringify(record),
      });
      channel.publish(topology.providerEventsExchange.name, PROVIDER_EVENT_ROUTING_KEY, body, {
        persistent: true,
        messageId: randomUUID(),
        type: PROVIDER_EVENT_MESSAGE_TYPE,
      });
    }
    await channel.waitForConfirms();
    await channel.close();
    await model.close();

    await until(
      async () =>
        worker.paused === 'ledger-unavailable' &&
        (await queueDepth(topology.providerEventsQueue.name)) + worker.waitingForLedger === RECIPIENTS.length,
      'the worker has paused with every event kept or queued',
      60_000,
    );
    expect(settled).toEqual([]);

    await postgres.start();
    await until(
      () => settled.filter((s) => s.action === 'ack' && s.result === 'applied').length === RECIPIENTS.length,
      'every event was applied',
      60_000,
    );

    expect(settled.map((s) => s.action)).toEqual(RECIPIENTS.map(() => 'ack'));
    const email = await ledger.getEmail(TEST_CLIENT, id);
    expect(email?.recipientOutcomes.map((r) => r.status)).toEqual(RECIPIENTS.map(() => 'delivered'));
    expect(email?.state).toBe('delivered');
    expect(worker.paused).toBeUndefined();
    expect(await queueDepth(topology.providerEventsQueue.name)).toBe(0);
    expect(await queueDepth(topology.providerEventsDeadQueue.name)).toBe(0);
  });
});
