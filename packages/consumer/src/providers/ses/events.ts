import {
  EMAIL_ID_PATTERN,
  MAX_EVENT_ADDRESS_LENGTH,
  MAX_EVENT_DIAGNOSTIC_LENGTH,
  MAX_EVENT_RECIPIENTS,
  type ParsedProviderEvent,
  type RecipientEvent,
  type SuppressionReason,
} from '@mailer/contract';

/**
 * Reads an SES event (the SNS `Message` of a verified Notification) into what it means for our
 * email's recipients (docs/feedback.md). Pure. Both forms are read: event publishing
 * (`eventType`, configuration set) and identity notifications (`notificationType`). Only the
 * recipients the event names get an outcome, never the whole destination; unknown fields are
 * ignored, since SES adds fields.
 *
 * Sources: https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html
 * and https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html.
 */

/** Event types that say something about a recipient's delivery; every other is ignored. */
const READ = new Set(['Bounce', 'Complaint', 'Delivery', 'DeliveryDelay']);

/** Permanent bounce subtypes that suppress the address, with the reason. */
const PERMANENT_SUPPRESSION: Readonly<Record<string, SuppressionReason>> = {
  General: 'hard-bounce',
  NoEmail: 'hard-bounce',
  Suppressed: 'hard-bounce',
  OnAccountSuppressionList: 'hard-bounce',
  UnsubscribedRecipient: 'unsubscribed',
};

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

const cut = (value: string | undefined): string | undefined =>
  value === undefined || value.length <= MAX_EVENT_DIAGNOSTIC_LENGTH
    ? value
    : `${value.slice(0, MAX_EVENT_DIAGNOSTIC_LENGTH)}...`;

class Invalid extends Error {}

/** The time in `value`, or {@link Invalid}. */
function timeOf(value: unknown, what: string): Date {
  const time = typeof value === 'string' ? new Date(value) : undefined;
  if (time === undefined || Number.isNaN(time.getTime())) throw new Invalid(`${what} is not a time`);
  return time;
}

/** A recipient address from the event, bounded, or {@link Invalid}. */
function addressOf(value: unknown, what: string): string {
  const address = typeof value === 'string' ? value.trim() : '';
  if (address === '' || address.length > MAX_EVENT_ADDRESS_LENGTH) throw new Invalid(`${what} is not an address`);
  return address;
}

/** The items of a list the event must have, at least one and at most the cap. */
function listOf(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value) || value.length === 0) throw new Invalid(`${what} must be a non-empty list`);
  if (value.length > MAX_EVENT_RECIPIENTS) throw new Invalid(`${what} has over ${MAX_EVENT_RECIPIENTS} entries`);
  return value;
}

/** The object the event type keeps its details in (`bounce`, `complaint`, ...), or {@link Invalid}. */
function detailsOf(event: Json, name: string): Json {
  const details = event[name];
  if (!isObject(details)) throw new Invalid(`${name} must be an object`);
  return details;
}

function bounceRecipients(bounce: Json): RecipientEvent[] {
  const bounceType = text(bounce['bounceType']) ?? 'Undetermined';
  const subtype = text(bounce['bounceSubType']);
  const kind = bounceType === 'Permanent' ? 'hard' : bounceType === 'Transient' ? 'soft' : 'undetermined';
  const reason = kind === 'hard' && subtype !== undefined ? PERMANENT_SUPPRESSION[subtype] : undefined;
  return listOf(bounce['bouncedRecipients'], 'bounce.bouncedRecipients').map((entry, index) => {
    if (!isObject(entry)) throw new Invalid(`bounce.bouncedRecipients[${index}] must be an object`);
    const diagnostic = cut(text(entry['diagnosticCode']) ?? text(entry['status']));
    return {
      address: addressOf(entry['emailAddress'], `bounce.bouncedRecipients[${index}].emailAddress`),
      outcome: 'bounced',
      bounceKind: kind,
      providerType: bounceType,
      ...(subtype === undefined ? {} : { providerSubtype: subtype }),
      ...(diagnostic === undefined ? {} : { diagnostic }),
      ...(reason === undefined ? {} : { suppress: { reason } }),
    };
  });
}

