import {
  DeliveryHeaders,
  decodeEnvelope,
  type EnvelopeProblem,
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

/** Retry later through a delay tier: a confirmed copy goes to the tier, then the original is acked. */
export interface RetrySettlement {
  readonly action: 'retry';
  readonly id: string;
  readonly tier: RetryTier;
  readonly headers: Record<string, string | number>;
}

/**
 * Park in the dead-letter queue: a confirmed copy goes there, then the original is acked. `id` is
 * the envelope's, absent when the body is not an envelope with one.
 */
export interface ParkSettlement {
  readonly action: 'park';
  readonly id: string | undefined;
  readonly reason: ParkReason;
  readonly headers: Record<string, string | number>;
}

/** What to do with the message: the worker carries it out, acking only after any copy is confirmed. */
export type Settlement =
  | { readonly action: 'sent'; readonly id: string; readonly provider: string; readonly attempts: number }
  /** Nothing was sent and nothing must be settled: the message's channel closed; it will be redelivered. */
  | { readonly action: 'abandoned'; readonly id: string }
  | RetrySettlement
  | ParkSettlement
  /**
   * No provider is usable (every circuit open): nothing was tried and no attempt is counted. The
   * worker keeps the message, stops taking more, and hands it back in `resumeInMs`, when the first
   * circuit lets a probe through; `otherwise` is what to do if it cannot keep it that long.
   */
  | {
      readonly action: 'hold';
      readonly id: string;
      readonly resumeInMs: number;
      readonly otherwise: RetrySettlement | ParkSettlement;
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
  failure?: { kind: FailureKind | EnvelopeProblem; text: string; ambiguous?: boolean },
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

function failureOf(outcome: Extract<DeliveryOutcome, { kind: 'rejected' | 'failed' }>) {
  return {
    kind: outcome.error.kind,
    text: `${outcome.tried.at(-1)?.provider ?? 'no provider'}: ${outcome.error.message}`,
    ambiguous: outcome.tried.some((t) => t.error?.ambiguous === true),
  };
}

/** Retry through the next delay tier, or park once the attempts or the age run out. */
function retryOrPark(
  deps: HandleDeps,
  id: string,
  history: History,
  attemptedAt: Date,
  headers: Record<string, string | number>,
): RetrySettlement | ParkSettlement {
  const decision = decideRetry(deps.policy, history.attempts, history.firstAttemptAt, attemptedAt);
  if (decision.action === 'park') return { action: 'park', id, reason: decision.reason, headers };
  return { action: 'retry', id, tier: decision.tier, headers };
}

/**
 * Handles one queued email: decode it (park it if it cannot be), try the provider chain once, and
 * decide: sent; refused for good (park); failed for now (retry through the next delay tier, or
 * park once the attempts or the age run out); or, when no provider is usable at all, hold it
 * until one is. Decides only: the worker publishes and acks.
 */
export async function handleEmail(
  deps: HandleDeps,
  message: IncomingMessage,
  abandon?: AbortSignal,
): Promise<Settlement> {
  const now = deps.now();
  const previous = readHistory(message.headers, now);
  const decoded = decodeEnvelope(message.body);
  if (!decoded.ok) {
    return {
      action: 'park',
      id: decoded.id,
      reason: decoded.problem,
      headers: historyHeaders(previous, now, { kind: decoded.problem, text: decoded.text }),
    };
  }
  const { envelope } = decoded;
  const email: OutboundEmail = {
    id: envelope.id,
    request: envelope.request,
    acceptedAt: new Date(envelope.accepted_at),
  };
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
  if (outcome.kind === 'unavailable') {
    const failure = { kind: 'transient' as const, text: 'every provider circuit is open' };
    return {
      action: 'hold',
      id: email.id,
      resumeInMs: outcome.resumeInMs,
      otherwise: retryOrPark(deps, email.id, history, attemptedAt, historyHeaders(history, attemptedAt, failure)),
    };
  }
  const headers = historyHeaders(history, attemptedAt, failureOf(outcome));
  if (outcome.kind === 'rejected') return { action: 'park', id: email.id, reason: 'recipient-rejected', headers };
  return retryOrPark(deps, email.id, history, attemptedAt, headers);
}
