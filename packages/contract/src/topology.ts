/**
 * The RabbitMQ topology both services declare (docs/design.md): a work exchange and quorum queue, one
 * delay queue per retry tier that dead-letters back to the work exchange when its fixed TTL runs
 * out, and a dead-letter exchange and queue for what cannot be sent; beside them, the same shape for
 * provider events (docs/feedback.md): an exchange and queue, one 60 s delay queue, a dead queue.
 *
 * Arguments must be identical wherever they are declared: RabbitMQ refuses a declare whose
 * arguments differ from the existing queue's (PRECONDITION_FAILED), which is how a mismatch
 * between services or deployments is caught at start-up.
 */

/** Routing key of the work queue's binding; delay tiers dead-letter back with it. */
export const WORK_ROUTING_KEY = 'email';

/** Routing key of the provider-events queue's binding on the provider-events exchange. */
export const PROVIDER_EVENT_ROUTING_KEY = 'event';

/**
 * Routing key, on the provider-events exchange, of its delay queue: an event whose email is not in
 * the ledger yet is published with it and comes back with {@link PROVIDER_EVENT_ROUTING_KEY}.
 */
export const PROVIDER_EVENT_RETRY_ROUTING_KEY = 'retry';

/** Fixed delay of the provider-events delay queue (one tier: an event waits for its email's ledger row). */
export const PROVIDER_EVENT_RETRY_DELAY_MS = 60_000;

/** What the topology depends on; both services read these from the same configuration keys. */
export interface TopologyOptions {
  /** Prefix of every exchange and queue name, e.g. `mailer`. Tests use a unique one per run. */
  readonly prefix: string;
  /** Delay of each retry tier, in milliseconds, shortest first. */
  readonly retryDelaysMs: readonly number[];
  /** Deliveries of one message before the work queue dead-letters it (poison guard). */
  readonly deliveryLimit: number;
  /**
   * TTL of the provider-events delay queue; {@link PROVIDER_EVENT_RETRY_DELAY_MS} when absent.
   * No configuration key sets it (both services would have to agree on it): tests set it short,
   * on a prefix of their own, to see an event retried without waiting a minute.
   */
  readonly providerEventRetryDelayMs?: number;
}

/** A queue to declare, with its full argument table. */
export interface QueueSpec {
  readonly name: string;
  readonly arguments: Readonly<Record<string, string | number>>;
  /** Exchange and routing key the queue is bound with. */
  readonly binding: { readonly exchange: string; readonly routingKey: string };
}

/** An exchange to declare. */
export interface ExchangeSpec {
  readonly name: string;
  readonly type: 'direct' | 'fanout' | 'topic';
}

/** A retry tier: its routing key on the retry exchange, and its queue. */
export interface RetryTier {
  readonly delayMs: number;
  readonly routingKey: string;
  readonly queue: QueueSpec;
}

/** Every name and argument of the topology. */
export interface Topology {
  readonly workExchange: ExchangeSpec;
  readonly retryExchange: ExchangeSpec;
  readonly deadExchange: ExchangeSpec;
  readonly workQueue: QueueSpec;
  readonly deadQueue: QueueSpec;
  readonly retryTiers: readonly RetryTier[];
  /** Direct: the producer publishes verified provider events with {@link PROVIDER_EVENT_ROUTING_KEY}. */
  readonly providerEventsExchange: ExchangeSpec;
  /** Fanout: where the provider-events queue dead-letters (delivery limit) and the worker parks. */
  readonly providerEventsDeadExchange: ExchangeSpec;
  /** The provider events the worker applies to the ledger. */
  readonly providerEventsQueue: QueueSpec;
  /** Events waiting {@link PROVIDER_EVENT_RETRY_DELAY_MS} (in tests, maybe less) for their email's ledger row. */
  readonly providerEventsRetryQueue: QueueSpec;
  /** Events that could not be applied. */
  readonly providerEventsDeadQueue: QueueSpec;
  readonly exchanges: readonly ExchangeSpec[];
  readonly queues: readonly QueueSpec[];
}

/** Default delay tiers: 10 s, 1 min, 5 min, 30 min, 2 h. */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [10_000, 60_000, 300_000, 1_800_000, 7_200_000];

