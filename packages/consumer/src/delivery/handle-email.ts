import {
  DeliveryHeaders,
  attemptsMade,
  decodeEnvelope,
  ledgerAttemptOf,
  maskAddressesIn,
  type EnvelopeProblem,
  type FailureKind,
  type ParkReason,
  type RetryTier,
} from '@mailer/contract';
import type { OutboundEmail } from '../providers/provider';
import { deliverOnce, type DeliveryOutcome, type ProviderSlot } from './failover';
import { decideRetry, type RetryPolicyOptions } from './retry-policy';
import { SendGuard, type DeliveryLedger, type FailureRecord, type InDoubtPolicy, type SentRecord } from './send-guard';

/** The ledger, when the consumer records its sends (`LEDGER=on`), and what to do with an email in doubt. */
export interface LedgerDeps {
  readonly port: DeliveryLedger;
  readonly inDoubt: InDoubtPolicy;
}

/** What handling an email needs. */
export interface HandleDeps {
  readonly chain: readonly ProviderSlot[];
  readonly policy: RetryPolicyOptions;
  readonly now: () => Date;
  /** Absent with `LEDGER=off`: nothing is claimed or recorded. */
  readonly ledger?: LedgerDeps;
  /** Told each attempt's outcome and the email's accept time (the metrics); must not throw. */
  readonly observe?: (outcome: DeliveryOutcome, acceptedAt: Date) => void;
}

/** A queued message as the worker hands it over. */
export interface IncomingMessage {
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, unknown>>;
  /**
   * When this delivery is handled again after the ledger gave no answer to a claim (settlement
   * `ledger-unavailable`): that claim's token, so the ledger knows it as this delivery's own.
   */
  readonly claimToken?: string;
}

/**
 * Retry later through a delay tier: a confirmed copy goes to the tier, then `record` is written to
 * the ledger (when there is one), then the original is acked.
 */
export interface RetrySettlement {
  readonly action: 'retry';
  readonly id: string;
  readonly tier: RetryTier;
  readonly headers: Record<string, string | number>;
  readonly record?: FailureRecord;
}

/**
 * Park in the dead-letter queue: a confirmed copy goes there, then `record` is written to the
 * ledger (when there is one), then the original is acked. `id` is the envelope's, absent when the
 * body is not an envelope with one.
 */
export interface ParkSettlement {
  readonly action: 'park';
  readonly id: string | undefined;
  readonly reason: ParkReason;
  readonly headers: Record<string, string | number>;
  readonly record?: FailureRecord;
}

/** What to do with the message: the worker carries it out, acking only after any copy is confirmed. */
export type Settlement =
  /** A provider took it: `record` goes to the ledger (retried until it does), then the ack. */
  | {
      readonly action: 'sent';
      readonly id: string;
      readonly provider: string;
      readonly attempts: number;
      readonly record?: SentRecord;
    }
  /** Nothing was sent and nothing must be settled: the message's channel closed; it will be redelivered. */
  | { readonly action: 'abandoned'; readonly id: string }
  /**
   * The ledger says it needs no sending: sent before (`already-sent`), or this attempt already
   * ended in a confirmed retry or park copy (`superseded`, a redelivered original). Ack it.
   */
  | { readonly action: 'skipped'; readonly id: string; readonly reason: 'already-sent' | 'superseded' }
  /**
   * The ledger could not be reached before a send: nothing was sent. The worker keeps the message
   * unacked, stops taking more, and hands it back once the ledger answers, after writing
   * `unrecorded` (a failed try of this attempt not yet recorded).
   */
  | {
      readonly action: 'ledger-unavailable';
      readonly id: string;
      readonly unrecorded?: FailureRecord;
      /** A claim that went unanswered (it may have committed): hand the message again with it. */
      readonly claimToken?: string;
    }
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
  const attempts = attemptsMade(headers);
  const first = headers[DeliveryHeaders.firstAttemptAt];
  const firstAttemptAt = typeof first === 'string' && !Number.isNaN(Date.parse(first)) ? new Date(first) : now;
  const tried = headers[DeliveryHeaders.providersTried];
  return {
    attempts,
    firstAttemptAt,
    providersTried: typeof tried === 'string' && tried !== '' ? tried.split(',') : [],
  };
}

