import {
  WEBHOOK_TEST_EVENT_TYPE,
  type WebhookDeliveryMessage,
  type WebhookStore,
  type WebhookTestEvent,
  type WebhookUrlRules,
} from '@mailer/contract';

/**
 * A caller's webhook endpoints as the API sees them: the ledger's {@link WebhookStore}, every call
 * scoped to the calling client. Every method rejects with `LedgerOutageError` when the ledger
 * cannot be reached, and the lists with `BadCursorError` for a cursor they did not give.
 */
export type WebhookEndpoints = Pick<
  WebhookStore,
  | 'createEndpoint'
  | 'listEndpoints'
  | 'getEndpoint'
  | 'updateEndpoint'
  | 'deleteEndpoint'
  | 'rotateSecret'
  | 'listDeliveries'
>;

/** Puts one delivery on the webhooks exchange; resolves only once the broker confirmed it. */
export interface WebhookDeliveryPublisher {
  /** @throws PublishError (from `@mailer/contract`) when the broker did not confirm. */
  publish(message: WebhookDeliveryMessage): Promise<void>;
}

/** What the webhook routes need when webhooks are on. */
export interface WebhookDeps {
  readonly endpoints: WebhookEndpoints;
  readonly publisher: WebhookDeliveryPublisher;
  /** `WEBHOOK_ALLOW_HTTP` and `WEBHOOK_ALLOW_NETWORKS`, for the URLs registered and changed. */
  readonly urlRules: WebhookUrlRules;
  readonly newId: () => string;
  readonly now: () => Date;
}

/** Webhooks on, or off and why (`LEDGER=off`, or `WEBHOOK_SECRETS_KEY` empty): the routes then answer 503. */
export type WebhooksSetting = { readonly on: WebhookDeps } | { readonly off: string };

/**
 * The message of `POST /v1/webhooks/{id}/test`: a `webhook.test` event for that endpoint alone,
 * as a first try, with ids of its own (a test is never a lifecycle event, nor a replay of one).
 */
export function testDelivery(
  endpoint: { readonly id: string; readonly client: string },
  ids: { readonly deliveryId: string; readonly eventId: string },
  now: Date,
): WebhookDeliveryMessage {
  const event: WebhookTestEvent = {
    id: ids.eventId,
    type: WEBHOOK_TEST_EVENT_TYPE,
    timestamp: now.toISOString(),
    sequence: 0,
    data: { endpoint_id: endpoint.id, client: endpoint.client },
  };
  return {
    delivery_id: ids.deliveryId,
    endpoint_id: endpoint.id,
    client: endpoint.client,
    try: 1,
    first_try_at: now.toISOString(),
    event,
  };
}
