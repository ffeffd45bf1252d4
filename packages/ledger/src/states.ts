import type { EmailState } from '@mailer/contract';

/** The states are the contract's (the API shows them); re-exported as the ledger's own names. */
export { EMAIL_STATES, type EmailState } from '@mailer/contract';

/**
 * Each state's rank; the migration's `ledger_state_rank` (last in 0008) says the same and both
 * change together. Delivered states start at {@link DELIVERED_RANK}; those past `sent` are an
 * email's summary of its recipients' outcomes, which only ever moves up this order.
 */
export const STATE_RANK: Readonly<Record<EmailState, number>> = {
  queued: 0,
  sending: 1,
  retrying: 2,
  parked: 3,
  suppressed: 4,
  abandoned: 5,
  sent: 10,
  delivered: 11,
  bounced: 12,
  complained: 13,
};

/** The first rank of a delivered state: these outrank every undelivered state at any attempt. */
export const DELIVERED_RANK = 10;

/** A state and the attempt it belongs to (0 before the first claim). */
export interface Progress {
  readonly state: EmailState;
  readonly attempt: number;
}

function order(progress: Progress): [number, number, number] {
  const rank = STATE_RANK[progress.state];
  return [rank >= DELIVERED_RANK ? 1 : 0, progress.attempt, rank];
}

/**
 * Whether `next` comes after `current`, the rule the ledger's guarded updates apply
 * (`ledger_advances` in SQL): a delivered state first, then the attempt, then the rank. Updates
 * that arrive out of order therefore never move an email backwards.
 */
export function advances(current: Progress, next: Progress): boolean {
  const [a, b] = [order(current), order(next)];
  for (let k = 0; k < 3; k++) {
    const x = a[k] ?? 0;
    const y = b[k] ?? 0;
    if (x !== y) return y > x;
  }
  return false;
}

/** What the ledger ends up with after `updates` in the given order, from `queued` at attempt 0. */
export function settle(updates: readonly Progress[]): Progress {
  return updates.reduce<Progress>((current, next) => (advances(current, next) ? next : current), {
    state: 'queued',
    attempt: 0,
  });
}
