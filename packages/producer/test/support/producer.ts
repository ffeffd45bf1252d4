import { buildTopology, WORK_ROUTING_KEY, type EmailRequest, type Topology } from '@mailer/contract';
import type express from 'express';
import { v7 as uuidv7 } from 'uuid';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import { AmqpEmailPublisher } from '../../src/amqp/email-publisher';
import { hashKey, type ApiKey } from '../../src/domain/api-keys';
import { AmqpProviderEventPublisher } from '../../src/amqp/provider-event-publisher';
import { AmqpWebhookDeliveryPublisher } from '../../src/amqp/webhook-delivery-publisher';
import type { WebhookDeps } from '../../src/domain/webhooks';
import { createApp, type AppDeps } from '../../src/http/app';
import type { ProducerMetrics } from '../../src/metrics/producer-metrics';
import { combineReadiness } from '../../src/http/routes/health';
import type { EmailLedger, RepairQueue } from '../../src/domain/email-ledger';
import type { LedgerAdapter } from '../../src/ledger/ledger-adapter';
import { createLogger, type Logger } from '@mailer/service';
import { AMQP_URL, deleteTopology, uniquePrefix } from '@mailer/testkit';

/** The key tests authenticate with, allowed to send from example.com and alerts@example.org. */
export const TEST_KEY = 'test-key-0123456789';

/** A second caller, allowed only billing@example.net. */
export const OTHER_KEY = 'other-key-0123456789';

/** A key with every scope, as the development key: it may send, read and change the suppression list. */
export const ADMIN_KEY = 'admin-key-0123456789';

/** A key that may only read and change the suppression list (no senders). */
export const LIST_KEY = 'list-key-0123456789';

export const testApiKeys: readonly ApiKey[] = [
  { name: 'test', keyHash: hashKey(TEST_KEY), senders: ['example.com', 'alerts@example.org'] },
  { name: 'other', keyHash: hashKey(OTHER_KEY), senders: ['billing@example.net'] },
];

/** {@link testApiKeys} and two keys with scopes, for a producer started with `apiKeys: scopedApiKeys`. */
export const scopedApiKeys: readonly ApiKey[] = [
  ...testApiKeys,
  { name: 'admin', keyHash: hashKey(ADMIN_KEY), senders: ['example.com'], scopes: ['send', 'read', 'suppressions'] },
  { name: 'lists', keyHash: hashKey(LIST_KEY), senders: [], scopes: ['suppressions'] },
];

/** A valid request, about 1 KB when `padding` is left at its default. */
export function validEmail(overrides: Partial<EmailRequest> = {}): EmailRequest {
  return {
    from: { email: 'no-reply@example.com', name: 'Example' },
    to: [{ email: 'jane@example.org', name: 'Jane' }],
    subject: 'Your receipt',
    text: 'Thank you for your order. '.repeat(30),
    ...overrides,
  };
}

/** A producer running in-process against the real broker, on a topology of its own. */
export interface TestProducer {
  readonly app: express.Express;
  /** The unique prefix of this producer's exchanges and queues. */
  readonly prefix: string;
  readonly topology: Topology;
  readonly broker: BrokerConnection;
  readonly publisher: ConfirmPublisher;
  /** Part of the AMQP connection name, for closing just this producer's connection. */
  readonly connectionName: string;
  /** Closes the connection and deletes the topology. */
  close(): Promise<void>;
}

