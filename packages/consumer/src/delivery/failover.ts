import {
  ProviderError,
  SendAbandonedError,
  SendDeadline,
  SendStopCode,
  stoppedSendError,
  type EmailProvider,
  type OutboundEmail,
  type RefusedRecipient,
  type SendReceipt,
} from '../providers/provider';
import type { CircuitBreaker } from './circuit-breaker';
import type { RateLimiter } from './rate-limiter';
import { normalizedSet, refusedAmong, withoutRecipients, type ProviderRefusal } from './recipients';
import type { GuardVerdict, SendGate } from './send-guard';

/** A provider in the failover chain, with its own circuit, rate limit and timeout. */
export interface ProviderSlot {
  readonly provider: EmailProvider;
  readonly circuit: CircuitBreaker;
  readonly limiter: RateLimiter;
  /**
   * How long the provider has to answer once the send owns one of its connections (the send on
   * the wire only). Far below RabbitMQ's consumer_timeout (30 min by default).
   */
  readonly timeoutMs: number;
  /**
   * How long a send may wait for the rate limit and one of the provider's connections before it
   * starts; {@link DEFAULT_SEND_WAIT_MS} when not given.
   */
  readonly waitTimeoutMs?: number;
}

/** One provider's try at an email. */
export interface ProviderAttempt {
  readonly provider: string;
  readonly outcome: 'sent' | 'skipped-open-circuit' | ProviderError['kind'];
  readonly error?: ProviderError;
}

/** The outcome of one delivery attempt across the chain. */
export type DeliveryOutcome =
  | {
      readonly kind: 'sent';
      readonly provider: string;
      readonly receipt: SendReceipt;
      readonly tried: readonly ProviderAttempt[];
      /** Recipients a provider refused by name in this attempt (not sent to); the others got it. */
      readonly refused: readonly ProviderRefusal[];
    }
  /**
   * Refused for good. With `refused`, the recipients refused by name: when they are every
   * recipient left (`allRefused`), no one was sent to.
   */
  | {
      readonly kind: 'rejected';
      readonly error: ProviderError;
      readonly tried: readonly ProviderAttempt[];
      readonly refused: readonly ProviderRefusal[];
      readonly allRefused: boolean;
    }
  | {
      readonly kind: 'failed';
      readonly error: ProviderError;
      readonly tried: readonly ProviderAttempt[];
      readonly refused: readonly ProviderRefusal[];
    }
  | { readonly kind: 'abandoned'; readonly tried: readonly ProviderAttempt[] }
  /** The gate (the ledger's claim) said not to call the provider; nothing was sent by this attempt. */
  | {
      readonly kind: 'stopped';
      readonly verdict: Exclude<GuardVerdict, { readonly send: true }>;
      readonly tried: readonly ProviderAttempt[];
    }
  /**
   * No provider could be tried: every circuit is open (or probing). Nothing was sent and no
   * attempt was made; a provider may be usable again in `resumeInMs`.
   */
  | { readonly kind: 'unavailable'; readonly resumeInMs: number; readonly tried: readonly ProviderAttempt[] };

/**
 * How soon to look again while a circuit's probe is out: its result may close the circuit well
 * before the provider's timeout.
 */
export const PROBE_RECHECK_MS = 1000;

/**
 * When the first provider of the chain may take a send again: the earliest end of a cool-down, or
 * for a circuit whose probe is out, the sooner of {@link PROBE_RECHECK_MS} and the probe's timeout.
 */
export function resumeInMs(chain: readonly ProviderSlot[]): number {
  let soonest = Number.POSITIVE_INFINITY;
  for (const slot of chain) {
    const due = slot.circuit.probeDueInMs() ?? Math.min(PROBE_RECHECK_MS, slot.timeoutMs);
    soonest = Math.min(soonest, due);
  }
  return Number.isFinite(soonest) ? soonest : 0;
}

/**
 * How long a send may wait for its provider's rate limit and one of its connections when the slot
 * does not say (the `SEND_WAIT_TIMEOUT` default), far below RabbitMQ's consumer_timeout (30
 * minutes): a healthy provider's queue is far shorter (PREFETCH 300 over 5 SMTP connections at
 * 1.6 s a message is 96 s). Only a provider at its full timeout on every send makes a longer one
 * (300 over 5 connections at 30 s is 30 minutes); its sends are then withdrawn unsent after this
 * wait and go round the retry tiers, never held unacked past the broker's limit.
 */
export const DEFAULT_SEND_WAIT_MS = 600_000;

/** What a send not yet on the wire tells the gate when its channel closed after the claim. */
const abandonedAfterClaim = (): ProviderError =>
  new ProviderError('transient', 'not sent: the message was given back to the broker before the send', {});

