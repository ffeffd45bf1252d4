import {
  PROVIDER_EVENT_RETRY_DELAY_MS,
  PROVIDER_EVENT_RETRY_ROUTING_KEY,
  PROVIDER_EVENT_ROUTING_KEY,
  WEBHOOK_DELIVERY_ROUTING_KEY,
  WEBHOOK_WAIT_DELAY_MS,
  WORK_ROUTING_KEY,
  buildTopology,
  delayName,
  withWebhookFanOut,
  type TopologyOptions,
} from './topology';

const options: TopologyOptions = { prefix: 'mailer', retryDelaysMs: [10_000, 60_000, 7_200_000], deliveryLimit: 7 };

const webhookQueues = [
  'mailer.webhooks.deliveries',
  'mailer.webhooks.retry.5s',
  'mailer.webhooks.retry.5m',
  'mailer.webhooks.retry.30m',
  'mailer.webhooks.retry.2h',
  'mailer.webhooks.retry.5h',
  'mailer.webhooks.retry.10h',
  'mailer.webhooks.wait',
  'mailer.webhooks.dead',
];

const safeDeadLettering = { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' };

describe('buildTopology', () => {
  const topology = buildTopology(options);

  it('when built, then the exchanges are prefixed: work and retry direct, dead fanout', () => {
    expect(topology.exchanges).toEqual([
      { name: 'mailer.work', type: 'direct' },
      { name: 'mailer.retry', type: 'direct' },
      { name: 'mailer.dead', type: 'fanout' },
      { name: 'mailer.provider-events', type: 'direct' },
      { name: 'mailer.provider-events.dead', type: 'fanout' },
      { name: 'mailer.events', type: 'topic' },
      { name: 'mailer.webhooks', type: 'direct' },
      { name: 'mailer.webhooks.dead', type: 'fanout' },
    ]);
    expect(topology.workExchange).toBe(topology.exchanges[0]);
    expect(topology.retryExchange).toBe(topology.exchanges[1]);
    expect(topology.deadExchange).toBe(topology.exchanges[2]);
    expect(topology.providerEventsExchange).toBe(topology.exchanges[3]);
    expect(topology.providerEventsDeadExchange).toBe(topology.exchanges[4]);
  });

  it('when built, then the webhook fan-out queue takes every event (#) from the topic exchange and dead-letters to the webhooks dead exchange', () => {
    expect(topology.webhookEventsQueue).toEqual({
      name: 'mailer.webhooks.events',
      arguments: {
        'x-queue-type': 'quorum',
        'x-delivery-limit': 7,
        'x-dead-letter-exchange': 'mailer.webhooks.dead',
        ...safeDeadLettering,
      },
      binding: { exchange: 'mailer.events', routingKey: '#' },
    });
  });

  it('when webhooks are delivered, then their connection also declares the fan-out queue; no other declares it', () => {
    expect(topology.queues).not.toContain(topology.webhookEventsQueue);
    expect(withWebhookFanOut(topology).queues).toEqual([...topology.queues, topology.webhookEventsQueue]);
  });

  it('when the webhook schedule repeats a delay, then that delay has one tier, and every tier and the wait queue dead-letter back to the deliveries queue', () => {
    const built = buildTopology({ ...options, webhookRetryDelaysMs: [5_000, 300_000, 36_000_000, 36_000_000] });
    expect(
      built.webhookRetryTiers.map((tier) => [tier.routingKey, tier.queue.name, tier.queue.arguments['x-message-ttl']]),
    ).toEqual([
      ['retry.5s', 'mailer.webhooks.retry.5s', 5_000],
      ['retry.5m', 'mailer.webhooks.retry.5m', 300_000],
      ['retry.10h', 'mailer.webhooks.retry.10h', 36_000_000],
    ]);
    for (const queue of [...built.webhookRetryTiers.map((tier) => tier.queue), built.webhookWaitQueue]) {
      expect(queue.arguments['x-dead-letter-exchange']).toBe('mailer.webhooks');
      expect(queue.arguments['x-dead-letter-routing-key']).toBe(WEBHOOK_DELIVERY_ROUTING_KEY);
      expect(built.queues).toContain(queue);
    }
    expect(built.webhookWaitQueue.arguments['x-message-ttl']).toBe(WEBHOOK_WAIT_DELAY_MS);
    expect(buildTopology(options).webhookRetryTiers.map((tier) => tier.delayMs)).toEqual([
      5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000,
    ]);
  });

  it('when built, then the provider-events queue is quorum with the delivery limit and safe dead-lettering to its own dead exchange', () => {
    expect(topology.providerEventsQueue).toEqual({
      name: 'mailer.provider-events',
      arguments: {
        'x-queue-type': 'quorum',
        'x-delivery-limit': 7,
        'x-dead-letter-exchange': 'mailer.provider-events.dead',
        ...safeDeadLettering,
      },
      binding: { exchange: 'mailer.provider-events', routingKey: PROVIDER_EVENT_ROUTING_KEY },
    });
    expect(topology.providerEventsDeadQueue).toEqual({
      name: 'mailer.provider-events.dead',
      arguments: { 'x-queue-type': 'quorum' },
      binding: { exchange: 'mailer.provider-events.dead', routingKey: '' },
    });
  });

  it('when built, then the provider-events delay queue holds 60 s and dead-letters back to the provider-events exchange with the event key', () => {
    expect(PROVIDER_EVENT_RETRY_DELAY_MS).toBe(60_000);
    expect(topology.providerEventsRetryQueue).toEqual({
      name: 'mailer.provider-events.retry',
      arguments: {
        'x-queue-type': 'quorum',
        'x-message-ttl': 60_000,
        'x-dead-letter-exchange': 'mailer.provider-events',
        'x-dead-letter-routing-key': PROVIDER_EVENT_ROUTING_KEY,
        ...safeDeadLettering,
      },
      binding: { exchange: 'mailer.provider-events', routingKey: PROVIDER_EVENT_RETRY_ROUTING_KEY },
    });
    expect(PROVIDER_EVENT_RETRY_ROUTING_KEY).not.toBe(PROVIDER_EVENT_ROUTING_KEY);
  });

  it('when a test asks for a shorter provider-events delay, then only that queue TTL changes', () => {
    const short = buildTopology({ ...options, providerEventRetryDelayMs: 300 });

    expect(short.providerEventsRetryQueue.arguments['x-message-ttl']).toBe(300);
    expect({ ...short, providerEventsRetryQueue: undefined, queues: undefined }).toEqual({
      ...topology,
      providerEventsRetryQueue: undefined,
      queues: undefined,
    });
  });

  it('when built, then the work queue is quorum with the delivery limit and safe dead-lettering to the dead exchange', () => {
    expect(topology.workQueue).toEqual({
      name: 'mailer.work',
      arguments: {
        'x-queue-type': 'quorum',
        'x-delivery-limit': 7,
        'x-dead-letter-exchange': 'mailer.dead',
        ...safeDeadLettering,
      },
      binding: { exchange: 'mailer.work', routingKey: WORK_ROUTING_KEY },
    });
  });

  it('when built, then the dead-letter queue is quorum and bound to the dead exchange', () => {
    expect(topology.deadQueue).toEqual({
      name: 'mailer.dead',
      arguments: { 'x-queue-type': 'quorum' },
      binding: { exchange: 'mailer.dead', routingKey: '' },
    });
  });

  it('when built, then each delay tier is a quorum queue whose TTL dead-letters back to the work exchange with the work routing key', () => {
    expect(topology.retryTiers).toEqual(
      [
        [10_000, '10s'],
        [60_000, '1m'],
        [7_200_000, '2h'],
      ].map(([delayMs, routingKey]) => ({
        delayMs,
        routingKey,
        queue: {
          name: `mailer.retry.${routingKey}`,
          arguments: {
            'x-queue-type': 'quorum',
            'x-message-ttl': delayMs,
            'x-dead-letter-exchange': 'mailer.work',
            'x-dead-letter-routing-key': 'email',
            ...safeDeadLettering,
          },
          binding: { exchange: 'mailer.retry', routingKey },
        },
      })),
    );
  });

  it('when built, then queues lists work, dead, every tier, the provider-events queues and the webhook queues, in that order', () => {
    expect(topology.queues.map((queue) => queue.name)).toEqual([
      'mailer.work',
      'mailer.dead',
      'mailer.retry.10s',
      'mailer.retry.1m',
      'mailer.retry.2h',
      'mailer.provider-events',
      'mailer.provider-events.retry',
      'mailer.provider-events.dead',
      ...webhookQueues,
    ]);
  });

  it('when there are no delays, then there are no tier queues', () => {
    const bare = buildTopology({ ...options, retryDelaysMs: [] });

    expect(bare.retryTiers).toEqual([]);
    expect(bare.queues.map((queue) => queue.name)).toEqual([
      'mailer.work',
      'mailer.dead',
      'mailer.provider-events',
      'mailer.provider-events.retry',
      'mailer.provider-events.dead',
      ...webhookQueues,
    ]);
  });

  it('when two services build from the same options, then every name and argument is identical', () => {
    expect(buildTopology({ ...options, retryDelaysMs: [...options.retryDelaysMs] })).toEqual(topology);
  });

  it('when the prefix differs, then no name is shared', () => {
    const other = buildTopology({ ...options, prefix: 'test.x' });
    const names = (t: typeof topology) => [...t.exchanges, ...t.queues].map((item) => item.name);

    expect(names(other).every((name) => name.startsWith('test.x.'))).toBe(true);
    expect(names(other).filter((name) => names(topology).includes(name))).toEqual([]);
  });
});

describe('delayName', () => {
  it.each([
    [500, '500ms'],
    [1500, '1500ms'],
    [1000, '1s'],
    [10_000, '10s'],
    [90_000, '90s'],
    [60_000, '1m'],
    [5_400_000, '90m'],
    [3_600_000, '1h'],
    [7_200_000, '2h'],
  ])('when the delay is %p ms, then its name is %p', (ms, name) => {
    expect(delayName(ms)).toBe(name);
  });
});
