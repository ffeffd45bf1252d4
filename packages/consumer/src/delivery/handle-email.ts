import {
  DeliveryHeaders,
  attemptsMade,
  decodeEnvelope,
  type DecodedEnvelope,
  ledgerAttemptOf,
  maskAddressesIn,
  normalizeAddress,
  type EnvelopeProblem,
  type FailureKind,
  type ParkReason,
  type RecipientHasher,
  type RetryTier,
} from '@mailer/contract';
import type { OutboundEmail } from '../providers/provider';
import { deliverOnce, type DeliveryOutcome, type ProviderSlot } from './failover';
import {
  keysOf,
  normalizedSet,
  recipientAddresses,
  refusalEntry,
  withoutRecipients,
  type ProviderRefusal,
} from './recipients';
import { decideRetry, type RetryPolicyOptions } from './retry-policy';
import {
  SendGuard,
  isLedgerUnavailable,
  type DeliveryLedger,
  type FailureRecord,
  type GuardedEmail,
  type InDoubtPolicy,
  type SentRecord,
  type SuppressionRecord,
} from './send-guard';

/** The ledger, when the consumer records its sends (`LEDGER=on`), and what to do with an email in doubt. */
export interface LedgerDeps {
  readonly port: DeliveryLedger;
  readonly inDoubt: InDoubtPolicy;
  /**
   * Keys recipients (`RECIPIENT_HASH_SECRET`) for the suppression list: each email's recipients
   * are looked up just before the send, and those a provider refuses by name are added. Absent:
   * neither happens (a ledger opened without a secret).
   */
  readonly hasher?: RecipientHasher;
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
  /** Recipients a provider refused by name in this attempt: written after `record`. */
  readonly suppression?: SuppressionRecord;
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
  /** Recipients a provider refused by name in this attempt: written after `record`. */
  readonly suppression?: SuppressionRecord;
}

/** What to do with the message: the worker carries it out, acking only after any copy is confirmed. */
export type Settlement =
  /**
   * A provider took it: `suppression` (recipients not sent to) then `record` go to the ledger
   * (each retried until it does), then the ack.
   */
  | {
      readonly action: 'sent';
      readonly id: string;
      readonly provider: string;
      readonly attempts: number;
      readonly record?: SentRecord;
      readonly suppression?: SuppressionRecord;
    }
  /**
   * No recipient is left to send to: every one was on the suppression list just before the send,
   * or refused by name as on the provider's own list (a Postmark 406). Nothing was sent (to
   * anyone). `record` (the refused try, if any) then `suppression` (the email becomes
   * `suppressed`) go to the ledger, then the ack.
   */
  | {
      readonly action: 'suppressed';
      readonly id: string;
      readonly record?: FailureRecord;
      readonly suppression: SuppressionRecord;
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What one attempt at an email leaves for the decision: who it was, what the ledger knows of it, its history. */
interface Attempted {
  readonly id: string;
  /** The ledger's attempt number. */
  readonly attempt: number;
  /** Absent with `LEDGER=off`. */
  readonly guard: SendGuard | undefined;
  /** The history including this attempt. */
  readonly history: History;
  readonly attemptedAt: Date;
  /** Recipients dropped before the send, found on the suppression list (in full; hashed when recorded). */
  readonly dropped: readonly string[];
  /** Keys recipients; absent without a ledger or a secret (nothing is then looked up or added). */
  readonly hasher: RecipientHasher | undefined;
}

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
  if (!decoded.ok) return parkUndecodable(decoded, previous, now);
  const { envelope } = decoded;
  const acceptedAt = new Date(envelope.accepted_at);
  const email: OutboundEmail = { id: envelope.id, request: envelope.request, acceptedAt };
  const attempt = ledgerAttemptOf(message.headers);
  if (deps.ledger !== undefined && !UUID.test(email.id)) return parkUnrecordable(email.id, previous, now);
  const hasher = deps.ledger?.hasher;
  let toSend = email;
  let dropped: string[] = [];
  if (deps.ledger !== undefined && hasher !== undefined) {
    const checked = await dropSuppressed(deps.ledger.port, hasher, email);
    if (checked === 'ledger-unavailable') {
      // Nothing claimed now; a claim whose answer was lost before keeps its token for the next handling.
      const { claimToken } = message;
      return { action: 'ledger-unavailable', id: email.id, ...(claimToken === undefined ? {} : { claimToken }) };
    }
    dropped = checked === email ? [] : droppedFrom(email, checked);
    if (checked === undefined) {
      // Every recipient was suppressed after intake: nothing to send; the email becomes `suppressed`.
      return {
        action: 'suppressed',
        id: email.id,
        suppression: suppressionOf(hasher, email.id, attempt, dropped, [], true),
      };
    }
    toSend = checked;
  }
  const guard = guardFor(deps.ledger, { ...email, client: envelope.client, acceptedAt }, attempt, message.claimToken);
  const outcome = await deliverOnce(deps.chain, toSend, abandon, guard);
  deps.observe?.(outcome, acceptedAt);
  if (outcome.kind === 'abandoned') return giveBack(email.id, guard);
  const history = historyAfter(previous, now, outcome.tried);
  return decide(deps, { id: email.id, attempt, guard, history, attemptedAt: deps.now(), dropped, hasher }, outcome);
}