function complaintRecipients(complaint: Json): RecipientEvent[] {
  const feedbackType = text(complaint['complaintFeedbackType']);
  const subtype = text(complaint['complaintSubType']);
  return listOf(complaint['complainedRecipients'], 'complaint.complainedRecipients').map((entry, index) => {
    if (!isObject(entry)) throw new Invalid(`complaint.complainedRecipients[${index}] must be an object`);
    return {
      address: addressOf(entry['emailAddress'], `complaint.complainedRecipients[${index}].emailAddress`),
      outcome: 'complained',
      ...(feedbackType === undefined ? {} : { providerType: feedbackType }),
      ...(subtype === undefined ? {} : { providerSubtype: subtype }),
      suppress: { reason: 'complaint' },
    };
  });
}

function deliveryRecipients(delivery: Json): RecipientEvent[] {
  const diagnostic = cut(text(delivery['smtpResponse']));
  return listOf(delivery['recipients'], 'delivery.recipients').map((entry, index) => ({
    address: addressOf(entry, `delivery.recipients[${index}]`),
    outcome: 'delivered',
    ...(diagnostic === undefined ? {} : { diagnostic }),
  }));
}

function delayRecipients(delay: Json): RecipientEvent[] {
  const delayType = text(delay['delayType']);
  return listOf(delay['delayedRecipients'], 'deliveryDelay.delayedRecipients').map((entry, index) => {
    if (!isObject(entry)) throw new Invalid(`deliveryDelay.delayedRecipients[${index}] must be an object`);
    const diagnostic = cut(text(entry['diagnosticCode']) ?? text(entry['status']));
    return {
      address: addressOf(entry['emailAddress'], `deliveryDelay.delayedRecipients[${index}].emailAddress`),
      outcome: 'delivery_delayed',
      ...(delayType === undefined ? {} : { providerType: delayType }),
      ...(diagnostic === undefined ? {} : { diagnostic }),
    };
  });
}

/** Our email id from the `email_id` message tag (event publishing only), when it is a UUID. */
function emailIdOf(mail: Json): string | undefined {
  const tags = mail['tags'];
  if (!isObject(tags)) return undefined;
  const values = tags['email_id'];
  const first: unknown = Array.isArray(values) ? values[0] : undefined;
  return typeof first === 'string' && EMAIL_ID_PATTERN.test(first) ? first.toLowerCase() : undefined;
}

/**
 * Parses one SES event. `eventKey` is the SNS `MessageId` it came in (the dedupe key: SNS resends
 * it on every retry).
 */
export function parseSesEvent(message: string, eventKey: string): ParsedProviderEvent {
  let event: unknown;
  try {
    event = JSON.parse(message);
  } catch {
    return { kind: 'invalid', problem: 'the SES event is not JSON' };
  }
  if (!isObject(event)) return { kind: 'invalid', problem: 'the SES event is not a JSON object' };
  const type = text(event['eventType']) ?? text(event['notificationType']);
  if (type === undefined) return { kind: 'invalid', problem: 'the SES event has no eventType or notificationType' };
  // Send, Open, Click, Subscription, Reject, Rendering Failure and types SES adds later.
  if (!READ.has(type))
    return { kind: 'ignored', reason: `SES ${type.slice(0, 40)} events change no recipient's outcome` };
  try {
    const mail = detailsOf(event, 'mail');
    let recipients: RecipientEvent[];
    let occurredAt: Date;
    switch (type) {
      case 'Bounce': {
        const bounce = detailsOf(event, 'bounce');
        recipients = bounceRecipients(bounce);
        occurredAt = timeOf(bounce['timestamp'], 'bounce.timestamp');
        break;
      }
      case 'Complaint': {
        const complaint = detailsOf(event, 'complaint');
        recipients = complaintRecipients(complaint);
        occurredAt = timeOf(complaint['timestamp'], 'complaint.timestamp');
        break;
      }
      case 'Delivery': {
        const delivery = detailsOf(event, 'delivery');
        recipients = deliveryRecipients(delivery);
        occurredAt = timeOf(delivery['timestamp'], 'delivery.timestamp');
        break;
      }
      case 'DeliveryDelay': {
        const delay = detailsOf(event, 'deliveryDelay');
        recipients = delayRecipients(delay);
        occurredAt = timeOf(delay['timestamp'], 'deliveryDelay.timestamp');
        break;
      }
      default:
        throw new Error(`unreachable: ${type}`);
    }
    const emailId = emailIdOf(mail);
    const providerMessageId = text(mail['messageId']);
    return {
      kind: 'outcome',
      provider: 'ses',
      eventKey,
      ...(emailId === undefined ? {} : { emailId }),
      ...(providerMessageId === undefined ? {} : { providerMessageId }),
      occurredAt,
      recipients,
    };
  } catch (error) {
    if (error instanceof Invalid) return { kind: 'invalid', problem: error.message };
    throw error;
  }
}