/** Options a test may change. */
export interface TestProducerOptions {
  /** Broker URL; defaults to AMQP_URL (tests point this at a proxy to inject faults). */
  readonly amqpUrl?: string;
  readonly publishTimeoutMs?: number;
  readonly maxInflight?: number;
  readonly maxBodyBytes?: number;
  /** Whether the app is draining (shutting down); never, unless given. */
  readonly draining?: () => boolean;
  /** The ledger to record in; absent, the producer runs as with `LEDGER=off`. */
  readonly ledger?: Pick<LedgerAdapter, keyof EmailLedger | 'readiness'>;
  /** Where a 503's records wait to be undone while the ledger is out of reach. */
  readonly repairs?: RepairQueue;
  /** Metrics to time requests, publishes and ledger calls with, and serve on `GET /metrics`. */
  readonly metrics?: ProducerMetrics;
  /** The provider-event endpoints' settings; they publish through this producer's broker connection. */
  readonly providerEvents?: Omit<NonNullable<AppDeps['providerEvents']>, 'publisher'>;
  /** Where the app logs (a test reads what was written); a silent logger unless given. */
  readonly logger?: Logger;
  /** The callers; {@link testApiKeys} unless given. */
  readonly apiKeys?: readonly ApiKey[];
  /** The suppression list's routes; absent, they answer as with `LEDGER=off`. */
  readonly suppressions?: AppDeps['suppressions'];
  /**
   * The webhook routes: their endpoints and URL rules (test deliveries go through this producer's
   * broker connection), or off and why; absent, off.
   */
  readonly webhooks?: Pick<WebhookDeps, 'endpoints' | 'urlRules'> | { readonly off: string };
}

/** Starts the real app with a real broker connection, on a unique prefix. */
export async function startTestProducer(label: string, options: TestProducerOptions = {}): Promise<TestProducer> {
  const prefix = uniquePrefix(label);
  const topology = buildTopology({ prefix, retryDelaysMs: [1000, 5000], deliveryLimit: 5 });
  const logger =
    options.logger ??
    createLogger({ service: 'producer', level: 'error', silent: process.env['TEST_LOGS'] === undefined });
  const connectionName = `test-producer-${prefix}`;
  const broker = new BrokerConnection({
    url: options.amqpUrl ?? AMQP_URL,
    topology,
    logger,
    connectionName,
    reconnectDelayMs: { initial: 50, max: 500 },
  });
  const publisher = new ConfirmPublisher(broker, {
    timeoutMs: options.publishTimeoutMs ?? 5000,
    maxInflight: options.maxInflight ?? 1000,
    logger,
  });
  await broker.start();
  const emailPublisher = new AmqpEmailPublisher(publisher, {
    exchange: topology.workExchange.name,
    routingKey: WORK_ROUTING_KEY,
  });
  const { metrics } = options;
  const app = createApp({
    publisher: metrics === undefined ? emailPublisher : metrics.instrumentPublisher(emailPublisher),
    newId: uuidv7,
    now: () => new Date(),
    ...(options.ledger === undefined ? {} : { ledger: options.ledger }),
    ...(options.repairs === undefined ? {} : { repairs: options.repairs }),
    apiKeys: options.apiKeys ?? testApiKeys,
    logger,
    maxBodyBytes: options.maxBodyBytes ?? 10 * 1024 * 1024,
    readiness: async () =>
      combineReadiness(
        options.ledger === undefined ? [broker.readiness()] : [broker.readiness(), await options.ledger.readiness()],
      ),
    ...(options.draining === undefined ? {} : { draining: options.draining }),
    ...(metrics === undefined ? {} : { metrics }),
    ...(options.suppressions === undefined ? {} : { suppressions: options.suppressions }),
    ...(options.webhooks === undefined
      ? {}
      : {
          webhooks:
            'off' in options.webhooks
              ? options.webhooks
              : {
                  on: {
                    ...options.webhooks,
                    publisher: new AmqpWebhookDeliveryPublisher(publisher, topology),
                    newId: uuidv7,
                    now: () => new Date(),
                  },
                },
        }),
    ...(options.providerEvents === undefined
      ? {}
      : {
          providerEvents: { ...options.providerEvents, publisher: new AmqpProviderEventPublisher(publisher, topology) },
        }),
  });
  return {
    app,
    prefix,
    topology,
    broker,
    publisher,
    connectionName,
    close: async () => {
      await broker.close();
      await deleteTopology(topology);
    },
  };
}
