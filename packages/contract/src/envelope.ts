import type { EmailRequest } from './email-request.schema';

/** Version of {@link EmailEnvelope}; a consumer parks an envelope whose version it does not know. */
export const ENVELOPE_VERSION = 1;

/** AMQP `type` property of a queued email. */
export const EMAIL_MESSAGE_TYPE = 'email.requested';

/**
 * What the producer puts on the work queue for one accepted email (the AMQP message body, JSON).
 * The id is also the AMQP `messageId`.
 */
export interface EmailEnvelope {
  readonly version: typeof ENVELOPE_VERSION;
  /** UUIDv7 given at intake; the id the caller got in the 202. */
  readonly id: string;
  /** ISO 8601 time the producer accepted the email. */
  readonly accepted_at: string;
  /** Name of the API key that sent it (never the key itself). */
  readonly client: string;
  readonly request: EmailRequest;
}

/** Header names carried on queued messages (AMQP headers), shared by both services. */
export const MessageHeaders = {
  requestId: 'x-request-id',
  client: 'x-mailer-client',
} as const;

/** Serialises an envelope as the AMQP message body. */
export function encodeEnvelope(envelope: EmailEnvelope): Buffer {
  return Buffer.from(JSON.stringify(envelope), 'utf8');
}