/** What one provider's try came to. */
type TryResult =
  | { readonly kind: 'sent'; readonly receipt: SendReceipt }
  /** Given back before the wire; `claimed`: after the gate had claimed the try. */
  | { readonly kind: 'abandoned'; readonly claimed: boolean }
  | { readonly kind: 'stopped'; readonly verdict: Exclude<GuardVerdict, { readonly send: true }> }
  | { readonly kind: 'failed'; readonly error: ProviderError };

/** Thrown through the adapter by `onStart` when the gate says no (or fails): nothing is sent. */
class GateHalt extends Error {
  constructor(readonly outcome: { verdict: Exclude<GuardVerdict, { readonly send: true }> } | { error: unknown }) {
    super('the gate stopped the send');
  }
}

/**
 * One provider's try. Two bounds, one after the other: the send may wait `waitTimeoutMs` for the
 * rate limit and one of the adapter's connections (a `WAIT_TIMEOUT` then: nothing was sent, never
 * ambiguous); once it owns a connection the gate claims the try (see {@link SendGate}), and from
 * then on the provider has `timeoutMs` to answer (a `TIMEOUT` then, ambiguous only if the adapter
 * had handed the message over). The adapter settles as soon as the signal aborts; one that does
 * not gets a last turn, then the try is given up as ambiguous, since nothing says what it sent.
 */
async function tryProvider(
  slot: ProviderSlot,
  email: OutboundEmail,
  abandon: AbortSignal | undefined,
  gate: SendGate | undefined,
): Promise<TryResult> {
  const name = slot.provider.name;
  const controller = new AbortController();
  const waitMs = slot.waitTimeoutMs ?? DEFAULT_SEND_WAIT_MS;
  let timer = setTimeout(() => controller.abort(new SendDeadline('wait', waitMs)), waitMs);
  let claimed = false;
  let giveUp: ((error: ProviderError) => void) | undefined;
  try {
    const rated = await acquireRate(slot, abandon, controller);
    // Looked at after the await: the message's channel may have closed meanwhile.
    if (abandon?.aborted === true) return { kind: 'abandoned', claimed };
    if (!rated) return { kind: 'failed', error: stoppedSendError(name, controller.signal.reason, false) };
    const onStart = async (): Promise<void> => {
      clearTimeout(timer);
      if (gate !== undefined) {
        let verdict: GuardVerdict;
        try {
          verdict = await gate.beforeSend(name);
        } catch (error) {
          throw new GateHalt({ error });
        }
        if (!verdict.send) throw new GateHalt({ verdict });
        claimed = true;
      }
      timer = setTimeout(() => {
        controller.abort(new SendDeadline('wire', slot.timeoutMs));
        setImmediate(() => giveUp?.(stoppedSendError(name, controller.signal.reason, true)));
      }, slot.timeoutMs);
    };
    const givenUp = new Promise<never>((_, reject) => {
      giveUp = reject;
    });
    const sending = slot.provider.send(
      email,
      controller.signal,
      abandon === undefined ? { onStart } : { abandon, onStart },
    );
    return { kind: 'sent', receipt: await Promise.race([sending, givenUp]) };
  } catch (caught) {
    if (caught instanceof GateHalt) {
      if ('error' in caught.outcome) throw caught.outcome.error;
      return { kind: 'stopped', verdict: caught.outcome.verdict };
    }
    if (caught instanceof SendAbandonedError) return { kind: 'abandoned', claimed };
    if (caught instanceof ProviderError) return { kind: 'failed', error: caught };
    // An adapter must classify its errors; anything else is a bug there, treated as transient.
    return {
      kind: 'failed',
      error: new ProviderError('transient', `${name} failed unexpectedly`, { cause: caught }),
    };
  } finally {
    clearTimeout(timer);
    giveUp = undefined;
  }
}

/**
 * Waits for the provider's rate limit; resolves false when the message was abandoned or the wait
 * ran out first (the caller tells which). Only a limited provider waits here: an unlimited one costs no listener.
 */
async function acquireRate(
  slot: ProviderSlot,
  abandon: AbortSignal | undefined,
  controller: AbortController,
): Promise<boolean> {
  if (!slot.limiter.limited) return true;
  const waiting = new AbortController();
  const stop = (): void => waiting.abort();
  abandon?.addEventListener('abort', stop, { once: true });
  controller.signal.addEventListener('abort', stop, { once: true });
  try {
    await slot.limiter.acquire(waiting.signal);
    return true;
  } catch {
    return false;
  } finally {
    abandon?.removeEventListener('abort', stop);
    controller.signal.removeEventListener('abort', stop);
  }
}

