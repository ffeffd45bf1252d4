/**
 * Provider events (docs/feedback.md): what a provider reported after it took an email. The
 * producer verifies each report and publishes it, as received, on the provider-events queue
 * ({@link ProviderEventMessage}); a worker parses it ({@link ParsedProviderEvent}) and applies it to
 * the ledger.
 */

/** Version of {@link ProviderEventMessage}; a worker parks a message whose version it does not know. */
export const PROVIDER_EVENT_VERSION = 1;

/** AMQP `type` property of a queued provider event. */
export const PROVIDER_EVENT_MESSAGE_TYPE = 'provider.event';

/** Providers that report events. */
export const EVENT_PROVIDERS = ['ses', 'postmark'] as const;
export type EventProvider = (typeof EVENT_PROVIDERS)[number];

/**
 * Largest `body` a message may carry: the larger of the two routes' caps (Postmark's 1 MB; an SNS
 * message is at most 256 KB). The encoded message adds the escaping of JSON on top.
 */
export const MAX_PROVIDER_EVENT_BODY_CHARS = 1024 * 1024;

/** Longest `event_key`: an SNS MessageId is a UUID; anything far longer is not one. */
export const MAX_EVENT_KEY_LENGTH = 200;

/** The message the producer publishes for one verified provider event (AMQP body, JSON). */
export interface ProviderEventMessage {
  readonly version: typeof PROVIDER_EVENT_VERSION;
  readonly provider: EventProvider;
  /** ISO 8601 time the producer received the event. */
  readonly received_at: string;
  /** The SNS `MessageId` (SES); absent for Postmark, whose key is built from the body. */
  readonly event_key?: string;
  /** SES: the SNS `Message` string (the SES event JSON). Postmark: the webhook body as received. */
  readonly body: string;
}

/**
 * Headers the consumer's event worker puts on the copies it publishes (docs/feedback.md): a retry
 * through the provider-events delay queue, or a park in the provider-events dead queue.
 */
export const ProviderEventHeaders = {
  /** Times the worker found the event's email unknown so far (each followed by a retry or the park). */
  tries: 'x-mailer-event-tries',
  /** When the worker last handled the event (ISO 8601). */
  lastTryAt: 'x-mailer-event-last-try-at',
  /** Why the event was parked: one of {@link PROVIDER_EVENT_PARK_REASONS}. */
  parkedReason: 'x-mailer-parked-reason',
  /** What was wrong, in words that name no address (at most 500 characters). */
  parkedDetail: 'x-mailer-parked-detail',
} as const;

/**
 * Why the event worker parks an event: `undecodable` (not a provider-event message), `invalid`
 * (not a payload of its provider's shape), `email-unknown` (its email never appeared in the
 * ledger within the worker's tries), `refused` (the ledger refused the parsed event).
 */
export const PROVIDER_EVENT_PARK_REASONS = ['undecodable', 'invalid', 'email-unknown', 'refused'] as const;
export type ProviderEventParkReason = (typeof PROVIDER_EVENT_PARK_REASONS)[number];

/** Serialises a provider event as the AMQP message body. */
export function encodeProviderEvent(message: ProviderEventMessage): Buffer {
  return Buffer.from(JSON.stringify(message), 'utf8');
}

/** What {@link decodeProviderEvent} found; `text` names what is wrong, never the content. */
export type DecodedProviderEvent =
  { readonly ok: true; readonly message: ProviderEventMessage } | { readonly ok: false; readonly text: string };

/** Bytes of an encoded message above which it is refused unread: the body cap, every character escaped. */
const MAX_ENCODED_BYTES = 6 * MAX_PROVIDER_EVENT_BODY_CHARS + 4096;

/**
 * Reads an AMQP message body back into a {@link ProviderEventMessage}, the inverse of
 * {@link encodeProviderEvent}: bounded, JSON, a known version and provider, a valid time, a
 * bounded key and body. Unknown members are dropped.
 */
