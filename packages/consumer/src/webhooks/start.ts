import { hostname } from 'node:os';
import { DestinationPolicy, type Network, type Topology, type WebhookStore, withWebhookFanOut } from '@mailer/contract';
import { BrokerConnection, ConfirmPublisher, type Logger } from '@mailer/amqp';
import { DestinationGuard, type ResolveAll } from './destination-guard';
import { FanOutWorker } from './fan-out-worker';
import { WebhookAgents } from './post';
import { WebhookDeliveryWorker } from './delivery-worker';
import type { WebhookMetrics } from './webhook-metrics';

/** The consumer settings webhooks run with (docs/configuration.md). */
export interface WebhookConfig {
  readonly ledger: 'on' | 'off';
  readonly webhooks: 'on' | 'off';
  readonly webhookSecretsKey: string;
  readonly amqpUrl: string;
  readonly webhookPrefetch: number;
  readonly webhookMaxInFlightPerEndpoint: number;
  readonly webhookTimeoutMs: number;
  readonly webhookDisableAfterMs: number;
  readonly webhookRetryDelaysMs: readonly number[];
  readonly webhookAllowNetworks: readonly Network[];
  readonly webhookAllowHttp: boolean;
}

/** Why webhooks do not run with this configuration, or undefined when they do. */
export function webhooksOffBecause(
  config: Pick<WebhookConfig, 'ledger' | 'webhooks' | 'webhookSecretsKey'>,
): string | undefined {
  if (config.webhooks === 'off') return 'WEBHOOKS=off';
  if (config.ledger === 'off') return 'LEDGER=off (endpoints and deliveries live in the ledger)';
  if (config.webhookSecretsKey === '') return 'WEBHOOK_SECRETS_KEY is not set (signing secrets cannot be read)';
  return undefined;
}

/** Running webhook workers. */
export interface RunningWebhooks {
  readonly fanOut: FanOutWorker;
  readonly deliveries: WebhookDeliveryWorker;
  readonly broker: BrokerConnection;
  /** Events and deliveries being handled now. */
  readonly busy: number;
  /** Stops both workers (waiting up to `timeoutMs` for what is in flight), then the connection. */
  stop(timeoutMs: number): Promise<void>;
}

/** What {@link startWebhooks} needs besides the configuration. */
export interface WebhookDeps {
  readonly topology: Topology;
  /** The ledger's webhook tables; absent with `LEDGER=off` or no `WEBHOOK_SECRETS_KEY`. */
  readonly store: WebhookStore | undefined;
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
  /** Resolves host names for the SSRF guard; the system resolver when absent (tests inject one). */
  readonly resolveAll?: ResolveAll;
  /** Asks whether the ledger answers again after an outage; the store's `endpointCounts` when absent. */
  readonly ping?: () => Promise<void>;
  /** How long endpoint lookups are kept (fan-out and deliveries); the workers' defaults when absent (tests set 0). */
  readonly cacheMs?: number;
  /** Told when the connection fails for good (the consumer exits). */
  readonly onFatal?: (broker: BrokerConnection) => void;
}

/** Version the user agent names. */
const USER_AGENT = 'mailer-webhooks/0.1 (+docs/events.md)';

/**
 * Starts the webhook fan-out and delivery workers on a broker connection of their own, or logs
 * why they do not run (and returns undefined).
 */
export function startWebhooks(config: WebhookConfig, deps: WebhookDeps): RunningWebhooks | undefined {
  const { topology, store, logger, metrics } = deps;
  const off = webhooksOffBecause(config) ?? (store === undefined ? 'the ledger has no webhook store' : undefined);
  if (off !== undefined || store === undefined) {
    logger.info('webhooks are not delivered', { reason: off });
    return undefined;
  }
  const broker = new BrokerConnection({
    url: config.amqpUrl,
    // The fan-out queue exists only where webhooks are delivered: with them off, no queue keeps
    // every event for a reader that never comes.
    topology: withWebhookFanOut(topology),
    logger,
    connectionName: `mailer-consumer-webhooks@${hostname()}:${process.pid}`,
  });
  deps.onFatal?.(broker);
  const publisher = new ConfirmPublisher(broker, {
    timeoutMs: 10_000,
    // A fanned-out event publishes one delivery per endpoint: room for a few at once.
    maxInflight: config.webhookPrefetch * 8,
    logger,
  });
  const agents = new WebhookAgents();
  const guard = new DestinationGuard(new DestinationPolicy(config.webhookAllowNetworks), {
    allowHttp: config.webhookAllowHttp,
    ...(deps.resolveAll === undefined ? {} : { resolveAll: deps.resolveAll }),
  });
  const cache = deps.cacheMs === undefined ? {} : { cacheMs: deps.cacheMs };
  // The cheapest question the webhook store answers: whether the ledger is reachable again.
  const ping = deps.ping ?? (() => store.endpointCounts().then(() => undefined));
  const fanOut = new FanOutWorker({
    broker,
    publisher,
    topology,
    prefetch: config.webhookPrefetch,
    store,
    ping,
    logger,
    ...cache,
  });
  const deliveries = new WebhookDeliveryWorker({
    broker,
    publisher,
    topology,
    prefetch: config.webhookPrefetch,
    maxInFlightPerEndpoint: config.webhookMaxInFlightPerEndpoint,
    retryDelaysMs: config.webhookRetryDelaysMs,
    disableAfterMs: config.webhookDisableAfterMs,
    store,
    ping,
    post: { guard, timeoutMs: config.webhookTimeoutMs, userAgent: USER_AGENT, agents },
    logger,
    ...cache,
    observe: {
      delivery: (outcome, durationMs) => metrics.observeDelivery(outcome, durationMs),
      disabled: (reason) => metrics.observeDisabled(reason),
    },
  });
  metrics.watchEndpoints(() => store.endpointCounts());
  fanOut.start();
  deliveries.start();
  broker.start().catch(() => undefined);
  logger.info('webhooks started', {
    prefetch: config.webhookPrefetch,
    max_in_flight_per_endpoint: config.webhookMaxInFlightPerEndpoint,
    allow_http: config.webhookAllowHttp,
    allowed_networks: config.webhookAllowNetworks.length,
  });
  return {
    fanOut,
    deliveries,
    broker,
    get busy() {
      return fanOut.busy + deliveries.busy;
    },
    async stop(timeoutMs) {
      await Promise.all([fanOut.stop(timeoutMs), deliveries.stop(timeoutMs)]);
      agents.destroy();
      await broker.close();
    },
  };
}
