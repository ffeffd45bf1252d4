import {
  ProviderError,
  SendAbandonedError,
  type EmailProvider,
  type OutboundEmail,
  type SendReceipt,
} from '../providers/provider';
import type { CircuitBreaker } from './circuit-breaker';
import type { RateLimiter } from './rate-limiter';
import type { GuardVerdict, SendGate } from './send-guard';

/** A provider in the failover chain, with its own circuit, rate limit and timeout. */
export interface ProviderSlot {
  readonly provider: EmailProvider;
  readonly circuit: CircuitBreaker;
  readonly limiter: RateLimiter;
  /** Far below RabbitMQ's consumer_timeout (30 min by default). */
  readonly timeoutMs: number;
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
    }
  | { readonly kind: 'rejected'; readonly error: ProviderError; readonly tried: readonly ProviderAttempt[] }
  | { readonly kind: 'failed'; readonly error: ProviderError; readonly tried: readonly ProviderAttempt[] }
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

/** Sends with the provider's own timeout; a timeout is transient and, since data may be out, ambiguous. */
async function sendWithTimeout(
  slot: ProviderSlot,
  email: OutboundEmail,
  abandon: AbortSignal | undefined,
): Promise<SendReceipt> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Settle the race first: the adapter may reject synchronously when it sees the abort.
      reject(
        new ProviderError('transient', `${slot.provider.name} did not answer within ${slot.timeoutMs} ms`, {
          code: 'TIMEOUT',
          ambiguous: true,
        }),
      );
      controller.abort();
    }, slot.timeoutMs);
  });
  try {
    const sending = slot.provider.send(email, controller.signal, abandon === undefined ? {} : { abandon });
    return await Promise.race([sending, timedOut]);
  } catch (error) {
    if (error instanceof ProviderError || error instanceof SendAbandonedError) throw error;
    // An adapter must classify its errors; anything else is a bug there, treated as transient.
    throw new ProviderError('transient', `${slot.provider.name} failed unexpectedly`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/** Whether the message's channel has closed (read again after an await). */
const closedMeanwhile = (abandon: AbortSignal | undefined): boolean => abandon?.aborted === true;

/** What a send not yet on the wire tells the gate when its channel closed after the claim. */
const abandonedAfterClaim = (): ProviderError =>
  new ProviderError('transient', 'not sent: the message was given back to the broker before the send', {});

/**
 * One delivery attempt: tries the providers in order. If `abandon` fires (the message's channel
 * closed), no further send is started, a send still waiting in a rate limiter or for one of the
 * adapter's connections is dropped, and the outcome is `abandoned`. A send already on the wire
 * finishes. The first that takes the email ends it.
 * A recipient refusal ends it too (another provider would refuse the same email). A provider that
 * cannot send opens its circuit and the next is tried; a transient failure counts towards its
 * circuit and the next is tried. Providers with an open circuit are skipped.
 *
 * A timeout after the email was handed over is ambiguous: the provider may have sent it. The
 * next provider is tried all the same (a late duplicate is judged better than a lost email), and
 * the failure says `ambiguous` so it shows in logs and headers.
 *
 * When every circuit is open, nothing is tried and the outcome is `unavailable`, with the time
 * until the first circuit lets a probe through.
 *
 * With a `gate` (the ledger's send guard), each provider call is claimed right before it is made
 * and each failure is told to the gate; when the gate says no (sent before, superseded, in doubt,
 * the ledger unreachable) nothing more is sent and the outcome is `stopped`.
 */
export async function deliverOnce(
  chain: readonly ProviderSlot[],
  email: OutboundEmail,
  abandon?: AbortSignal,
  gate?: SendGate,
): Promise<DeliveryOutcome> {
  const tried: ProviderAttempt[] = [];
  let lastError: ProviderError | undefined;
  for (const slot of chain) {
    const name = slot.provider.name;
    if (!slot.circuit.tryAcquire()) {
      tried.push({ provider: name, outcome: 'skipped-open-circuit' });
      continue;
    }
    try {
      await slot.limiter.acquire(abandon);
    } catch {
      // Abandoned while waiting for the rate limit: nothing was sent.
      slot.circuit.cancelProbe();
      return { kind: 'abandoned', tried };
    }
    // The message can no longer be acked (its channel closed): the broker will redeliver it, so
    // sending it now would only make a duplicate.
    if (abandon?.aborted === true) {
      slot.circuit.cancelProbe();
      return { kind: 'abandoned', tried };
    }
    if (gate !== undefined) {
      let verdict: GuardVerdict;
      try {
        verdict = await gate.beforeSend(name);
      } catch (error) {
        slot.circuit.cancelProbe();
        throw error;
      }
      if (!verdict.send) {
        slot.circuit.cancelProbe();
        return { kind: 'stopped', verdict, tried };
      }
      if (closedMeanwhile(abandon)) {
        // Claimed, then the channel closed: close the try as not sent, so the redelivery is not in doubt.
        slot.circuit.cancelProbe();
        gate.failed(name, abandonedAfterClaim());
        return { kind: 'abandoned', tried };
      }
    }
    try {
      const receipt = await sendWithTimeout(slot, email, abandon);
      slot.circuit.recordSuccess();
      tried.push({ provider: name, outcome: 'sent' });
      return { kind: 'sent', provider: name, receipt, tried };
    } catch (caught) {
      if (caught instanceof SendAbandonedError) {
        // Dropped before the wire (it waited for a connection): says nothing about the provider.
        slot.circuit.cancelProbe();
        gate?.failed(name, abandonedAfterClaim());
        return { kind: 'abandoned', tried };
      }
      const error = caught instanceof ProviderError ? caught : new ProviderError('transient', String(caught));
      tried.push({ provider: name, outcome: error.kind, error });
      gate?.failed(name, error);
      lastError = error;
      if (error.kind === 'recipient-rejected') {
        slot.circuit.recordSuccess();
        return { kind: 'rejected', error, tried };
      }
      if (error.kind === 'provider-unavailable') slot.circuit.open();
      else slot.circuit.recordFailure();
    }
  }
  if (lastError === undefined) return { kind: 'unavailable', resumeInMs: resumeInMs(chain), tried };
  return { kind: 'failed', error: lastError, tried };
}
