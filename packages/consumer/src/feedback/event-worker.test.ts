import type { ConsumeMessage } from 'amqplib';
import {
  PROVIDER_EVENT_MESSAGE_TYPE,
  PROVIDER_EVENT_RETRY_ROUTING_KEY,
  ProviderEventHeaders,
  buildTopology,
} from '@mailer/contract';
import { copyOf } from './event-worker';

const topology = buildTopology({ prefix: 'unit', retryDelaysMs: [10_000], deliveryLimit: 5 });
const NOW = new Date('2026-12-07T21:00:00.000Z');
const facts = { provider: 'postmark', outcome: 'bounced', eventKey: 'bounce:1' } as const;

/** A delivered provider-event message with these headers and id. */
function delivered(headers: Record<string, unknown>, messageId: string | undefined): { message: ConsumeMessage } {
  return {
    message: {
      content: Buffer.from('{"version":1}'),
      fields: {} as ConsumeMessage['fields'],
      properties: {
        headers,
        messageId,
        type: PROVIDER_EVENT_MESSAGE_TYPE,
        appId: 'mailer-producer',
        contentType: 'application/json',
      } as ConsumeMessage['properties'],
    },
  };
}

describe('copyOf', () => {
  it('when an event is retried, then its copy goes to the delay queue with the tries, the time, its id and its headers', () => {
    const copy = copyOf(
      topology,
      delivered({ 'x-request-id': 'r-1' }, 'm-1'),
      { action: 'retry', tries: 2, facts },
      NOW,
    );

    expect(copy).toEqual({
      exchange: topology.providerEventsExchange.name,
      routingKey: PROVIDER_EVENT_RETRY_ROUTING_KEY,
      body: Buffer.from('{"version":1}'),
      messageId: 'm-1',
      properties: {
        headers: {
          'x-request-id': 'r-1',
          [ProviderEventHeaders.tries]: 2,
          [ProviderEventHeaders.lastTryAt]: NOW.toISOString(),
        },
        type: PROVIDER_EVENT_MESSAGE_TYPE,
        appId: 'mailer-producer',
        contentType: 'application/json',
      },
    });
  });

  it('when an event is parked, then its copy goes to the dead exchange with the reason and a bounded detail', () => {
    const copy = copyOf(
      topology,
      delivered({ [ProviderEventHeaders.tries]: 4 }, 'm-2'),
      { action: 'park', reason: 'invalid', detail: 'x'.repeat(900), facts },
      NOW,
    );

    expect(copy.exchange).toBe(topology.providerEventsDeadExchange.name);
    expect(copy.routingKey).toBe('');
    expect(copy.properties?.headers).toEqual({
      [ProviderEventHeaders.tries]: 4,
      [ProviderEventHeaders.lastTryAt]: NOW.toISOString(),
      [ProviderEventHeaders.parkedReason]: 'invalid',
      [ProviderEventHeaders.parkedDetail]: 'x'.repeat(500),
    });
  });

  it('when the message has no id, then its copy gets one of its own', () => {
    const copy = copyOf(topology, delivered({}, undefined), { action: 'retry', tries: 1, facts }, NOW);

    expect(copy.messageId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
