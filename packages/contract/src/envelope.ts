import type { EmailRequest } from './email-request.schema';
import { validateEmailRequest } from './validation';

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

/** Why a message body is not an email: `undecodable` (not an envelope), `invalid` (its request fails the schema). */
export type EnvelopeProblem = 'undecodable' | 'invalid';

/** What {@link decodeEnvelope} found. */
export type DecodedEnvelope =
  | { readonly ok: true; readonly envelope: EmailEnvelope }
  | {
      readonly ok: false;
      readonly problem: EnvelopeProblem;
      /** What is wrong, without any of the message's content. */
      readonly text: string;
      /** The envelope's id, when it has one (an `invalid` envelope always has). */
      readonly id?: string;
    };

/**
 * Reads an AMQP message body back into an {@link EmailEnvelope}, the inverse of
 * {@link encodeEnvelope}: JSON, a known version, an id, an acceptance time and a request that
 * passes the same schema as at intake (the consumer trusts nothing it did not check).
 */
export function decodeEnvelope(body: Buffer): DecodedEnvelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, problem: 'undecodable', text: 'the message body is not JSON' };
  }
  const envelope = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Partial<
    Record<keyof EmailEnvelope, unknown>
  >;
  if (envelope.version !== ENVELOPE_VERSION) {
    return { ok: false, problem: 'undecodable', text: `unknown envelope version (expected ${ENVELOPE_VERSION})` };
  }
  const { id, accepted_at: acceptedAt, client } = envelope;
  if (typeof id !== 'string' || id === '') return { ok: false, problem: 'undecodable', text: 'the envelope has no id' };
  if (typeof acceptedAt !== 'string' || Number.isNaN(Date.parse(acceptedAt))) {
    return { ok: false, problem: 'undecodable', text: 'the envelope has no valid accepted_at time', id };
  }
  const validated = validateEmailRequest(envelope.request);
  if (!validated.ok) {
    const problems = validated.problems.map((p) => `${p.pointer} ${p.detail}`).join('; ');
    return { ok: false, problem: 'invalid', text: `the request fails the schema: ${problems}`, id };
  }
  return {
    ok: true,
    envelope: {
      version: ENVELOPE_VERSION,
      id,
      accepted_at: acceptedAt,
      client: typeof client === 'string' ? client : '',
      request: validated.value,
    },
  };
}