/**
 * The check just before the send: the email without its recipients now on the suppression list
 * (added after intake); the email itself when none is; `undefined` when every one is;
 * `ledger-unavailable` when the ledger cannot say (nothing is sent then).
 */
async function dropSuppressed(
  port: DeliveryLedger,
  hasher: RecipientHasher,
  email: OutboundEmail,
): Promise<OutboundEmail | undefined | 'ledger-unavailable'> {
  const addresses = recipientAddresses(email.request);
  let flags: boolean[];
  try {
    flags = await port.suppressedAmong(addresses.map((address) => hasher.candidates(address)));
  } catch (error) {
    if (isLedgerUnavailable(error)) return 'ledger-unavailable';
    throw error;
  }
  const suppressed = addresses.filter((_, i) => flags[i] === true);
  return suppressed.length === 0 ? email : withoutRecipients(email, normalizedSet(suppressed));
}

/** The recipients of `email` that `narrowed` no longer has (all of them when it is undefined). */
function droppedFrom(email: OutboundEmail, narrowed: OutboundEmail | undefined): string[] {
  const kept = normalizedSet(narrowed === undefined ? [] : recipientAddresses(narrowed.request));
  return recipientAddresses(email.request).filter((address) => !kept.has(normalizeAddress(address)));
}

/**
 * What the ledger is told of the recipients not sent to: `dropped` (suppressed before the send)
 * and `refused` (refused by a provider, added to the list) get the outcome `suppressed`; with
 * `emailSuppressed`, the email too.
 */
function suppressionOf(
  hasher: RecipientHasher,
  id: string,
  attempt: number,
  dropped: readonly string[],
  refused: readonly ProviderRefusal[],
  emailSuppressed: boolean,
): SuppressionRecord {
  const seen = new Set<string>();
  const once = (address: string): boolean => {
    const key = normalizeAddress(address);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  };
  const recipients = [...dropped, ...refused.map((r) => r.address)].filter(once).map((a) => keysOf(hasher, a));
  return {
    id,
    attempt,
    recipients,
    entries: refused.map((refusal) => refusalEntry(hasher, id, refusal)),
    emailSuppressed,
  };
}

/** With a ledger, the guard that claims each provider call of this attempt (see {@link SendGuard}). */
function guardFor(
  ledger: LedgerDeps | undefined,
  email: GuardedEmail,
  attempt: number,
  claimToken: string | undefined,
): SendGuard | undefined {
  return ledger === undefined ? undefined : new SendGuard(ledger.port, email, attempt, ledger.inDoubt, claimToken);
}

