import {
  EMAIL_ID_PATTERN,
  MAX_EVENT_ADDRESS_LENGTH,
  MAX_EVENT_DIAGNOSTIC_LENGTH,
  type ParsedProviderEvent,
  type RecipientEvent,
  type SuppressionReason,
} from '@mailer/contract';

/**
 * Reads a Postmark webhook body (as received) into what it means for our email's recipients
 * (docs/feedback.md). Pure. Bounce, SpamComplaint, Delivery and SubscriptionChange are read;
 * Open, Click and unknown record types are ignored; unknown fields are ignored, since Postmark adds
 * fields.
 *
 * Sources: https://postmarkapp.com/developer/webhooks/bounce-webhook,
 * .../spam-complaint-webhook, .../delivery-webhook, .../subscription-change-webhook, and the
 * payload types and bounce type codes of postmark.js (`src/client/models/webhooks`).
 */

/** What the caller passes: a keyed hash of an address, so no address appears in an event key. */
export interface PostmarkParseOptions {
  readonly keyOf: (address: string) => string;
}

/** Bounce types (`Type`) that are hard, soft, or not about delivery at all (postmark.js `BounceTypeCode`). */
const HARD = new Set(['HardBounce', 'BadEmailAddress', 'ManuallyDeactivated', 'Blocked', 'DMARCPolicy']);
const SOFT = new Set(['Transient', 'SoftBounce', 'DnsError']);
/** Replies that are not a failure to deliver (auto-replies, list commands, challenges). */
const NOT_DELIVERY = new Set([
  'AutoResponder',
  'Subscribe',
  'Unsubscribe',
  'AddressChange',
  'OpenRelayTest',
  'ChallengeVerification',
]);

/** `SuppressionReason` of a SubscriptionChange, as ours. */
const SUPPRESSION_REASONS: Readonly<Record<string, SuppressionReason>> = {
  HardBounce: 'hard-bounce',
  SpamComplaint: 'complaint',
  ManualSuppression: 'unsubscribed',
};

type Json = Record<string, unknown>;

class Invalid extends Error {}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

const cut = (value: string | undefined): string | undefined =>
  value === undefined || value.length <= MAX_EVENT_DIAGNOSTIC_LENGTH
    ? value
    : `${value.slice(0, MAX_EVENT_DIAGNOSTIC_LENGTH)}...`;

function timeOf(value: unknown, what: string): Date {
  const time = typeof value === 'string' ? new Date(value) : undefined;
  if (time === undefined || Number.isNaN(time.getTime())) throw new Invalid(`${what} is not a time`);
  return time;
}

function addressOf(value: unknown, what: string): string {
  const address = typeof value === 'string' ? value.trim() : '';
  if (address === '' || address.length > MAX_EVENT_ADDRESS_LENGTH) throw new Invalid(`${what} is not an address`);
  return address;
}

/**
 * Parses with every numeric `ID` kept as its digits: Postmark's bounce ids pass 2^53 (its own
 * example has 4323372036854775807), which a JavaScript number would round.
 */
function parseKeepingIds(body: string): unknown {
  return JSON.parse(body, function (this: unknown, key: string, value: unknown, context?: { source?: string }) {
    return key === 'ID' && typeof value === 'number' && context?.source !== undefined ? context.source : value;
  } as (this: unknown, key: string, value: unknown) => unknown);
}

/** The common fields of every record: our email id (metadata, when a UUID) and Postmark's message id. */
function idsOf(record: Json): { emailId?: string; providerMessageId?: string } {
  const metadata = record['Metadata'];
  const raw =
    typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>)['email_id'] : undefined;
  const emailId = typeof raw === 'string' && EMAIL_ID_PATTERN.test(raw) ? raw.toLowerCase() : undefined;
  const providerMessageId = text(record['MessageID']);
  return {
    ...(emailId === undefined ? {} : { emailId }),
    ...(providerMessageId === undefined ? {} : { providerMessageId }),
  };
}

/** `bounce:<ID>`: Bounce and SpamComplaint records carry Postmark's bounce id, the same on every retry. */
function bounceKeyOf(record: Json): string {
  const id = record['ID'];
  if (typeof id !== 'string' || !/^\d{1,30}$/.test(id)) throw new Invalid('ID must be a whole number');
  return `bounce:${id}`;
}

function bounce(record: Json): ParsedProviderEvent {
  const type = text(record['Type']) ?? 'Unknown';
  const inactive = record['Inactive'] === true;
  // Inactive: Postmark deactivated the address; it refuses sends to it from now on, whatever the type.
  if (NOT_DELIVERY.has(type) && !inactive) {
    return { kind: 'ignored', reason: `Postmark ${type} bounces are not delivery failures` };
  }
  const kind = HARD.has(type) ? 'hard' : SOFT.has(type) ? 'soft' : 'undetermined';
  const diagnostic = cut(text(record['Details']) ?? text(record['Description']));
  const recipient: RecipientEvent = {
    address: addressOf(record['Email'], 'Email'),
    outcome: 'bounced',
    bounceKind: kind,
    providerType: type,
    ...(typeof record['TypeCode'] === 'number' ? { providerSubtype: String(record['TypeCode']) } : {}),
    ...(diagnostic === undefined ? {} : { diagnostic }),
    ...(inactive ? { suppress: { reason: 'hard-bounce' as const } } : {}),
  };
  return {
    kind: 'outcome',
    provider: 'postmark',
    eventKey: bounceKeyOf(record),
    ...idsOf(record),
    occurredAt: timeOf(record['BouncedAt'], 'BouncedAt'),
    recipients: [recipient],
  };
}

