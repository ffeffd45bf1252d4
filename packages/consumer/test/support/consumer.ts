import { once } from 'node:events';
import { v7 as uuidv7 } from 'uuid';
import {
  ENVELOPE_VERSION,
  EMAIL_MESSAGE_TYPE,
  WORK_ROUTING_KEY,
  buildTopology,
  encodeEnvelope,
  type EmailEnvelope,
  type EmailRequest,
  type RecipientHasher,
  type Topology,
} from '@mailer/contract';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import { Ledger, createPool, migrate } from '@mailer/ledger';
import { DeliveryWorker } from '../../src/amqp/delivery-worker';
import { CircuitBreaker } from '../../src/delivery/circuit-breaker';
import type { ProviderSlot } from '../../src/delivery/failover';
import { handleEmail, type IncomingMessage, type Settlement } from '../../src/delivery/handle-email';
import { RateLimiter } from '../../src/delivery/rate-limiter';
import type { InDoubtPolicy } from '../../src/delivery/send-guard';
import { createLogger } from '@mailer/service';
import type { EmailProvider } from '../../src/providers/provider';
import type { ConsumerMetrics } from '../../src/metrics/consumer-metrics';
import { AMQP_URL, createScratchDatabase, deleteTopology, publishEnvelopes, uniquePrefix } from '@mailer/testkit';

/** The test file's ledger: a scratch database, migrated, made on first use and dropped after the file. */
export interface TestLedger {
  readonly url: string;
  readonly pool: ReturnType<typeof createPool>;
  readonly ledger: Ledger;
}

let fileLedger: Promise<TestLedger & { drop(): Promise<void> }> | undefined;

/**
 * The scratch ledger of this test file (Jest loads this module once per file), created on first
 * use; consumers use it unless told `ledger: 'off'`.
 */
export function testLedger(): Promise<TestLedger> {
  fileLedger ??= (async () => {
    const database = await createScratchDatabase('consumer_test');
    const pool = createPool({ url: database.url, max: 4 });
    await migrate(pool);
    return { url: database.url, pool, ledger: new Ledger({ db: pool }), drop: () => database.drop() };
  })();
  return fileLedger;
}

afterAll(async () => {
  if (fileLedger === undefined) return;
  const scratch = await fileLedger;
  fileLedger = undefined;
  await scratch.pool.end();
  await scratch.drop();
});

/** Settings a test may change; delays are short so retries happen within a test. */
export interface TestConsumerOptions {
  readonly providers: readonly EmailProvider[];
  readonly retryDelaysMs?: readonly number[];
  readonly deliveryLimit?: number;
  readonly maxAttempts?: number;
  readonly prefetch?: number;
  /** Bytes of bodies held unsettled (default: no bound). */
  readonly maxHeldBytes?: number;
  readonly providerTimeoutMs?: number;
  /** Sends per second per provider (default: no limit). */
  readonly ratePerSecond?: number;
  readonly circuit?: { readonly failureThreshold: number; readonly coolDownMs: number };
  /** Replaces the real handler (to make processing crash, for example). */
  readonly handle?: (message: IncomingMessage, abandon: AbortSignal) => Promise<Settlement>;
  /** The ledger to claim and record in; default the file's scratch ledger ({@link testLedger}). */
  readonly ledger?: Ledger | 'off';
  readonly inDoubt?: InDoubtPolicy;
  /** Keys recipients for the suppression list (the check before the send, refused recipients); none: neither. */
  readonly hasher?: RecipientHasher;
  readonly ledgerRetryMs?: { readonly initial: number; readonly max: number };
  /** Metrics wired as main.ts wires them: providers and ledger wrapped, outcomes and settlements observed. */
  readonly metrics?: ConsumerMetrics;
}

/** A consumer running in-process against the real broker, on a topology of its own. */
export interface TestConsumer {
  readonly prefix: string;
  readonly topology: Topology;
  readonly broker: BrokerConnection;
  readonly worker: DeliveryWorker;
  readonly connectionName: string;
  readonly chain: readonly ProviderSlot[];
  /** The ledger it records in; undefined with `ledger: 'off'`. */
  readonly ledger: Ledger | undefined;
  /**
   * Publishes an email to the work queue as the producer would (recording it as accepted first,
   * when there is a ledger, unless `record` is false); returns its id.
   */
  publish(request: EmailRequest, options?: { readonly record?: boolean }): Promise<string>;
  /** Publishes this envelope to the work queue as it is (nothing recorded). */
  publishEnvelope(envelope: EmailEnvelope): Promise<void>;
  /** Publishes raw bytes to the work queue (for undecodable messages). */
  publishRaw(body: Buffer, messageId: string): Promise<void>;
  close(): Promise<void>;
}

export const testLogger = createLogger({
  service: 'consumer',
  level: 'debug',
  silent: process.env['TEST_LOGS'] === undefined,
});

/** The client (API key name) of the emails tests publish. */
export const TEST_CLIENT = 'test';

/** A new envelope for `request`, as the producer makes one: a UUIDv7 id, accepted now, client {@link TEST_CLIENT}. */
export function envelopeOf(request: EmailRequest): EmailEnvelope {
  return {
    version: ENVELOPE_VERSION,
    id: uuidv7(),
    accepted_at: new Date().toISOString(),
    client: TEST_CLIENT,
    request,
  };
}

