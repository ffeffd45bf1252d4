import type { FailureKind } from '@mailer/contract';
import { Errors } from 'postmark';
import { ProviderError } from '../provider';

/** How one Postmark failure is classified: its kind, why, and whether Postmark may have sent the email. */
export interface PostmarkRule {
  readonly kind: FailureKind;
  readonly why: string;
  readonly ambiguous?: boolean;
}

/**
 * Postmark API ErrorCodes (the `ErrorCode` of the JSON body of a 401 or 422, the `code` of the
 * client's typed errors), from https://postmarkapp.com/developer/api/overview#error-codes. A code
 * listed here decides the kind whatever the HTTP status.
 *
 * | ErrorCode | meaning | kind |
 * | --- | --- | --- |
 * | 10 | bad or missing server token | provider-unavailable |
 * | 100 | Postmark maintenance | transient |
 * | 300 | invalid email request (bad address, missing field) | recipient-rejected |
 * | 400 | sender signature not found | provider-unavailable |
 * | 401 | sender signature not confirmed | provider-unavailable |
 * | 402, 403, 409 | invalid, incompatible or missing JSON: a defect here, every email would fail alike | provider-unavailable |
 * | 405 | not allowed to send (credits spent) | provider-unavailable |
 * | 406 | inactive recipient (bounced, complained, suppressed) | recipient-rejected |
 * | 411 | forbidden attachment type | recipient-rejected |
 * | 412 | account pending (may only send to its own domain) | provider-unavailable |
 * | 413 | account may not send | provider-unavailable |
 * | 429 | rate limit exceeded | transient |
 * | any other | | by HTTP status, below |
 */
export const POSTMARK_ERROR_CODES: ReadonlyMap<number, PostmarkRule> = new Map<number, PostmarkRule>([
  [10, { kind: 'provider-unavailable', why: 'bad or missing server token' }],
  [100, { kind: 'transient', why: 'Postmark maintenance' }],
  [300, { kind: 'recipient-rejected', why: 'invalid email request' }],
  [400, { kind: 'provider-unavailable', why: 'sender signature not found' }],
  [401, { kind: 'provider-unavailable', why: 'sender signature not confirmed' }],
  [402, { kind: 'provider-unavailable', why: 'invalid JSON' }],
  [403, { kind: 'provider-unavailable', why: 'incompatible JSON' }],
  [405, { kind: 'provider-unavailable', why: 'not allowed to send' }],
  [406, { kind: 'recipient-rejected', why: 'inactive recipient' }],
  [409, { kind: 'provider-unavailable', why: 'JSON required' }],
  [411, { kind: 'recipient-rejected', why: 'forbidden attachment type' }],
  [412, { kind: 'provider-unavailable', why: 'account pending' }],
  [413, { kind: 'provider-unavailable', why: 'account may not send' }],
  [429, { kind: 'transient', why: 'rate limit exceeded' }],
]);

/**
 * HTTP statuses, for answers whose ErrorCode is missing or not in {@link POSTMARK_ERROR_CODES}.
 *
 * | status | meaning | kind |
 * | --- | --- | --- |
 * | 401 | token refused | provider-unavailable |
 * | 404 | Postmark documents it as "request too large", but on our one endpoint a 404 far more often means the client points at something that is not Postmark: parking every email for a configuration fault would be worse than failing over one oversized email | provider-unavailable |
 * | 413 | payload too large: this email, not the provider | recipient-rejected |
 * | 415 | wrong content type: a client defect | provider-unavailable |
 * | 422 | unprocessable, ErrorCode unknown | transient (unknown) |
 * | 429 | rate limited | transient |
 * | 502, 504 | a gateway lost or timed out on Postmark's answer: Postmark may have taken it | transient, ambiguous |
 * | other 5xx (500, 503) | Postmark failed | transient |
 * | anything else | unknown | transient |
 */
export const POSTMARK_HTTP_STATUSES: ReadonlyMap<number, PostmarkRule> = new Map<number, PostmarkRule>([
  [401, { kind: 'provider-unavailable', why: 'unauthorized' }],
  [404, { kind: 'provider-unavailable', why: 'endpoint not found' }],
  [413, { kind: 'recipient-rejected', why: 'request too large' }],
  [415, { kind: 'provider-unavailable', why: 'unsupported media type' }],
  [429, { kind: 'transient', why: 'rate limit exceeded' }],
  [502, { kind: 'transient', why: 'bad gateway', ambiguous: true }],
  [504, { kind: 'transient', why: 'gateway timeout', ambiguous: true }],
]);

