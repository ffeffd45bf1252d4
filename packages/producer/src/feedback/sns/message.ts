import { MAX_EVENT_KEY_LENGTH } from '@mailer/contract';

/**
 * Amazon SNS HTTP(S) messages (docs/feedback.md): their shape and the exact string each type signs
 * (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html).
 */

/** The three message types SNS posts to an HTTP(S) subscription. */
export const SNS_MESSAGE_TYPES = ['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation'] as const;
export type SnsMessageType = (typeof SNS_MESSAGE_TYPES)[number];

/** An SNS message as posted, with the fields verification and routing use; others are ignored. */
export interface SnsMessage {
  readonly Type: SnsMessageType;
  readonly MessageId: string;
  readonly TopicArn: string;
  readonly Message: string;
  readonly Timestamp: string;
  readonly SignatureVersion: string;
  readonly Signature: string;
  readonly SigningCertURL: string;
  /** Notification only, and optional there. */
  readonly Subject?: string;
  /** SubscriptionConfirmation and UnsubscribeConfirmation. */
  readonly Token?: string;
  readonly SubscribeURL?: string;
}

/** The fields each type signs, in the order they are signed (byte order of their names). */
const SIGNED_FIELDS: Readonly<Record<SnsMessageType, readonly (keyof SnsMessage)[]>> = {
  Notification: ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'],
  SubscriptionConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
  UnsubscribeConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
};

/** Fields every message must carry as strings. */
const REQUIRED = [
  'MessageId',
  'TopicArn',
  'Message',
  'Timestamp',
  'SignatureVersion',
  'Signature',
  'SigningCertURL',
] as const;

/** Longest value accepted for a field other than `Message` (a URL, an ARN, a token, a base64 signature). */
const MAX_FIELD_LENGTH = 4096;

/**
 * The string SNS signed for `message`: `Name\nValue\n` for each signed field of its type, in
 * order, every value followed by a newline (the last one too). A Notification's `Subject` is
 * signed only when present.
 */
export function stringToSign(message: SnsMessage): string {
  let text = '';
  for (const name of SIGNED_FIELDS[message.Type]) {
    const value = message[name];
    if (value === undefined) continue;
    text += `${name}\n${value}\n`;
  }
  return text;
}

/** What {@link readSnsMessage} found. */
export type ReadSnsMessage =
  { readonly ok: true; readonly message: SnsMessage } | { readonly ok: false; readonly problem: string };

/**
 * Checks that a parsed JSON body is an SNS message: a known `Type`, and every field its type signs
 * or verification needs present as a bounded string. Says nothing about authenticity.
 */
export function readSnsMessage(body: unknown): ReadSnsMessage {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, problem: 'the body is not a JSON object' };
  }
  const fields = body as Record<string, unknown>;
  const type = SNS_MESSAGE_TYPES.find((name) => name === fields['Type']);
  if (type === undefined) return { ok: false, problem: `Type must be one of ${SNS_MESSAGE_TYPES.join(', ')}` };
  const needed: string[] = [...REQUIRED];
  if (type !== 'Notification') needed.push('Token', 'SubscribeURL');
  for (const name of needed) {
    const value = fields[name];
    if (typeof value !== 'string' || value === '') return { ok: false, problem: `${name} must be a non-empty string` };
    const limit = name === 'MessageId' ? MAX_EVENT_KEY_LENGTH : MAX_FIELD_LENGTH;
    if (name !== 'Message' && value.length > limit) {
      return { ok: false, problem: `${name} is over ${limit} characters` };
    }
  }
  const subject = fields['Subject'];
  // SNS sends "Subject": null when a Notification has none; null is not signed.
  if (subject !== undefined && subject !== null && typeof subject !== 'string') {
    return { ok: false, problem: 'Subject must be a string' };
  }
  const text = (name: string): string => fields[name] as string;
  return {
    ok: true,
    message: {
      Type: type,
      MessageId: text('MessageId'),
      TopicArn: text('TopicArn'),
      Message: text('Message'),
      Timestamp: text('Timestamp'),
      SignatureVersion: text('SignatureVersion'),
      Signature: text('Signature'),
      SigningCertURL: text('SigningCertURL'),
      ...(type === 'Notification' && typeof subject === 'string' ? { Subject: subject } : {}),
      ...(type === 'Notification' ? {} : { Token: text('Token'), SubscribeURL: text('SubscribeURL') }),
    },
  };
}
