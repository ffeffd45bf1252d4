import type { EmailState } from './email-state';

/**
 * Lifecycle events (docs/events.md): what the ledger's outbox records in the transaction of each
 * state change, what the relay publishes on the `<prefix>.events` topic exchange (routing key =
 * `type`), and the body of every webhook delivery.
 *
 * Per email: `email.queued` (recorded and accepted for delivery) or `email.suppressed` (every
 * recipient was on the suppression list, nothing queued); `email.retrying`, `email.parked`,
 * `email.in_doubt`, `email.abandoned`, `email.sent` as the email moves. Per recipient (the event
 * carries `recipient`, masked): `email.suppressed` (that recipient dropped at intake),
 * `email.delivered`, `email.delivery_delayed`, `email.bounced`, `email.complained`.
 */
export const LIFECYCLE_EVENT_TYPES = [
  'email.queued',
  'email.suppressed',
  'email.retrying',
  'email.parked',
  'email.in_doubt',
  'email.abandoned',
  'email.sent',
  'email.delivery_delayed',
  'email.delivered',
  'email.bounced',
  'email.complained',
] as const;

export type LifecycleEventType = (typeof LIFECYCLE_EVENT_TYPES)[number];

/** Sent only by `POST /v1/webhooks/{id}/test`, to that endpoint; never on the exchange. */
export const WEBHOOK_TEST_EVENT_TYPE = 'webhook.test';

/** Every type a webhook delivery may carry. */
export type WebhookEventType = LifecycleEventType | typeof WEBHOOK_TEST_EVENT_TYPE;

/** Whether `value` names a lifecycle event type. */
export function isLifecycleEventType(value: unknown): value is LifecycleEventType {
  return typeof value === 'string' && (LIFECYCLE_EVENT_TYPES as readonly string[]).includes(value);
}

/** A bounce's details on `email.bounced` and `email.delivery_delayed`. */
export interface LifecycleBounce {
  /** `hard` (permanent), `soft` (transient) or `undetermined`. */
  readonly kind: 'hard' | 'soft' | 'undetermined' | null;
  /** The provider's own classification (SES bounceType / Postmark Type). */
  readonly type: string | null;
  readonly subtype: string | null;
  /** The provider's diagnostic, addresses masked, at most 500 characters. */
  readonly diagnostic: string | null;
}

/** What an event says about its email. Addresses are masked (`j***@example.com`), never full. */
export interface LifecycleEventData {
  readonly email_id: string;
  /** The API key name the email was sent with; webhooks go to that client's endpoints only. */
  readonly client: string;
  /** The email's summary state after the change (docs/ledger.md); on per-recipient events, the summary they lead to. */
  readonly state: EmailState;
  /** The delivery attempt the change belongs to (0 before the first). */
  readonly attempt: number;
  /** Per-recipient events: the recipient, masked. Absent on per-email events. */
  readonly recipient?: string;
  /** Per-email events: every recipient, masked, in the order to, cc, bcc. */
  readonly recipients?: readonly string[];
  readonly provider: string | null;
  readonly provider_message_id: string | null;
  /**
   * Why: on `email.retrying` and `email.parked` the failure class of the attempt's last try
   * (`transient`, `provider-unavailable`, `recipient-rejected`, `in-doubt`); on `email.in_doubt`,
   * `unfinished-attempt`; absent when none applies.
   */
  readonly reason?: string;
  readonly bounce?: LifecycleBounce;
  readonly tags: Readonly<Record<string, string>> | null;
  readonly metadata: Readonly<Record<string, string | number | boolean | null>> | null;
}

/**
 * One lifecycle event. `id` is the same on every publish of the event (the relay may publish twice
 * after a crash) and is the `webhook-id` of its deliveries: consumers dedupe on it. `sequence`
 * increases with each event of one email (not contiguous; no order across emails).
 */
export interface LifecycleEvent {
  readonly id: string;
  readonly type: LifecycleEventType;
  /** When the ledger recorded the change, ISO 8601 with milliseconds, UTC. */
  readonly timestamp: string;
  readonly sequence: number;
  readonly data: LifecycleEventData;
}

/** The body of a `webhook.test` delivery. */
export interface WebhookTestEvent {
  readonly id: string;
  readonly type: typeof WEBHOOK_TEST_EVENT_TYPE;
  readonly timestamp: string;
  readonly sequence: 0;
  readonly data: { readonly endpoint_id: string; readonly client: string };
}

/** JSON Schema (2020-12) of {@link LifecycleEvent}: the OpenAPI document's `LifecycleEvent` component. */
export const lifecycleEventSchema = {
  $id: 'https://mailer.invalid/schemas/lifecycle-event.json',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'type', 'timestamp', 'sequence', 'data'],
  properties: {
    id: {
      type: 'string',
      format: 'uuid',
      description: 'Same on every publish and delivery of this event: dedupe on it.',
    },
    type: { type: 'string', enum: [...LIFECYCLE_EVENT_TYPES] },
    timestamp: { type: 'string', format: 'date-time' },
    sequence: {
      type: 'integer',
      minimum: 1,
      description: "Increases with each event of one email (not contiguous): sort one email's events by it.",
    },
    data: {
      type: 'object',
      additionalProperties: false,
      required: ['email_id', 'client', 'state', 'attempt', 'provider', 'provider_message_id', 'tags', 'metadata'],
      properties: {
        email_id: { type: 'string', format: 'uuid' },
        client: { type: 'string' },
        state: {
          type: 'string',
          enum: [
            'queued',
            'sending',
            'retrying',
            'parked',
            'suppressed',
            'abandoned',
            'sent',
            'delivered',
            'bounced',
            'complained',
          ],
        },
        attempt: { type: 'integer', minimum: 0 },
        recipient: { type: 'string', description: 'Per-recipient events: the recipient, masked (j***@example.com).' },
        recipients: {
          type: 'array',
          items: { type: 'string' },
          description: 'Per-email events: every recipient, masked.',
        },
        provider: { type: ['string', 'null'] },
        provider_message_id: { type: ['string', 'null'] },
        reason: { type: 'string' },
        bounce: {
          type: 'object',
          additionalProperties: false,
          required: ['kind', 'type', 'subtype', 'diagnostic'],
          properties: {
            kind: { type: ['string', 'null'], enum: ['hard', 'soft', 'undetermined', null] },
            type: { type: ['string', 'null'] },
            subtype: { type: ['string', 'null'] },
            diagnostic: { type: ['string', 'null'], maxLength: 500 },
          },
        },
        tags: { type: ['object', 'null'], additionalProperties: { type: 'string' } },
        metadata: { type: ['object', 'null'], additionalProperties: { type: ['string', 'number', 'boolean', 'null'] } },
      },
    },
  },
} as const;
