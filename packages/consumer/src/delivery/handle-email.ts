import {
  DeliveryHeaders,
  ENVELOPE_VERSION,
  validateEmailRequest,
  type EmailEnvelope,
  type FailureKind,
  type RetryTier,
} from '@mailer/contract';
import type { OutboundEmail } from '../providers/provider';
import { deliverOnce, type DeliveryOutcome, type ProviderSlot } from './failover';
import { decideRetry, type RetryPolicyOptions } from './retry-policy';

/** What handling an email needs. */
export interface HandleDeps {
  readonly chain: readonly ProviderSlot[];
  readonly policy: RetryPolicyOptions;
  readonly now: () => Date;
}

/** A queued message as the worker hands it over. */
export interface IncomingMessage {
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, unknown>>;
}

/** Why a message is parked. */
export type ParkReason = 'recipient-rejected' | 'max-attempts' | 'max-age' | 'undecodable' | 'invalid';

/** What to do with the message: the worker carries it out, acking only after any copy is confirmed. */
export type Settlement =
  | { readonly action: 'sent'; readonly id: string; readonly provider: string; readonly attempts: number }
  /** Nothing was sent and nothing must be settled: the message's channel closed; it will be redelivered. */
  | { readonly action: 'abandoned'; readonly id: string }
  | {
      readonly action: 'retry';
      readonly id: string;
      readonly tier: RetryTier;
      readonly headers: Record<string, string | number>;
    }
  | {
      readonly action: 'park';
      readonly id: string | undefined;
      readonly reason: ParkReason;
      readonly headers: Record<string, string | number>;
    };

const MAX_FAILURE_TEXT = 500;

/** The delivery history carried in headers from earlier attempts. */
interface History {
  readonly attempts: number;
  readonly firstAttemptAt: Date;
  readonly providersTried: readonly string[];
}

function readHistory(headers: Readonly<Record<string, unknown>>, now: Date): History {
  const attempts = Number(headers[DeliveryHeaders.attempts] ?? 0);
  const first = headers[DeliveryHeaders.firstAttemptAt];
  const firstAttemptAt = typeof first === 'string' && !Number.isNaN(Date.parse(first)) ? new Date(first) : now;
  const tried = headers[DeliveryHeaders.providersTried];
  return {
    attempts: Number.isSafeInteger(attempts) && attempts > 0 ? attempts : 0,
    firstAttemptAt,
    providersTried: typeof tried === 'string' && tried !== '' ? tried.split(',') : [],
  };
}

function historyHeaders(
  history: History,
  now: Date,
  failure?: { kind: FailureKind | 'undecodable' | 'invalid'; text: string; ambiguous?: boolean },
): Record<string, string | number> {
  return {
    [DeliveryHeaders.attempts]: history.attempts,
    [DeliveryHeaders.firstAttemptAt]: history.firstAttemptAt.toISOString(),
    [DeliveryHeaders.lastAttemptAt]: now.toISOString(),
    [DeliveryHeaders.providersTried]: history.providersTried.join(','),
    ...(failure === undefined
      ? {}
      : {
          [DeliveryHeaders.lastFailureKind]: failure.kind,
          [DeliveryHeaders.lastFailure]: failure.text.slice(0, MAX_FAILURE_TEXT),
          ...(failure.ambiguous === true ? { [DeliveryHeaders.ambiguous]: 'true' } : {}),
        }),
  };
}

/** Decodes a queued message into an email, or says why it cannot be. */
function decode(
  body: Buffer,
): { email: OutboundEmail } | { reason: 'undecodable' | 'invalid'; text: string; id?: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { reason: 'undecodable', text: 'the message body is not JSON' };
  }
  const envelope = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Partial<EmailEnvelope>;
  if (envelope.version !== ENVELOPE_VERSION) {
    return { reason: 'undecodable', text: `unknown envelope version (expected ${ENVELOPE_VERSION})` };
  }
  const id = typeof envelope.id === 'string' ? envelope.id : undefined;
  if (id === undefined) return { reason: 'undecodable', text: 'the envelope has no id' };
  const validated = validateEmailRequest(envelope.request);
  if (!validated.ok) {
    const problems = validated.problems.map((p) => `${p.pointer} ${p.detail}`).join('; ');
    return { reason: 'invalid', text: `the request fails the schema: ${problems}`, id };
  }
  const acceptedAt = typeof envelope.accepted_at === 'string' ? new Date(envelope.accepted_at) : undefined;
  return {
    email: {
      id,
      request: validated.value,
      ...(acceptedAt === undefined || Number.isNaN(acceptedAt.getTime()) ? {} : { acceptedAt }),
    },
  };
}

function failureOf(outcome: Extract<DeliveryOutcome, { kind: 'rejected' | 'failed' }>) {
  return {
    kind: outcome.error.kind,
    text: `${outcome.tried.at(-1)?.provider ?? 'no provider'}: ${outcome.error.message}`,
    ambiguous: outcome.tried.some((t) => t.error?.ambiguous === true),
  };
}

/**
 * Handles one queued email: decode it (park it if it cannot be), try the provider chain once, and
 * decide: sent; refused for good (park); or failed for now (retry through the next delay tier, or
 * park once the attempts or the age run out). Decides only: the worker publishes and acks.
 */
export async function handleEmail(
  deps: HandleDeps,
  message: IncomingMessage,
  abandon?: AbortSignal,
): Promise<Settlement> {
  const now = deps.now();
  const previous = readHistory(message.headers, now);
  const decoded = decode(message.body);
  if (!('email' in decoded)) {
    return {
      action: 'park',
      id: decoded.id,
      reason: decoded.reason,
      headers: historyHeaders(previous, now, { kind: decoded.reason, text: decoded.text }),
    };
  }
  const { email } = decoded;
  const outcome = await deliverOnce(deps.chain, email, abandon);
  if (outcome.kind === 'abandoned') return { action: 'abandoned', id: email.id };
  const attemptedAt = deps.now();
  const history: History = {
    attempts: previous.attempts + 1,
    firstAttemptAt: previous.attempts === 0 ? now : previous.firstAttemptAt,
    providersTried: [
      ...previous.providersTried,
      ...outcome.tried.filter((t) => t.outcome !== 'skipped-open-circuit').map((t) => t.provider),
    ],
  };
  if (outcome.kind === 'sent') {
    return { action: 'sent', id: email.id, provider: outcome.provider, attempts: history.attempts };
  }
  const headers = historyHeaders(history, attemptedAt, failureOf(outcome));
  if (outcome.kind === 'rejected') return { action: 'park', id: email.id, reason: 'recipient-rejected', headers };
  const decision = decideRetry(deps.policy, history.attempts, history.firstAttemptAt, attemptedAt);
  if (decision.action === 'park') return { action: 'park', id: email.id, reason: decision.reason, headers };
  return { action: 'retry', id: email.id, tier: decision.tier, headers };
}
