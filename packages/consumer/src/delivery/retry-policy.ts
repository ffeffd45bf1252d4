import type { RetryTier } from '@mailer/contract';

/** When to give up on an email that keeps failing transiently. */
export interface RetryPolicyOptions {
  /** Delivery attempts before parking (each attempt tries the whole provider chain). */
  readonly maxAttempts: number;
  /** Age (from the first attempt) after which an email is parked rather than retried. */
  readonly maxAgeMs: number;
  /** The delay tiers of the topology, shortest first. */
  readonly tiers: readonly RetryTier[];
}

/** What to do after an attempt in which every provider failed transiently. */
export type RetryDecision =
  | { readonly action: 'retry'; readonly tier: RetryTier }
  | { readonly action: 'park'; readonly reason: 'max-attempts' | 'max-age' };

/**
 * Chooses the next delay tier after `attempts` failed attempts: the first tier after the first
 * attempt, the second after the second, and the longest one from then on. Pure.
 */
export function decideRetry(
  options: RetryPolicyOptions,
  attempts: number,
  firstAttemptAt: Date,
  now: Date,
): RetryDecision {
  if (attempts >= options.maxAttempts) return { action: 'park', reason: 'max-attempts' };
  const tier = options.tiers[Math.min(attempts, options.tiers.length) - 1];
  if (tier === undefined) return { action: 'park', reason: 'max-attempts' };
  if (now.getTime() - firstAttemptAt.getTime() + tier.delayMs > options.maxAgeMs) {
    return { action: 'park', reason: 'max-age' };
  }
  return { action: 'retry', tier };
}
