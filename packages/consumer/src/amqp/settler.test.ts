import type { ConsumeMessage } from 'amqplib';
import { DeliveryHeaders, buildTopology } from '@mailer/contract';
import { copyOf } from './settler';

const topology = buildTopology({ prefix: 'unit', retryDelaysMs: [10_000, 60_000], deliveryLimit: 5 });
const ID = '01a2207a-0000-7000-8000-0000000000aa';

/** A message as the worker took it off the work queue. */
const original: ConsumeMessage = {
  content: Buffer.from('{"id":"…"}'),
  fields: { deliveryTag: 1, redelivered: false, exchange: 'unit.work', routingKey: 'email', consumerTag: 'worker' },
  properties: {
    messageId: ID,
    contentType: 'application/json',
    headers: { 'x-caller': 'kept', [DeliveryHeaders.attempts]: 1 },
    contentEncoding: undefined,
    deliveryMode: 2,
    priority: undefined,
    correlationId: undefined,
    replyTo: undefined,
    expiration: undefined,
    timestamp: undefined,
    type: undefined,
    userId: undefined,
    appId: undefined,
    clusterId: undefined,
  },
};

describe('copyOf', () => {
  it('when an email is retried, then its copy goes to the retry exchange under the tier, with its body and the new history', () => {
    const [tier] = topology.retryTiers;
    if (tier === undefined) throw new Error('the topology has retry tiers');

    const copy = copyOf(topology, original, ID, {
      action: 'retry',
      id: ID,
      tier,
      headers: { [DeliveryHeaders.attempts]: 2 },
    });

    expect(copy).toMatchObject({
      exchange: topology.retryExchange.name,
      routingKey: tier.routingKey,
      body: original.content,
      messageId: ID,
      properties: {
        contentType: 'application/json',
        headers: { 'x-caller': 'kept', [DeliveryHeaders.attempts]: 2 },
      },
    });
    expect(copy.properties?.headers).not.toHaveProperty(DeliveryHeaders.parkedReason);
  });

  it('when an email is parked, then its copy goes to the dead-letter exchange and says why', () => {
    const copy = copyOf(topology, original, ID, {
      action: 'park',
      id: ID,
      reason: 'recipient-rejected',
      headers: { [DeliveryHeaders.attempts]: 2 },
    });

    expect(copy).toMatchObject({
      exchange: topology.deadExchange.name,
      routingKey: '',
      properties: { headers: { [DeliveryHeaders.parkedReason]: 'recipient-rejected', 'x-caller': 'kept' } },
    });
  });
});
