import {
  WEBHOOK_TEST_EVENT_TYPE,
  isLifecycleEventType,
  type LifecycleEvent,
  type WebhookDeliveryMessage,
} from '@mailer/contract';

/**
 * Decoding what the webhook workers consume. Checked only as far as the workers rely on it: the
 * relay publishes events the ledger wrote, and deliveries are our own messages; anything else is
 * parked as `undecodable`, never guessed at.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A lifecycle event from the events exchange, or why it is not one. */
export function decodeEvent(body: Buffer): { readonly event: LifecycleEvent } | { readonly problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return { problem: 'not JSON' };
  }
  if (!isRecord(value)) return { problem: 'not an object' };
  const { id, type, data } = value;
  if (typeof id !== 'string' || id === '') return { problem: 'no id' };
  if (!isLifecycleEventType(type)) return { problem: 'unknown event type' };
  if (!isRecord(data) || typeof data['client'] !== 'string') return { problem: 'no data.client' };
  return { event: value as unknown as LifecycleEvent };
}

/** A delivery message, or why it is not one. */
export function decodeDelivery(
  body: Buffer,
): { readonly delivery: WebhookDeliveryMessage } | { readonly problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return { problem: 'not JSON' };
  }
  if (!isRecord(value)) return { problem: 'not an object' };
  const { delivery_id: deliveryId, endpoint_id: endpointId, client, try: tryNumber, event } = value;
  // The ledger keys deliveries by these ids (UUIDs): one malformed report would fail its whole batch.
  if (typeof deliveryId !== 'string' || typeof endpointId !== 'string' || typeof client !== 'string') {
    return { problem: 'no delivery_id, endpoint_id or client' };
  }
  if (!UUID.test(deliveryId) || !UUID.test(endpointId)) return { problem: 'delivery_id or endpoint_id not a UUID' };
  if (typeof tryNumber !== 'number' || !Number.isInteger(tryNumber) || tryNumber < 1) return { problem: 'bad try' };
  const eventId = isRecord(event) ? event['id'] : undefined;
  // A UUID: it is the `webhook-id`, where Standard Webhooks forbids a `.` (it separates the signed parts).
  if (!isRecord(event) || typeof eventId !== 'string' || !UUID.test(eventId)) {
    return { problem: 'no event id' };
  }
  if (!isLifecycleEventType(event['type']) && event['type'] !== WEBHOOK_TEST_EVENT_TYPE) {
    return { problem: 'unknown event type' };
  }
  return { delivery: value as unknown as WebhookDeliveryMessage };
}