function spamComplaint(record: Json): ParsedProviderEvent {
  const diagnostic = cut(text(record['Details']));
  return {
    kind: 'outcome',
    provider: 'postmark',
    eventKey: bounceKeyOf(record),
    ...idsOf(record),
    occurredAt: timeOf(record['BouncedAt'], 'BouncedAt'),
    recipients: [
      {
        address: addressOf(record['Email'], 'Email'),
        outcome: 'complained',
        providerType: 'SpamComplaint',
        ...(typeof record['TypeCode'] === 'number' ? { providerSubtype: String(record['TypeCode']) } : {}),
        ...(diagnostic === undefined ? {} : { diagnostic }),
        suppress: { reason: 'complaint' },
      },
    ],
  };
}

function delivery(record: Json, options: PostmarkParseOptions): ParsedProviderEvent {
  const address = addressOf(record['Recipient'], 'Recipient');
  const messageId = text(record['MessageID']);
  if (messageId === undefined) throw new Invalid('MessageID must be a non-empty string');
  const deliveredAt = timeOf(record['DeliveredAt'], 'DeliveredAt');
  const diagnostic = cut(text(record['Details']));
  return {
    kind: 'outcome',
    provider: 'postmark',
    // No id of its own: the message, the time and the recipient's keyed hash.
    eventKey: `delivery:${messageId}:${deliveredAt.toISOString()}:${options.keyOf(address)}`,
    ...idsOf(record),
    occurredAt: deliveredAt,
    recipients: [{ address, outcome: 'delivered', ...(diagnostic === undefined ? {} : { diagnostic }) }],
  };
}

function subscriptionChange(record: Json, options: PostmarkParseOptions): ParsedProviderEvent {
  const address = addressOf(record['Recipient'], 'Recipient');
  const changedAt = timeOf(record['ChangedAt'], 'ChangedAt');
  const suppressSending = record['SuppressSending'];
  if (typeof suppressSending !== 'boolean') throw new Invalid('SuppressSending must be true or false');
  const messageId = text(record['MessageID']);
  // No id of its own: the message (if any), the time, the recipient's keyed hash and the direction.
  const eventKey = `subscription:${messageId ?? '-'}:${changedAt.toISOString()}:${options.keyOf(address)}:${suppressSending ? 'suppress' : 'reactivate'}`;
  const base = {
    kind: 'outcome' as const,
    provider: 'postmark' as const,
    eventKey,
    ...idsOf(record),
    occurredAt: changedAt,
  };
  if (!suppressSending) return { ...base, recipients: [], unsuppress: [{ address }] };
  const providerReason = text(record['SuppressionReason']);
  const reason: SuppressionReason =
    providerReason === undefined ? 'unsubscribed' : (SUPPRESSION_REASONS[providerReason] ?? 'unsubscribed');
  // A bounce or complaint on a message is that message's outcome too; an unsubscribe, or a change
  // with no message (by the customer or an admin), is a suppression only.
  if (messageId !== undefined && reason !== 'unsubscribed') {
    const recipient: RecipientEvent =
      reason === 'hard-bounce'
        ? {
            address,
            outcome: 'bounced',
            bounceKind: 'hard',
            providerType: 'SubscriptionChange',
            providerSubtype: 'HardBounce',
            suppress: { reason },
          }
        : {
            address,
            outcome: 'complained',
            providerType: 'SubscriptionChange',
            providerSubtype: 'SpamComplaint',
            suppress: { reason },
          };
    return { ...base, recipients: [recipient] };
  }
  return { ...base, recipients: [], suppress: [{ address, reason }] };
}

/** Parses one Postmark webhook body. */
export function parsePostmarkEvent(body: string, options: PostmarkParseOptions): ParsedProviderEvent {
  let record: unknown;
  try {
    record = parseKeepingIds(body);
  } catch {
    return { kind: 'invalid', problem: 'the Postmark webhook body is not JSON' };
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    return { kind: 'invalid', problem: 'the Postmark webhook body is not a JSON object' };
  }
  const fields = record as Json;
  const recordType = text(fields['RecordType']);
  if (recordType === undefined) return { kind: 'invalid', problem: 'RecordType must be a non-empty string' };
  try {
    switch (recordType) {
      case 'Bounce':
        return bounce(fields);
      case 'SpamComplaint':
        return spamComplaint(fields);
      case 'Delivery':
        return delivery(fields, options);
      case 'SubscriptionChange':
        return subscriptionChange(fields, options);
      default:
        return { kind: 'ignored', reason: `Postmark ${recordType.slice(0, 40)} records change no recipient's outcome` };
    }
  } catch (error) {
    if (error instanceof Invalid) return { kind: 'invalid', problem: error.message };
    throw error;
  }
}
