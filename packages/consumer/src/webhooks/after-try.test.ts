import type { ConsumeMessage } from 'amqplib';
import {
  WebhookDeliveryHeaders,
  buildTopology,
  type LifecycleEvent,
  type WebhookDeliveryMessage,
} from '@mailer/contract';
import { afterTry } from './delivery-worker';
import type { PostResult } from './post';

const retryDelaysMs = [200, 400, 400];
const topology = buildTopology({
  prefix: 'unit',
  retryDelaysMs: [10_000],
  deliveryLimit: 5,
  webhookRetryDelaysMs: retryDelaysMs,
});
const settings = { topology, retryDelaysMs };
const AT = new Date('2026-12-08T00:00:00.000Z');

const event = {
  id: '0193a0c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d',
  type: 'email.sent',
  timestamp: AT.toISOString(),
  sequence: 1,
  data: { email_id: '0193a0c4-0000-7000-8000-0000000000e1', client: 'shop' },
} as unknown as LifecycleEvent;

function delivery(tryNumber: number): WebhookDeliveryMessage {
  return {
    delivery_id: '0193a0c4-0000-5000-8000-0000000000d1',
    endpoint_id: '0193a0c4-0000-7000-8000-0000000000a1',
    client: 'shop',
    try: tryNumber,
    first_try_at: AT.toISOString(),
    event,
  };
}

function original(message: WebhookDeliveryMessage): Pick<ConsumeMessage, 'content' | 'properties'> {
  return {
    content: Buffer.from(JSON.stringify(message)),
    properties: {
      headers: { 'x-first-death-queue': 'unit.webhooks.retry.200ms' },
      contentType: 'application/json',
      type: 'email.sent',
    } as unknown as ConsumeMessage['properties'],
  };
}

const answer = (status: number, text = '', retryAfter?: string): PostResult => ({
  kind: 'answer',
  status,
  text,
  retryAfter,
});

describe('afterTry', () => {
  it('when the endpoint answers 2xx, then the delivery succeeded and nothing is copied', () => {
    const first = delivery(1);
    expect(afterTry(settings, first, original(first), answer(204), AT)).toEqual({
      outcome: 'succeeded',
      status: 204,
      error: null,
      copy: undefined,
    });
  });

  it('when a try that is not the last fails, then the copy goes to the tier of its delay with the next try and the last answer', () => {
    const second = delivery(2);
    const decision = afterTry(settings, second, original(second), answer(503, 'busy'), AT);

    expect(decision).toMatchObject({ outcome: 'retrying', status: 503, error: 'busy' });
    expect(decision.copy).toMatchObject({
      exchange: topology.webhooksExchange.name,
      routingKey: 'retry.400ms',
      messageId: second.delivery_id,
      properties: {
        contentType: 'application/json',
        type: 'email.sent',
        headers: {
          'x-first-death-queue': 'unit.webhooks.retry.200ms',
          [WebhookDeliveryHeaders.tries]: 2,
          [WebhookDeliveryHeaders.lastStatus]: 503,
          [WebhookDeliveryHeaders.lastError]: 'busy',
          [WebhookDeliveryHeaders.lastTryAt]: AT.toISOString(),
        },
      },
    });
    expect(JSON.parse(decision.copy?.body.toString() ?? '')).toEqual({ ...second, try: 3 });
  });

  it('when the last try fails, then the delivery is parked in the dead exchange as it was, saying why', () => {
    const last = delivery(retryDelaysMs.length + 1);
    const decision = afterTry(settings, last, original(last), { kind: 'error', error: 'timeout' }, AT);

    expect(decision).toMatchObject({ outcome: 'parked', status: null, error: 'timeout' });
    expect(decision.copy?.exchange).toBe(topology.webhooksDeadExchange.name);
    expect(decision.copy?.body).toEqual(original(last).content);
    expect(decision.copy?.properties?.headers).toMatchObject({
      [WebhookDeliveryHeaders.parkedReason]: 'retries-exhausted',
      [WebhookDeliveryHeaders.tries]: 4,
      [WebhookDeliveryHeaders.lastError]: 'timeout',
    });
    expect(decision.copy?.properties?.headers).not.toHaveProperty(WebhookDeliveryHeaders.lastStatus);
  });

  it('when the endpoint answers 410 on its first try, then the delivery is parked at once as gone, not retried', () => {
    const first = delivery(1);
    const decision = afterTry(settings, first, original(first), answer(410), AT);

    expect(decision).toMatchObject({ outcome: 'parked', status: 410, error: 'HTTP 410' });
    expect(decision.copy?.exchange).toBe(topology.webhooksDeadExchange.name);
    expect(decision.copy?.properties?.headers).toMatchObject({ [WebhookDeliveryHeaders.parkedReason]: 'gone' });
  });

  it('when the destination is refused, then the try failed like any other and is retried', () => {
    const first = delivery(1);
    const decision = afterTry(settings, first, original(first), { kind: 'refused', reason: 'loopback' }, AT);

    expect(decision).toMatchObject({ outcome: 'retrying', status: null, error: 'refused destination: loopback' });
    expect(decision.copy?.routingKey).toBe('retry.200ms');
  });

  it('when a 429’s Retry-After is unreadable, then the schedule stands; when it is longer than the scheduled delay, then the copy waits in the tier that covers it', () => {
    const first = delivery(1);
    const decision = afterTry(settings, first, original(first), answer(429, '', 'soon'), AT);
    expect(decision.copy?.routingKey).toBe('retry.200ms');
    const later = afterTry(settings, first, original(first), answer(429, '', '1'), AT);
    expect(later.copy?.routingKey).toBe('retry.400ms');
  });
});