/** A body that is not a readable envelope: park it as it is, with the problem. */
function parkUndecodable(
  decoded: Extract<DecodedEnvelope, { ok: false }>,
  previous: History,
  now: Date,
): ParkSettlement {
  return {
    action: 'park',
    id: decoded.id,
    reason: decoded.problem,
    headers: historyHeaders(previous, now, { kind: decoded.problem, text: decoded.text }),
  };
}

/** An envelope the ledger cannot key (its id is not a UUID): park it unsent rather than send it unrecorded. */
function parkUnrecordable(id: string, previous: History, now: Date): ParkSettlement {
  const text = 'the envelope id is not a UUID: the ledger cannot record it';
  return { action: 'park', id, reason: 'invalid', headers: historyHeaders(previous, now, { kind: 'invalid', text }) };
}

/** The message's channel closed before a send: nothing to settle, the broker redelivers it. */
async function giveBack(id: string, guard: SendGuard | undefined): Promise<Settlement> {
  // Best effort: a try claimed and then given back is closed as not sent, so its redelivery is not in doubt.
  await guard?.flush().catch(() => undefined);
  return { action: 'abandoned', id };
}

/** The history carried on: one more attempt, and the providers it really tried. */
function historyAfter(previous: History, now: Date, tried: DeliveryOutcome['tried']): History {
  return {
    attempts: previous.attempts + 1,
    firstAttemptAt: previous.attempts === 0 ? now : previous.firstAttemptAt,
    providersTried: [
      ...previous.providersTried,
      ...tried.filter((t) => t.outcome !== 'skipped-open-circuit').map((t) => t.provider),
    ],
  };
}

/** What an attempt's outcome asks of the worker. */
function decide(
  deps: HandleDeps,
  attempted: Attempted,
  outcome: Exclude<DeliveryOutcome, { kind: 'abandoned' }>,
): Settlement {
  switch (outcome.kind) {
    case 'stopped':
      return afterLedgerStop(attempted, outcome.verdict);
    case 'sent':
      return sent(attempted, outcome);
    case 'unavailable':
      return holdForProvider(deps, attempted, outcome.resumeInMs);
    case 'rejected':
    case 'failed':
      return afterFailure(deps, attempted, outcome);
  }
}

/** The ledger stopped the send: it could not be reached, the email needs no sending, or it is in doubt. */
function afterLedgerStop(
  { id, attempt, guard, history, attemptedAt }: Attempted,
  verdict: Extract<DeliveryOutcome, { kind: 'stopped' }>['verdict'],
): Settlement {
  if (verdict.why === 'ledger-unavailable') {
    const unrecorded = guard?.unrecorded();
    const claimToken = guard?.lostClaimToken();
    return {
      action: 'ledger-unavailable',
      id,
      ...(unrecorded === undefined ? {} : { unrecorded }),
      ...(claimToken === undefined ? {} : { claimToken }),
    };
  }
  if (verdict.why !== 'in-doubt') return { action: 'skipped', id, reason: verdict.why };
  const text = `${verdict.provider ?? 'a provider'}: an earlier try was claimed and never finished; it may have been sent`;
  return {
    action: 'park',
    id,
    reason: 'in-doubt',
    headers: historyHeaders(history, attemptedAt, { kind: 'in-doubt', text, ambiguous: true }),
    record: {
      id,
      attempt,
      ...(verdict.provider === null ? {} : { provider: verdict.provider }),
      kind: 'in-doubt',
      error: text,
      ambiguous: true,
      next: 'parked',
    },
  };
}

/** A provider took it; with a ledger, the send to record before the ack. */
function sent(attempted: Attempted, outcome: Extract<DeliveryOutcome, { kind: 'sent' }>): Settlement {
  const { id, attempt, guard, history } = attempted;
  const suppression = notSentTo(attempted, outcome.refused);
  return {
    action: 'sent',
    id,
    provider: outcome.provider,
    attempts: history.attempts,
    ...(suppression === undefined ? {} : { suppression }),
    ...(guard === undefined
      ? {}
      : {
          record: {
            id,
            attempt,
            provider: outcome.provider,
            providerMessageId: outcome.receipt.providerMessageId ?? null,
          },
        }),
  };
}

