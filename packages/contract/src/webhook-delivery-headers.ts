/**
 * Headers the webhook delivery worker sets on a parked delivery (the webhooks dead queue,
 * docs/events.md), so that an operator and `mailer webhooks replay` can tell why it stopped. No
 * secret, no full address. (A file of its own: webhooks.ts is extended by several branches.)
 */
export const WebhookDeliveryHeaders = {
  /** Tries made (the message's `try`). */
  tries: 'x-mailer-webhook-tries',
  /** Why it was parked: `retries-exhausted`, `gone` (410) or `undecodable`. */
  parkedReason: 'x-mailer-parked-reason',
  /** The last answer's HTTP status; absent when none came. */
  lastStatus: 'x-mailer-webhook-last-status',
  /** The last try's short error (`timeout`, `refused destination: loopback`, the masked answer's start). */
  lastError: 'x-mailer-webhook-last-error',
  /** When the last try ended (ISO 8601). */
  lastTryAt: 'x-mailer-webhook-last-try-at',
} as const;
