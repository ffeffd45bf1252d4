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
  /**
   * Delay before each retry of a webhook delivery, in milliseconds, in order (docs/events.md); may
   * repeat a value (two tries 10 h apart share the 10 h queue). {@link DEFAULT_WEBHOOK_RETRY_DELAYS_MS}
   * when absent.
   */
  readonly webhookRetryDelaysMs?: readonly number[];
  /**
   * TTL of the webhook wait queue, where a delivery waits when its endpoint already has as many
   * deliveries in flight as it may ({@link WEBHOOK_WAIT_DELAY_MS} when absent; tests set it short).
   */
  readonly webhookWaitDelayMs?: number;
}

/** Svix's retry schedule: a delivery is tried at once, then after each of these (about 27.6 h in all). */
export const DEFAULT_WEBHOOK_RETRY_DELAYS_MS: readonly number[] = [
  5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
];

/** Fixed delay of the webhook wait queue (an endpoint at its in-flight bound). */
export const WEBHOOK_WAIT_DELAY_MS = 1_000;

/** Routing key of the webhook deliveries queue's binding on the webhooks exchange. */
export const WEBHOOK_DELIVERY_ROUTING_KEY = 'delivery';

/** Routing key, on the webhooks exchange, of the wait queue. */
export const WEBHOOK_WAIT_ROUTING_KEY = 'wait';

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
  /**
   * Topic: the outbox relay publishes every lifecycle event (docs/events.md) with its type as the
   * routing key (`email.sent`, …). Other services bind queues of their own to it.
   */
  readonly eventsExchange: ExchangeSpec;
  /**
   * Bound to {@link eventsExchange} with `#`: the webhook fan-out reads every event from it. Not in
   * {@link queues}: only a consumer that delivers webhooks declares it (see
   * {@link withWebhookFanOut}), so a deployment with webhooks off keeps no queue of every event
   * that nothing reads.
   */
  readonly webhookEventsQueue: QueueSpec;
  /**
   * Direct: one message per (event, endpoint) delivery, with {@link WEBHOOK_DELIVERY_ROUTING_KEY};
   * retry tiers and the wait queue are bound to it by their own routing keys and dead-letter back.
   */
  readonly webhooksExchange: ExchangeSpec;
  /** The deliveries the webhook workers send. */
  readonly webhookDeliveriesQueue: QueueSpec;
  /** One per distinct delay of the webhook retry schedule, shortest first. */
  readonly webhookRetryTiers: readonly RetryTier[];
  /** Where a delivery waits {@link WEBHOOK_WAIT_DELAY_MS} while its endpoint is at its in-flight bound. */
  readonly webhookWaitQueue: QueueSpec;
  /** Fanout: where deliveries go after their last try, or past the delivery limit. */
  readonly webhooksDeadExchange: ExchangeSpec;
  /** Parked deliveries (replayable with `mailer webhooks replay`). */
  readonly webhooksDeadQueue: QueueSpec;
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
  const eventsExchange: ExchangeSpec = { name: `${prefix}.events`, type: 'topic' };
  const webhooksExchange: ExchangeSpec = { name: `${prefix}.webhooks`, type: 'direct' };
  const webhooksDeadExchange: ExchangeSpec = { name: `${prefix}.webhooks.dead`, type: 'fanout' };
  const webhookEventsQueue: QueueSpec = {
    name: `${prefix}.webhooks.events`,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': options.deliveryLimit,
      'x-dead-letter-exchange': webhooksDeadExchange.name,
      ...safeDeadLettering,
    },
    binding: { exchange: eventsExchange.name, routingKey: '#' },
  };
  const webhookDeliveriesQueue: QueueSpec = {
    name: `${prefix}.webhooks.deliveries`,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': options.deliveryLimit,
      'x-dead-letter-exchange': webhooksDeadExchange.name,
      ...safeDeadLettering,
    },
    binding: { exchange: webhooksExchange.name, routingKey: WEBHOOK_DELIVERY_ROUTING_KEY },
  };
  const backToDeliveries = {
    'x-queue-type': 'quorum',
    'x-dead-letter-exchange': webhooksExchange.name,
    'x-dead-letter-routing-key': WEBHOOK_DELIVERY_ROUTING_KEY,
    ...safeDeadLettering,
  } as const;
  const webhookDelays = [...new Set(options.webhookRetryDelaysMs ?? DEFAULT_WEBHOOK_RETRY_DELAYS_MS)].sort(
    (a, b) => a - b,
  );
  const webhookRetryTiers = webhookDelays.map((delayMs): RetryTier => {
    const routingKey = `retry.${delayName(delayMs)}`;
    return {
      delayMs,
      routingKey,
      queue: {
        name: `${prefix}.webhooks.${routingKey}`,
        arguments: { ...backToDeliveries, 'x-message-ttl': delayMs },
        binding: { exchange: webhooksExchange.name, routingKey },
      },
    };
  });
  const webhookWaitQueue: QueueSpec = {
    name: `${prefix}.webhooks.wait`,
    arguments: { ...backToDeliveries, 'x-message-ttl': options.webhookWaitDelayMs ?? WEBHOOK_WAIT_DELAY_MS },
    binding: { exchange: webhooksExchange.name, routingKey: WEBHOOK_WAIT_ROUTING_KEY },
  };
  const webhooksDeadQueue: QueueSpec = {
    name: `${prefix}.webhooks.dead`,
    arguments: { 'x-queue-type': 'quorum' },
    binding: { exchange: webhooksDeadExchange.name, routingKey: '' },
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
    eventsExchange,
    webhookEventsQueue,
    webhooksExchange,
    webhookDeliveriesQueue,
    webhookRetryTiers,
    webhookWaitQueue,
    webhooksDeadExchange,
    webhooksDeadQueue,
    exchanges: [
      workExchange,
      retryExchange,
      deadExchange,
      providerEventsExchange,
      providerEventsDeadExchange,
      eventsExchange,
      webhooksExchange,
      webhooksDeadExchange,
    ],
    queues: [
      workQueue,
      deadQueue,
      ...retryTiers.map((tier) => tier.queue),
      providerEventsQueue,
      providerEventsRetryQueue,
      providerEventsDeadQueue,
      webhookDeliveriesQueue,
      ...webhookRetryTiers.map((tier) => tier.queue),
      webhookWaitQueue,
      webhooksDeadQueue,
    ],
  };
}

/** Largest `x-message-ttl` RabbitMQ accepts (2^32 - 1 ms, about 49.7 days): the longest retry delay. */
export const MAX_DELAY_MS = 2 ** 32 - 1;

/** `topology` with the webhook fan-out queue among the queues to declare (the webhook workers' connection). */
export function withWebhookFanOut(topology: Topology): Topology {
  return { ...topology, queues: [...topology.queues, topology.webhookEventsQueue] };
}
