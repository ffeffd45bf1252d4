import type { RetryTier } from '@mailer/contract';

/**
 * The pure decisions of a webhook delivery (docs/events.md, "Webhook deliveries"): what an answer
 * means, which retry tier the next try waits in, and the delivery's id.
 */

/** What one try's answer (or the lack of one) is. */
export type TryResult =
  /** Any 2xx within the timeout. */
  | { readonly kind: 'success'; readonly status: number }
  /** 410 Gone: the endpoint asks to be dropped; disabled, never retried. */
  | { readonly kind: 'gone'; readonly status: 410 }
  /** Any other answer (3xx included: redirects are not followed), or none: tried again while tries remain. */
  | { readonly kind: 'failure'; readonly status: number | null };

/** Classifies an HTTP status; `null` (no answer: timeout, refused destination, network error) is a failure. */
export function classifyStatus(status: number | null): TryResult {
  if (status !== null && status >= 200 && status <= 299) return { kind: 'success', status };
  if (status === 410) return { kind: 'gone', status };
  return { kind: 'failure', status };
}

/**
 * The tier try `tryNumber` (1-based, the one that just failed) waits in before the next try, or
 * undefined when it was the last (`delays` has one entry per retry; the schedule may repeat a
 * delay, the tiers are one per distinct delay). A `Retry-After` longer than the scheduled delay
 * moves the wait to the shortest tier that covers it (the longest tier when none does): the
 * tiers' fixed TTLs are the only waits there are.
 */
export function retryTierFor(
  tryNumber: number,
  delays: readonly number[],
  tiers: readonly RetryTier[],
  retryAfterMs?: number,
): RetryTier | undefined {
  const delay = delays[tryNumber - 1];
  if (delay === undefined || !Number.isInteger(tryNumber) || tryNumber < 1) return undefined;
  const scheduled = tiers.find((tier) => tier.delayMs === delay);
  if (scheduled === undefined) throw new Error(`no webhook retry tier for a delay of ${delay} ms`);
  if (retryAfterMs === undefined || retryAfterMs <= delay) return scheduled;
  return tiers.find((tier) => tier.delayMs >= retryAfterMs) ?? tiers.at(-1) ?? scheduled;
}

/**
 * A `Retry-After` header as milliseconds from `now` (delta seconds or an HTTP date); undefined
 * when absent, malformed or not in the future.
 */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d{1,9}$/.test(text)) {
    const ms = Number(text) * 1000;
    return ms > 0 ? ms : undefined;
  }
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  const ms = at - now.getTime();
  return ms > 0 ? ms : undefined;
}