/** Default poison guard: deliveries before the work queue dead-letters a message. */
export const DEFAULT_DELIVERY_LIMIT = 10;

/** Formats a delay as a short name for a queue: 10s, 1m, 2h, 1500ms. */
export function delayName(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const safeDeadLettering = {
  'x-dead-letter-strategy': 'at-least-once',
  'x-overflow': 'reject-publish',
} as const;

/** Builds the topology for the given options. Pure: declares nothing. */
export function buildTopology(options: TopologyOptions): Topology {
  const { prefix } = options;
  const workExchange: ExchangeSpec = { name: `${prefix}.work`, type: 'direct' };
  const retryExchange: ExchangeSpec = { name: `${prefix}.retry`, type: 'direct' };
  const deadExchange: ExchangeSpec = { name: `${prefix}.dead`, type: 'fanout' };

  const workQueue: QueueSpec = {
    name: `${prefix}.work`,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': options.deliveryLimit,
      'x-dead-letter-exchange': deadExchange.name,
      ...safeDeadLettering,
    },
    binding: { exchange: workExchange.name, routingKey: WORK_ROUTING_KEY },
  };
  const deadQueue: QueueSpec = {
    name: `${prefix}.dead`,
    arguments: { 'x-queue-type': 'quorum' },
    binding: { exchange: deadExchange.name, routingKey: '' },
  };
  const retryTiers = options.retryDelaysMs.map((delayMs): RetryTier => {
    const routingKey = delayName(delayMs);
    return {
      delayMs,
      routingKey,
      queue: {
        name: `${prefix}.retry.${routingKey}`,
        arguments: {
          'x-queue-type': 'quorum',
          'x-message-ttl': delayMs,
          'x-dead-letter-exchange': workExchange.name,
          'x-dead-letter-routing-key': WORK_ROUTING_KEY,
          ...safeDeadLettering,
        },
        binding: { exchange: retryExchange.name, routingKey },
      },
    };
  });
  const providerEventsExchange: ExchangeSpec = { name: `${prefix}.provider-events`, type: 'direct' };
  const providerEventsDeadExchange: ExchangeSpec = { name: `${prefix}.provider-events.dead`, type: 'fanout' };
  const providerEventsQueue: QueueSpec = {
    name: `${prefix}.provider-events`,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': options.deliveryLimit,
      'x-dead-letter-exchange': providerEventsDeadExchange.name,
      ...safeDeadLettering,
    },
    binding: { exchange: providerEventsExchange.name, routingKey: PROVIDER_EVENT_ROUTING_KEY },
  };
  const providerEventsRetryQueue: QueueSpec = {
    name: `${prefix}.provider-events.retry`,
    arguments: {
      'x-queue-type': 'quorum',
      'x-message-ttl': options.providerEventRetryDelayMs ?? PROVIDER_EVENT_RETRY_DELAY_MS,
      'x-dead-letter-exchange': providerEventsExchange.name,
      'x-dead-letter-routing-key': PROVIDER_EVENT_ROUTING_KEY,
      ...safeDeadLettering,
    },
    binding: { exchange: providerEventsExchange.name, routingKey: PROVIDER_EVENT_RETRY_ROUTING_KEY },
  };
  const providerEventsDeadQueue: QueueSpec = {
    name: `${prefix}.provider-events.dead`,
    arguments: { 'x-queue-type': 'quorum' },
    binding: { exchange: providerEventsDeadExchange.name, routingKey: '' },
  };
  return {
    workExchange,
    retryExchange,
    deadExchange,
    workQueue,
    deadQueue,
    retryTiers,
    providerEventsExchange,
    providerEventsDeadExchange,
    providerEventsQueue,
    providerEventsRetryQueue,
    providerEventsDeadQueue,
    exchanges: [workExchange, retryExchange, deadExchange, providerEventsExchange, providerEventsDeadExchange],
    queues: [
      workQueue,
      deadQueue,
      ...retryTiers.map((tier) => tier.queue),
      providerEventsQueue,
      providerEventsRetryQueue,
      providerEventsDeadQueue,
    ],
  };
}

/** Largest `x-message-ttl` RabbitMQ accepts (2^32 - 1 ms, about 49.7 days): the longest retry delay. */
export const MAX_DELAY_MS = 2 ** 32 - 1;