/** What the producer records for an envelope before publishing it. */
export function acceptedOf(envelope: EmailEnvelope) {
  const { to, cc, bcc } = envelope.request;
  return {
    id: envelope.id,
    client: envelope.client,
    acceptedAt: new Date(envelope.accepted_at),
    recipients: [...(to ?? []), ...(cc ?? []), ...(bcc ?? [])].map((address) => address.email),
  };
}

/** Records the emails as the producer does, then publishes them to the work exchange; resolves with their ids. */
export async function recordAndPublish(topology: Topology, requests: readonly EmailRequest[]): Promise<string[]> {
  const envelopes = requests.map(envelopeOf);
  await (await testLedger()).ledger.recordAccepted(envelopes.map(acceptedOf));
  await publishEnvelopes(topology, envelopes);
  return envelopes.map((envelope) => envelope.id);
}

/** Starts the delivery worker on a unique prefix, consuming once the first channel is ready. */
export async function startTestConsumer(label: string, options: TestConsumerOptions): Promise<TestConsumer> {
  const prefix = uniquePrefix(label);
  const topology = buildTopology({
    prefix,
    retryDelaysMs: options.retryDelaysMs ?? [200, 400],
    deliveryLimit: options.deliveryLimit ?? 3,
  });
  const connectionName = `test-consumer-${prefix}`;
  const ledger = options.ledger === 'off' ? undefined : (options.ledger ?? (await testLedger()).ledger);
  const { metrics } = options;
  const deliveryLedger =
    ledger === undefined || metrics === undefined
      ? ledger
      : metrics.instrumentLedger(ledger, options.inDoubt ?? 'resend');
  const broker = new BrokerConnection({
    url: AMQP_URL,
    topology,
    logger: testLogger,
    connectionName,
    reconnectDelayMs: { initial: 50, max: 500 },
  });
  const publisher = new ConfirmPublisher(broker, { timeoutMs: 5000, maxInflight: 1000, logger: testLogger });
  const chain: ProviderSlot[] = options.providers.map((provider) => ({
    provider: metrics === undefined ? provider : metrics.instrumentProvider(provider),
    timeoutMs: options.providerTimeoutMs ?? 2000,
    limiter: new RateLimiter(options.ratePerSecond ?? Number.POSITIVE_INFINITY),
    circuit: new CircuitBreaker(options.circuit ?? { failureThreshold: 1000, coolDownMs: 60_000 }),
  }));
  const handle =
    options.handle ??
    ((message: IncomingMessage, abandon: AbortSignal) =>
      handleEmail(
        {
          chain,
          now: () => new Date(),
          policy: { maxAttempts: options.maxAttempts ?? 3, maxAgeMs: 3_600_000, tiers: topology.retryTiers },
          ...(deliveryLedger === undefined
            ? {}
            : {
                ledger: {
                  port: deliveryLedger,
                  inDoubt: options.inDoubt ?? 'resend',
                  ...(options.hasher === undefined ? {} : { hasher: options.hasher }),
                },
              }),
          ...(metrics === undefined
            ? {}
            : { observe: (outcome, acceptedAt) => metrics.observeDelivery(outcome, acceptedAt) }),
        },
        message,
        abandon,
      ));
  const worker = new DeliveryWorker({
    broker,
    publisher,
    topology,
    prefetch: options.prefetch ?? 10,
    ...(options.maxHeldBytes === undefined ? {} : { maxHeldBytes: options.maxHeldBytes }),
    logger: testLogger,
    handle,
    ...(deliveryLedger === undefined ? {} : { ledger: deliveryLedger }),
    ...(options.ledgerRetryMs === undefined ? {} : { ledgerRetryMs: options.ledgerRetryMs }),
  });
  if (metrics !== undefined) {
    metrics.watchChain(chain);
    metrics.watchWorker(worker, options.prefetch ?? 10);
  }
  worker.start();
  const consuming = once(broker, 'channel');
  await broker.start();
  await consuming.catch(() => undefined);
  const publishRaw = (body: Buffer, messageId: string) =>
    publisher.publish({
      exchange: topology.workExchange.name,
      routingKey: WORK_ROUTING_KEY,
      body,
      messageId,
      properties: { contentType: 'application/json', type: EMAIL_MESSAGE_TYPE },
    });
  return {
    prefix,
    topology,
    broker,
    worker,
    connectionName,
    chain,
    ledger,
    publishRaw,
    publish: async (request, publishOptions = {}) => {
      const envelope = envelopeOf(request);
      if (ledger !== undefined && publishOptions.record !== false) await ledger.recordAccepted([acceptedOf(envelope)]);
      await publishRaw(encodeEnvelope(envelope), envelope.id);
      return envelope.id;
    },
    publishEnvelope: (envelope) => publishRaw(encodeEnvelope(envelope), envelope.id),
    close: async () => {
      await worker.stop(5000);
      await broker.close();
      await Promise.allSettled(options.providers.map((provider) => provider.close?.() ?? Promise.resolve()));
      await deleteTopology(topology);
    },
  };
}

/** Waits for a condition with no event of its own (shared with the other packages' tests). */
export { until } from '@mailer/testkit';