export function decodeProviderEvent(raw: Buffer): DecodedProviderEvent {
  if (raw.length > MAX_ENCODED_BYTES) return { ok: false, text: `the message is over ${MAX_ENCODED_BYTES} bytes` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    return { ok: false, text: 'the message body is not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, text: 'the message body is not a JSON object' };
  }
  const m = parsed as Partial<Record<keyof ProviderEventMessage, unknown>>;
  if (m.version !== PROVIDER_EVENT_VERSION) {
    return { ok: false, text: `unknown provider event version (expected ${PROVIDER_EVENT_VERSION})` };
  }
  const provider = EVENT_PROVIDERS.find((name) => name === m.provider);
  if (provider === undefined) return { ok: false, text: 'unknown provider' };
  if (typeof m.received_at !== 'string' || Number.isNaN(Date.parse(m.received_at))) {
    return { ok: false, text: 'no valid received_at time' };
  }
  if (
    m.event_key !== undefined &&
    (typeof m.event_key !== 'string' || m.event_key === '' || m.event_key.length > MAX_EVENT_KEY_LENGTH)
  ) {
    return { ok: false, text: `event_key must be a string of 1 to ${MAX_EVENT_KEY_LENGTH} characters` };
  }
  if (typeof m.body !== 'string' || m.body === '') return { ok: false, text: 'no body' };
  if (m.body.length > MAX_PROVIDER_EVENT_BODY_CHARS) {
    return { ok: false, text: `the body is over ${MAX_PROVIDER_EVENT_BODY_CHARS} characters` };
  }
  return {
    ok: true,
    message: {
      version: PROVIDER_EVENT_VERSION,
      provider,
      received_at: m.received_at,
      ...(m.event_key === undefined ? {} : { event_key: m.event_key }),
      body: m.body,
    },
  };
}

/** Per-recipient outcomes a provider reports. */
export type RecipientOutcome = 'delivery_delayed' | 'delivered' | 'bounced' | 'complained';

/** Longest address a parser passes on (RFC 5321 allows 254 in a path; 320 leaves room for odd forms). */
export const MAX_EVENT_ADDRESS_LENGTH = 320;

/** Longest diagnostic a parser passes on; longer ones are cut. */
export const MAX_EVENT_DIAGNOSTIC_LENGTH = 1000;

/** Most recipients one event may name (SES allows 50 per email). */
export const MAX_EVENT_RECIPIENTS = 1000;

/** Our email ids are UUIDs (v7); an id a provider carries back is used only when it is one. */
export const EMAIL_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Why an address goes on the suppression list. */
export type SuppressionReason = 'hard-bounce' | 'complaint' | 'unsubscribed';

/** One recipient's outcome in a provider event. */
export interface RecipientEvent {
  /** The full address, as the provider reported it: the worker hashes and masks it, and never stores it. */
  readonly address: string;
  readonly outcome: RecipientOutcome;
  readonly bounceKind?: 'hard' | 'soft' | 'undetermined';
  /** The provider's own type and subtype (SES `bounceType`/`bounceSubType`, Postmark `Type`). */
  readonly providerType?: string;
  readonly providerSubtype?: string;
  /** The remote server's diagnostic (SES `diagnosticCode`, Postmark `Details`). */
  readonly diagnostic?: string;
  /** Present when this outcome puts the address on the suppression list. */
  readonly suppress?: { readonly reason: SuppressionReason };
}

/** What a provider event means, from the parsers in the consumer (`providers/<name>/events.ts`). */
export type ParsedProviderEvent =
  | {
      readonly kind: 'outcome';
      readonly provider: EventProvider;
      /** Dedupe key: SES the SNS MessageId; Postmark `bounce:<ID>` or one built from the event. */
      readonly eventKey: string;
      /** Our email id, when the provider carried it back (SES tag, Postmark metadata). */
      readonly emailId?: string;
      readonly providerMessageId?: string;
      readonly occurredAt: Date;
      readonly recipients: readonly RecipientEvent[];
      /**
       * Addresses to suppress that have no outcome on an email (Postmark `SubscriptionChange` for a
       * manual suppression or an unsubscribe, or with no `MessageID`); an outcome's own suppression
       * is on its recipient.
       */
      readonly suppress?: readonly { readonly address: string; readonly reason: SuppressionReason }[];
      /** Addresses the provider reactivated (Postmark `SubscriptionChange` with `SuppressSending: false`). */
      readonly unsuppress?: readonly { readonly address: string }[];
    }
  /** Open, Click, Send, Subscription, unknown types: nothing to apply. */
  | { readonly kind: 'ignored'; readonly reason: string }
  /** Not a payload of the provider's shape; `problem` names what is wrong, never an address. */
  | { readonly kind: 'invalid'; readonly problem: string };