/**
 * Transport failures known to happen before a byte of the request left: Postmark cannot have the
 * email. Any other transport failure (reset, socket closed, read timeout) may come after Postmark
 * took it, so it is ambiguous.
 */
const BEFORE_SENDING_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
/** System calls that come before the request is written: a failure in them is not ambiguous. */
const BEFORE_SENDING_SYSCALLS: ReadonlySet<string> = new Set(['connect', 'getaddrinfo']);

/** Postmark's own text is kept short: a 406 lists addresses, a 300 may quote a field. */
const MAX_DETAIL = 300;

/**
 * Classifies anything a Postmark send threw into a {@link ProviderError}:
 *
 * 1. a {@link ProviderError} is returned as it is;
 * 2. an answer from Postmark (the client's typed errors: `InactiveRecipientsError`,
 *    `InvalidEmailRequestError`, `ApiInputError`, `InvalidAPIKeyError`, `RateLimitExceededError`,
 *    `InternalServerError`, `ServiceUnavailablerError`, `UnknownError`, a plain `PostmarkError` for
 *    404, all with `code` = ErrorCode and `statusCode` = HTTP status) by ErrorCode, then by status;
 * 3. a transport failure (undici's `fetch failed` with a system error as `cause`): transient,
 *    ambiguous unless it is known to precede sending (connection refused, DNS failure, connect
 *    timeout);
 * 4. a timeout or abort (`TimeoutError`, `AbortError`): transient and ambiguous, since the request
 *    was out;
 * 5. a `PostmarkError` with no HTTP status (the client wraps a transport failure so and drops its
 *    cause) and anything else: transient and ambiguous, since nothing says the request never left.
 */
export function classifyPostmarkError(error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;

  if (error instanceof Errors.PostmarkError && error.statusCode > 0) {
    const { code, statusCode } = error;
    const byCode = POSTMARK_ERROR_CODES.get(code);
    const rule = byCode ?? POSTMARK_HTTP_STATUSES.get(statusCode) ?? fallbackForStatus(statusCode);
    const answered = `Postmark answered HTTP ${statusCode}${code > 0 ? ` with ErrorCode ${code}` : ''}`;
    return new ProviderError(rule.kind, `${answered} (${rule.why}): ${truncate(error.message)}`, {
      ...(code > 0 ? { code: String(code) } : {}),
      ambiguous: rule.ambiguous ?? false,
      cause: error,
    });
  }

  const name = errorName(error);
  if (name === 'TimeoutError' || name === 'AbortError') {
    const timedOut = name === 'TimeoutError';
    return new ProviderError('transient', `Postmark request ${timedOut ? 'timed out' : 'aborted'} after it was sent`, {
      code: timedOut ? 'TIMEOUT' : 'ABORTED',
      ambiguous: true,
      cause: error,
    });
  }

  const system = systemErrorOf(error);
  if (system !== undefined) {
    const beforeSending =
      BEFORE_SENDING_CODES.has(system.code) ||
      (system.syscall !== undefined && BEFORE_SENDING_SYSCALLS.has(system.syscall));
    return new ProviderError(
      'transient',
      `Postmark could not be reached: ${system.code}${beforeSending ? '' : ' (the request may have been sent)'}`,
      { code: system.code, ambiguous: !beforeSending, cause: error },
    );
  }

  return new ProviderError('transient', `Postmark send failed: ${truncate(messageOf(error))}`, {
    ambiguous: true,
    cause: error,
  });
}

function fallbackForStatus(status: number): PostmarkRule {
  if (status >= 500) return { kind: 'transient', why: 'server error' };
  return { kind: 'transient', why: 'unexpected status' };
}

/** The first string `code` on the error or down its `cause` chain (undici puts the system error in `cause`). */
function systemErrorOf(error: unknown): { code: string; syscall?: string } | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth += 1) {
    const { code, syscall, cause } = current as { code?: unknown; syscall?: unknown; cause?: unknown };
    if (typeof code === 'string') return { code, ...(typeof syscall === 'string' ? { syscall } : {}) };
    current = cause;
  }
  return undefined;
}

function errorName(error: unknown): string | undefined {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? name : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function truncate(text: string): string {
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}…` : text;
}