/** Every circuit is open: hold it until one lets a probe through, or retry or park if it cannot be held that long. */
function holdForProvider(deps: HandleDeps, attempted: Attempted, resumeInMs: number): Settlement {
  const { id, attempt, guard, history, attemptedAt } = attempted;
  const failure = { kind: 'transient' as const, text: 'every provider circuit is open' };
  const record: FailureRecord | undefined =
    guard === undefined ? undefined : { id, attempt, kind: 'transient', error: failure.text, ambiguous: false };
  return {
    action: 'hold',
    id,
    resumeInMs,
    otherwise: retryOrPark(deps, attempted, historyHeaders(history, attemptedAt, failure), record),
  };
}

/** Refused for good: park, or suppressed when nobody is left. Failed for now: retry or park. */
function afterFailure(
  deps: HandleDeps,
  attempted: Attempted,
  outcome: Extract<DeliveryOutcome, { kind: 'rejected' | 'failed' }>,
): Settlement {
  const unrecorded = attempted.guard?.unrecorded();
  if (outcome.kind === 'rejected' && providerSuppressedAll(outcome) && attempted.hasher !== undefined) {
    // Every recipient left is on the provider's own suppression list (a Postmark 406): nothing
    // went out, and nothing ever will through any provider; the email ends `suppressed`.
    const { id, attempt, dropped, hasher } = attempted;
    return {
      action: 'suppressed',
      id,
      ...(unrecorded === undefined ? {} : { record: unrecorded }),
      suppression: suppressionOf(hasher, id, attempt, dropped, outcome.refused, true),
    };
  }
  const headers = historyHeaders(attempted.history, attempted.attemptedAt, failureOf(outcome));
  const suppression = notSentTo(attempted, outcome.refused);
  const extra = suppression === undefined ? {} : { suppression };
  if (outcome.kind === 'failed') return { ...retryOrPark(deps, attempted, headers, unrecorded), ...extra };
  return {
    action: 'park',
    id: attempted.id,
    reason: 'recipient-rejected',
    headers,
    ...(unrecorded === undefined ? {} : { record: { ...unrecorded, next: 'parked' as const } }),
    ...extra,
  };
}

/** Whether a refusal left nobody, every one of the last refused being on the provider's own list. */
function providerSuppressedAll(outcome: Extract<DeliveryOutcome, { kind: 'rejected' }>): boolean {
  const last = outcome.error.refused;
  return outcome.allRefused && last !== undefined && last.every((r) => r.onProviderList);
}

/** With a hasher, what the ledger is told of the recipients this attempt did not send to; undefined when none. */
function notSentTo(attempted: Attempted, refused: readonly ProviderRefusal[]): SuppressionRecord | undefined {
  const { hasher, id, attempt, dropped } = attempted;
  if (hasher === undefined || (dropped.length === 0 && refused.length === 0)) return undefined;
  return suppressionOf(hasher, id, attempt, dropped, refused, false);
}

/**
 * Retry through the next delay tier, or park once the attempts or the age run out; `failure` (the
 * try to record, when there is a ledger) gets the matching `next`.
 */
function retryOrPark(
  deps: HandleDeps,
  { id, history, attemptedAt }: Attempted,
  headers: Record<string, string | number>,
  failure: FailureRecord | undefined,
): RetrySettlement | ParkSettlement {
  const decision = decideRetry(deps.policy, history.attempts, history.firstAttemptAt, attemptedAt);
  const next: 'retrying' | 'parked' = decision.action === 'park' ? 'parked' : 'retrying';
  const record = failure === undefined ? {} : { record: { ...failure, next } };
  if (decision.action === 'park') return { action: 'park', id, reason: decision.reason, headers, ...record };
  return { action: 'retry', id, tier: decision.tier, headers, ...record };
}