function historyHeaders(
  history: History,
  now: Date,
  failure?: { kind: FailureKind | EnvelopeProblem | 'in-doubt'; text: string; ambiguous?: boolean },
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
          [DeliveryHeaders.lastFailure]: maskAddressesIn(failure.text).slice(0, MAX_FAILURE_TEXT),
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

/**
 * Retry through the next delay tier, or park once the attempts or the age run out; `failure` (the
 * try to record, when there is a ledger) gets the matching `next`.
 */
function retryOrPark(
  deps: HandleDeps,
  id: string,
  history: History,
  attemptedAt: Date,
  headers: Record<string, string | number>,
  failure: FailureRecord | undefined,
): RetrySettlement | ParkSettlement {
  const decision = decideRetry(deps.policy, history.attempts, history.firstAttemptAt, attemptedAt);
  const next: 'retrying' | 'parked' = decision.action === 'park' ? 'parked' : 'retrying';
  const record = failure === undefined ? {} : { record: { ...failure, next } };
  if (decision.action === 'park') return { action: 'park', id, reason: decision.reason, headers, ...record };
  return { action: 'retry', id, tier: decision.tier, headers, ...record };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Handles one queued email: decode it (park it if it cannot be), try the provider chain once, and
 * decide: sent; refused for good (park); failed for now (retry through the next delay tier, or
 * park once the attempts or the age run out); or, when no provider is usable at all, hold it
 * until one is. With a ledger, each provider call is claimed first (see {@link SendGuard}): an
 * email sent before is skipped, one in doubt is resent or parked, and an unreachable ledger sends
 * nothing. Decides only: the worker publishes, records and acks.
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
  const acceptedAt = new Date(envelope.accepted_at);
  const email: OutboundEmail = { id: envelope.id, request: envelope.request, acceptedAt };
  const attempt = ledgerAttemptOf(message.headers);
  let guard: SendGuard | undefined;
  if (deps.ledger !== undefined) {
    if (!UUID.test(email.id)) {
      const text = 'the envelope id is not a UUID: the ledger cannot record it';
      return {
        action: 'park',
        id: email.id,
        reason: 'invalid',
        headers: historyHeaders(previous, now, { kind: 'invalid', text }),
      };
    }
    guard = new SendGuard(
      deps.ledger.port,
      { ...email, client: envelope.client, acceptedAt },
      attempt,
      deps.ledger.inDoubt,
      message.claimToken,
    );
  }
  const outcome = await deliverOnce(deps.chain, email, abandon, guard);
  deps.observe?.(outcome, acceptedAt);
  if (outcome.kind === 'abandoned') {
    // Best effort: a try claimed and then given back is closed as not sent, so its redelivery is not in doubt.
    await guard?.flush().catch(() => undefined);
    return { action: 'abandoned', id: email.id };
  }
  const attemptedAt = deps.now();
  const history: History = {
    attempts: previous.attempts + 1,
    firstAttemptAt: previous.attempts === 0 ? now : previous.firstAttemptAt,
    providersTried: [
      ...previous.providersTried,
      ...outcome.tried.filter((t) => t.outcome !== 'skipped-open-circuit').map((t) => t.provider),
    ],
  };
  if (outcome.kind === 'stopped') {
    const { verdict } = outcome;
    if (verdict.why === 'ledger-unavailable') {
      const unrecorded = guard?.unrecorded();
      const claimToken = guard?.lostClaimToken();
      return {
        action: 'ledger-unavailable',
        id: email.id,
        ...(unrecorded === undefined ? {} : { unrecorded }),
        ...(claimToken === undefined ? {} : { claimToken }),
      };
    }
    if (verdict.why !== 'in-doubt') return { action: 'skipped', id: email.id, reason: verdict.why };
    const text = `${verdict.provider ?? 'a provider'}: an earlier try was claimed and never finished; it may have been sent`;
    return {
      action: 'park',
      id: email.id,
      reason: 'in-doubt',
      headers: historyHeaders(history, attemptedAt, { kind: 'in-doubt', text, ambiguous: true }),
      record: {
        id: email.id,
        attempt,
        ...(verdict.provider === null ? {} : { provider: verdict.provider }),
        kind: 'in-doubt',
        error: text,
        ambiguous: true,
        next: 'parked',
      },
    };
  }
  if (outcome.kind === 'sent') {
    return {
      action: 'sent',
      id: email.id,
      provider: outcome.provider,
      attempts: history.attempts,
      ...(guard === undefined
        ? {}
        : {
            record: {
              id: email.id,
              attempt,
              provider: outcome.provider,
              providerMessageId: outcome.receipt.providerMessageId ?? null,
            },
          }),
    };
  }
  if (outcome.kind === 'unavailable') {
    const failure = { kind: 'transient' as const, text: 'every provider circuit is open' };
    const record: FailureRecord | undefined =
      guard === undefined
        ? undefined
        : { id: email.id, attempt, kind: 'transient', error: failure.text, ambiguous: false };
    return {
      action: 'hold',
      id: email.id,
      resumeInMs: outcome.resumeInMs,
      otherwise: retryOrPark(
        deps,
        email.id,
        history,
        attemptedAt,
        historyHeaders(history, attemptedAt, failure),
        record,
      ),
    };
  }
  const headers = historyHeaders(history, attemptedAt, failureOf(outcome));
  const unrecorded = guard?.unrecorded();
  if (outcome.kind === 'rejected') {
    return {
      action: 'park',
      id: email.id,
      reason: 'recipient-rejected',
      headers,
      ...(unrecorded === undefined ? {} : { record: { ...unrecorded, next: 'parked' as const } }),
    };
  }
  return retryOrPark(deps, email.id, history, attemptedAt, headers, unrecorded);
}