/**
 * One delivery attempt: tries the providers in order. If `abandon` fires (the message's channel
 * closed), no further send is started, a send still waiting in a rate limiter or for one of the
 * adapter's connections is dropped, and the outcome is `abandoned`. A send already on the wire
 * finishes. The first that takes the email ends it.
 * A recipient refusal ends it too (another provider would refuse the same email), unless the
 * provider named the recipients it refused and others are left: then the email is sent again at
 * once through the same provider to the others (never failed over), and the outcome lists the
 * refused recipients (`refused`) for the suppression list. A provider that
 * cannot send opens its circuit and the next is tried; a transient failure counts towards its
 * circuit and the next is tried. Providers with an open circuit are skipped.
 *
 * Each try has two bounds (see {@link tryProvider}): the wait for the rate limit and a connection
 * (`WAIT_TIMEOUT`: nothing sent; the next provider is tried, and the circuit is not counted
 * against), then the send on the wire (`TIMEOUT`). Only a timeout after the email was handed over
 * is ambiguous: the provider may have sent it. The next provider is tried all the same (a late
 * duplicate is judged better than a lost email), and the failure says `ambiguous` so it shows in
 * logs, headers and the ledger.
 *
 * When every circuit is open, nothing is tried and the outcome is `unavailable`, with the time
 * until the first circuit lets a probe through.
 *
 * With a `gate` (the ledger's send guard), each provider call is claimed when the send starts
 * (it owns one of the adapter's connections, through `SendOptions.onStart`), so only sends that
 * went on the wire are ever claimed, and each failure is told to the gate; when the gate says no (sent before, superseded, in doubt,
 * the ledger unreachable) nothing more is sent and the outcome is `stopped`.
 */
export async function deliverOnce(
  chain: readonly ProviderSlot[],
  email: OutboundEmail,
  abandon?: AbortSignal,
  gate?: SendGate,
): Promise<DeliveryOutcome> {
  const tried: ProviderAttempt[] = [];
  const refused: ProviderRefusal[] = [];
  // The recipients still to send to: narrowed when a provider refuses some by name.
  let current = email;
  let lastError: ProviderError | undefined;
  for (const slot of chain) {
    const name = slot.provider.name;
    if (!slot.circuit.tryAcquire()) {
      tried.push({ provider: name, outcome: 'skipped-open-circuit' });
      continue;
    }
    // Each pass sends to fewer recipients than the one before (see below), so this ends.
    for (;;) {
      let result: TryResult;
      try {
        result = await tryProvider(slot, current, abandon, gate);
      } catch (error) {
        // The gate failed (not an unreachable ledger: that is a verdict): nothing was sent.
        slot.circuit.cancelProbe();
        throw error;
      }
      switch (result.kind) {
        case 'sent':
          slot.circuit.recordSuccess();
          tried.push({ provider: name, outcome: 'sent' });
          refused.push(...refusalsOf(name, current, result.receipt.refused));
          return { kind: 'sent', provider: name, receipt: result.receipt, tried, refused };
        case 'abandoned':
          // Dropped before the wire: says nothing about the provider. A claimed try is closed as not
          // sent, so the redelivery is not in doubt.
          slot.circuit.cancelProbe();
          if (result.claimed) gate?.failed(name, abandonedAfterClaim());
          return { kind: 'abandoned', tried };
        case 'stopped':
          slot.circuit.cancelProbe();
          return { kind: 'stopped', verdict: result.verdict, tried };
        case 'failed':
          break;
      }
      const { error } = result;
      tried.push({ provider: name, outcome: error.kind, error });
      gate?.failed(name, error);
      lastError = error;
      if (error.kind !== 'recipient-rejected') break;
      slot.circuit.recordSuccess();
      const named = refusalsOf(name, current, error.refused);
      refused.push(...named);
      const rest = withoutRecipients(current, normalizedSet(named.map((r) => r.address)));
      // Nobody named, or nobody left: refused for good. Never failed over: another provider would
      // refuse the same email, or take it and bounce it (SES, for a Postmark inactive recipient).
      if (named.length === 0 || rest === undefined) {
        return { kind: 'rejected', error, tried, refused, allRefused: rest === undefined };
      }
      // Some recipients refused by name, others left: sent again at once to those, through the
      // same provider, which named the refused ones. The next pass is claimed again (a try of its own).
      current = rest;
      if (!slot.circuit.tryAcquire()) {
        tried.push({ provider: name, outcome: 'skipped-open-circuit' });
        return { kind: 'rejected', error, tried, refused, allRefused: false };
      }
    }
    // The inner loop ends here only by a failure other than a refusal, which set lastError.
    const error = lastError;
    // A send that never got a connection says the provider is busy, not that it fails.
    if (error.code === SendStopCode.waitTimeout) slot.circuit.cancelProbe();
    else if (error.kind === 'provider-unavailable') slot.circuit.open();
    else slot.circuit.recordFailure();
  }
  if (lastError === undefined) return { kind: 'unavailable', resumeInMs: resumeInMs(chain), tried };
  return { kind: 'failed', error: lastError, tried, refused };
}

/** What `provider` refused by name among the email's recipients, with the provider. */
function refusalsOf(
  provider: string,
  email: OutboundEmail,
  refused: readonly RefusedRecipient[] | undefined,
): ProviderRefusal[] {
  return refused === undefined ? [] : refusedAmong(email, refused).map((r) => ({ ...r, provider }));
}
