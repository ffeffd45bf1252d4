import {
  ENVELOPE_VERSION,
  MessageHeaders,
  encodeEnvelope,
  PublishError,
  isOverAttachmentCap,
  validateEmailBatch,
  validateEmailRequest,
  type EmailRequest,
  type ValidationProblem,
} from '@mailer/contract';
import { maySendFrom, type ApiKey } from './api-keys';
import type { EmailPublisher } from './publisher';

/** What accepting an email needs from outside. */
export interface AcceptDeps {
  readonly publisher: EmailPublisher;
  readonly newId: () => string;
  readonly now: () => Date;
}

/** Who sent the request, and the request id for tracing. */
export interface Caller {
  readonly client: ApiKey;
  readonly requestId: string;
}

/** A sender address the caller's key may not use; `pointer` locates it in the body. */
export interface ForbiddenSender {
  readonly pointer: string;
  readonly address: string;
}

/** The outcome of a request that was not accepted before anything was published. */
export type Refusal =
  | { readonly kind: 'invalid'; readonly problems: readonly ValidationProblem[] }
  | { readonly kind: 'too-large'; readonly pointers: readonly string[] }
  | { readonly kind: 'forbidden-sender'; readonly senders: readonly ForbiddenSender[] };

/** The outcome of `acceptEmail`. */
export type AcceptOutcome =
  | Refusal
  | { readonly kind: 'accepted'; readonly id: string }
  | { readonly kind: 'unavailable'; readonly error: PublishError };

/** Per-item result of a batch: queued with its id, or not queued and why. */
export type BatchItem =
  | { readonly index: number; readonly status: 'queued'; readonly id: string }
  | { readonly index: number; readonly status: 'failed'; readonly error: PublishError };

/** The outcome of `acceptBatch`: refused as a whole, or published item by item. */
export type BatchOutcome = Refusal | { readonly kind: 'published'; readonly items: readonly BatchItem[] };

function refuse(emails: readonly EmailRequest[], client: ApiKey, base: (i: number) => string): Refusal | undefined {
  const tooLarge = emails.flatMap((email, i) => (isOverAttachmentCap(email) ? [`${base(i)}/attachments`] : []));
  if (tooLarge.length > 0) return { kind: 'too-large', pointers: tooLarge };
  const forbidden = emails.flatMap((email, i) =>
    maySendFrom(client, email.from.email) ? [] : [{ pointer: `${base(i)}/from/email`, address: email.from.email }],
  );
  if (forbidden.length > 0) return { kind: 'forbidden-sender', senders: forbidden };
  return undefined;
}

async function publishOne(deps: AcceptDeps, caller: Caller, request: EmailRequest): Promise<string> {
  const id = deps.newId();
  const acceptedAt = deps.now();
  await deps.publisher.publish({
    id,
    timestamp: acceptedAt,
    headers: { [MessageHeaders.requestId]: caller.requestId, [MessageHeaders.client]: caller.client.name },
    body: encodeEnvelope({
      version: ENVELOPE_VERSION,
      id,
      accepted_at: acceptedAt.toISOString(),
      client: caller.client.name,
      request,
    }),
  });
  return id;
}

/**
 * Accepts one email: validate, check the sender against the caller's key, give it an id, publish
 * it and wait for the broker's confirm. Only an `accepted` outcome may be answered with 202.
 */
export async function acceptEmail(deps: AcceptDeps, caller: Caller, body: unknown): Promise<AcceptOutcome> {
  const validated = validateEmailRequest(body);
  if (!validated.ok) return { kind: 'invalid', problems: validated.problems };
  const refusal = refuse([validated.value], caller.client, () => '');
  if (refusal !== undefined) return refusal;
  try {
    return { kind: 'accepted', id: await publishOne(deps, caller, validated.value) };
  } catch (error) {
    if (error instanceof PublishError) return { kind: 'unavailable', error };
    throw error;
  }
}

/**
 * Accepts a batch. Validation and sender checks are all or nothing: one bad item refuses the
 * whole batch and nothing is published. Items are then published concurrently, each with its own
 * id and confirm, so a broker failure part-way leaves some queued and some not: the outcome says
 * which, item by item.
 */
export async function acceptBatch(deps: AcceptDeps, caller: Caller, body: unknown): Promise<BatchOutcome> {
  const validated = validateEmailBatch(body);
  if (!validated.ok) return { kind: 'invalid', problems: validated.problems };
  const refusal = refuse(validated.value, caller.client, (i) => `/emails/${i}`);
  if (refusal !== undefined) return refusal;
  const items = await Promise.all(
    validated.value.map(async (request, index): Promise<BatchItem> => {
      try {
        return { index, status: 'queued', id: await publishOne(deps, caller, request) };
      } catch (error) {
        if (error instanceof PublishError) return { index, status: 'failed', error };
        throw error;
      }
    }),
  );
  return { kind: 'published', items };
}
