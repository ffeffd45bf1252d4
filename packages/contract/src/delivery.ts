/**
 * The vocabulary of delivery failures (docs/design.md): each provider adapter, and only the adapter,
 * maps its provider's errors to one of these kinds; the consumer decides by kind alone.
 *
 * - `recipient-rejected`: the provider refuses this email for good (inactive or invalid
 *   recipient, rejected content). No retry, no failover: park it.
 * - `provider-unavailable`: this provider cannot send anything now (bad credentials, sending
 *   paused, quota spent, unverified sender). Fail over at once and open its circuit.
 * - `transient`: this attempt failed but a later one may not (timeout, refused connection, 429,
 *   5xx, SMTP 4xx). Fail over; if every provider failed, retry later through the delay tiers.
 */
export type FailureKind = 'recipient-rejected' | 'provider-unavailable' | 'transient';

/** Every {@link FailureKind}, for validation and tables. */
export const FAILURE_KINDS: readonly FailureKind[] = ['recipient-rejected', 'provider-unavailable', 'transient'];

/** Providers the consumer can send through, in no particular order (`PROVIDERS` picks and orders them). */
export const PROVIDER_NAMES = ['ses', 'postmark', 'smtp', 'capture'] as const;

/** A provider's name, as `PROVIDERS`, `x-mailer-providers-tried` and the ledger's attempts write it. */
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/**
 * Every reason the consumer parks a message for (`x-mailer-parked-reason`). `in-doubt`: its last
 * try was claimed and never finished (it may have been sent), with `IN_DOUBT=park`.
 */
export const PARK_REASONS = [
  'recipient-rejected',
  'max-attempts',
  'max-age',
  'undecodable',
  'invalid',
  'in-doubt',
] as const;

/** Why a message is parked: one of {@link PARK_REASONS}. */
export type ParkReason = (typeof PARK_REASONS)[number];

/** Header the adapters put on every email, carrying its id (so bounces and logs can be matched). */
export const EMAIL_ID_HEADER = 'X-Mailer-Email-Id';

/**
 * AMQP headers the consumer sets on retry and dead-letter copies: the history an operator reads
 * in the management UI. Times are ISO 8601; lists are comma-separated.
 */
export const DeliveryHeaders = {
  /** Delivery attempts made so far (every provider tried once per attempt). */
  attempts: 'x-mailer-attempts',
  firstAttemptAt: 'x-mailer-first-attempt-at',
  lastAttemptAt: 'x-mailer-last-attempt-at',
  /** Providers tried over all attempts, in order, e.g. `ses,postmark,ses,postmark`. */
  providersTried: 'x-mailer-providers-tried',
  lastFailureKind: 'x-mailer-last-failure-kind',
  /** The last failure's text, without message content (truncated to 500 characters). */
  lastFailure: 'x-mailer-last-failure',
  /** Why the message was parked: one of {@link PARK_REASONS}. */
  parkedReason: 'x-mailer-parked-reason',
  /** When the last provider failure may have sent the email all the same (a timeout after handing it over). */
  ambiguous: 'x-mailer-ambiguous',
} as const;
