import { DeliveryHeaders } from './delivery';

/**
 * Header a replay from the dead-letter queue sets: the attempt number the email had reached
 * before. A replay starts a fresh history (every attempt again), but the ledger numbers attempts
 * per email: a copy numbered from 1 again would be `superseded` and acked without sending, so
 * its attempts count on from this base.
 */
export const ATTEMPT_BASE_HEADER = 'x-mailer-attempt-base';

type Headers = Readonly<Record<string, unknown>>;

function count(value: unknown): number {
  const n = Number(value ?? 0);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/** Delivery attempts the message's history counts (`x-mailer-attempts`), 0 for a first delivery. */
export function attemptsMade(headers: Headers): number {
  return count(headers[DeliveryHeaders.attempts]);
}

/** The replay base the message carries, 0 when it was never replayed. */
export function attemptBaseOf(headers: Headers): number {
  return count(headers[ATTEMPT_BASE_HEADER]);
}

/** The ledger's number for the attempt this delivery makes: base + attempts made + 1. */
export function ledgerAttemptOf(headers: Headers): number {
  return attemptBaseOf(headers) + attemptsMade(headers) + 1;
}

/**
 * The base a replayed copy carries: past the attempt the ledger recorded for the email (when it
 * is known) and past every attempt the parked copy's own history counts.
 */
export function replayedAttemptBase(headers: Headers, ledgerAttempt: number | undefined): number {
  return Math.max(attemptBaseOf(headers) + attemptsMade(headers), ledgerAttempt ?? 0);
}
