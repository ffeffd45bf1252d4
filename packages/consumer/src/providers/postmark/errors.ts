import { Errors } from 'postmark';
import { firstMatchingRow, type FailureRow } from '../failure-table';
import { ProviderError, SendStopCode, stopCodeOf, type RefusedRecipient, type SendStopCodeValue } from '../provider';

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

/**
 * What a Postmark failure looks like to {@link POSTMARK_FAILURE_TABLE}: for an answer, its HTTP
 * status and ErrorCode (the client's typed errors carry both); for a stopped request, its stop
 * code; for a transport failure, the system error behind it.
 */
export interface PostmarkFacts {
  /** Postmark's ErrorCode (the JSON body's `ErrorCode`), when it answered with one. */
  readonly errorCode: number | undefined;
  /** The HTTP status, when Postmark (or something in front of it) answered. */
  readonly status: number | undefined;
  /** The stop code of a timeout or abort that fetch or the client raised. */
  readonly stopCode: SendStopCodeValue | undefined;
  /** The system error (`ECONNREFUSED`...) of a transport failure, from the error or its `cause` chain. */
  readonly system: { readonly code: string; readonly syscall?: string } | undefined;
}

/**
 * Postmark's failures, first row that matches decides. ErrorCodes come first and decide whatever
 * the HTTP status (https://postmarkapp.com/developer/api/overview#error-codes); then HTTP statuses,
 * for answers whose ErrorCode is missing or unknown; then failures with no answer.
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
 *
 * | status | meaning | kind |
 * | --- | --- | --- |
 * | 401 | token refused | provider-unavailable |
 * | 404 | Postmark documents it as "request too large", but on our one endpoint a 404 far more often means the client points at something that is not Postmark: parking every email for a configuration fault would be worse than failing over one oversized email | provider-unavailable |
 * | 413 | payload too large: this email, not the provider | recipient-rejected |
 * | 415 | wrong content type: a client defect | provider-unavailable |
 * | 429 | rate limited | transient |
 * | 502, 504 | a gateway lost or timed out on Postmark's answer: Postmark may have taken it | transient, ambiguous |
 * | other 5xx (500, 503) | Postmark failed | transient |
 * | anything else (422 with an unknown ErrorCode) | unknown | transient |
 *
 * The `why` of an answer's row is quoted in the failure's text.
 */
export const POSTMARK_FAILURE_TABLE: readonly FailureRow<PostmarkFacts>[] = [
  {
    name: 'postmark-10-bad-token',
    match: (f) => f.errorCode === 10,
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'bad or missing server token',
  },
  {
    name: 'postmark-100-maintenance',
    match: (f) => f.errorCode === 100,
    kind: 'transient',
    ambiguous: false,
    why: 'Postmark maintenance',
  },
  {
    name: 'postmark-300-invalid-request',
    match: (f) => f.errorCode === 300,
    kind: 'recipient-rejected',
    ambiguous: false,
    why: 'invalid email request',
  },
  {
    name: 'postmark-400-sender-not-found',
    match: (f) => f.errorCode === 400,
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'sender signature not found',
  },
  {
    name: 'postmark-401-sender-not-confirmed',
    match: (f) => f.errorCode === 401,
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'sender signature not confirmed',
  },
  {
    name: 'postmark-402-invalid-json',
    match: (f) => f.errorCode === 402,
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'invalid JSON',
  },
  {
    name: 'postmark-403-incompatible-json',
    match: (f) => f.errorCode === 403,
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'incompatible JSON',
  },
  {
    name: 'postmark-405-not-allowed',
    match: (f) => f.errorCode === 405,
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'not allowed to send',
  },
  {
    name: 'postmark-406-inactive-recipient',
    match: (f) => f.errorCode === 406,
    kind: 'recipient-rejected',
    ambiguous: false,
    why: 'inactive recipient',
  },
  {
    name: 'postmark-409-json-required',
    match: (f) => f.errorCode === 409,
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'JSON required',
  },
  {
    name: 'postmark-411-forbidden-attachment',
    match: (f) => f.errorCode === 411,
    kind: 'recipient-rejected',
    ambiguous: false,
    why: 'forbidden attachment type',
  },
  {
    name: 'postmark-412-account-pending',
    match: (f) => f.errorCode === 412,
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'account pending',
  },
  {
    name: 'postmark-413-may-not-send',
    match: (f) => f.errorCode === 413,
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'account may not send',
  },
  {
    name: 'postmark-429-rate-limited',
    match: (f) => f.errorCode === 429,
    kind: 'transient',
    ambiguous: false,
    why: 'rate limit exceeded',
  },
  {
    name: 'postmark-http-401',
    match: (f) => f.status === 401,
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'unauthorized',
  },
  {
    name: 'postmark-http-404',
    match: (f) => f.status === 404,
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'endpoint not found',
  },
  {
    name: 'postmark-http-413',
    match: (f) => f.status === 413,
    kind: 'recipient-rejected',
    ambiguous: false,
    why: 'request too large',
  },
  {
    name: 'postmark-http-415',
    match: (f) => f.status === 415,
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'unsupported media type',
  },
  {
    name: 'postmark-http-429',
    match: (f) => f.status === 429,
    kind: 'transient',
    ambiguous: false,
    why: 'rate limit exceeded',
  },
  {
    name: 'postmark-http-502',
    match: (f) => f.status === 502,
    kind: 'transient',
    ambiguous: true,
    why: 'bad gateway',
  },
  {
    name: 'postmark-http-504',
    match: (f) => f.status === 504,
    kind: 'transient',
    ambiguous: true,
    why: 'gateway timeout',
  },
  {
    name: 'postmark-http-5xx',
    match: (f) => f.status !== undefined && f.status >= 500,
    kind: 'transient',
    ambiguous: false,
    why: 'server error',
  },
  {
    name: 'postmark-http-other',
    match: (f) => f.status !== undefined,
    kind: 'transient',
    ambiguous: false,
    why: 'unexpected status',
  },
  {
    name: 'postmark-timeout',
    match: (f) => f.stopCode === SendStopCode.timeout,
    kind: 'transient',
    ambiguous: true,
    why: 'the request timed out after it was sent',
  },
  {
    name: 'postmark-aborted',
    match: (f) => f.stopCode === SendStopCode.aborted,
    kind: 'transient',
    ambiguous: true,
    why: 'the request was aborted after it was sent',
  },
  {
    name: 'postmark-not-reached',
    match: (f) =>
      f.system !== undefined &&
      (BEFORE_SENDING_CODES.has(f.system.code) ||
        (f.system.syscall !== undefined && BEFORE_SENDING_SYSCALLS.has(f.system.syscall))),
    kind: 'transient',
    ambiguous: false,
    why: 'the connection failed before a byte of the request left (refused, DNS, connect timeout)',
  },
  {
    name: 'postmark-connection-lost',
    match: (f) => f.system !== undefined,
    kind: 'transient',
    ambiguous: true,
    why: 'the connection failed once the request may have left (reset, closed, read timeout)',
  },
  {
    name: 'postmark-unknown',
    match: () => true,
    kind: 'transient',
    ambiguous: true,
    why: 'nothing says the request never left (a PostmarkError with no status, anything else)',
  },
];

/** Postmark's own text is kept short: a 406 lists addresses, a 300 may quote a field. */
const MAX_DETAIL = 300;

/** What {@link POSTMARK_FAILURE_TABLE} reads from anything a Postmark send threw. */
export function postmarkFactsOf(error: unknown): PostmarkFacts {
  if (error instanceof Errors.PostmarkError && error.statusCode > 0) {
    return {
      errorCode: error.code > 0 ? error.code : undefined,
      status: error.statusCode,
      stopCode: undefined,
      system: undefined,
    };
  }
  const stopCode = stopCodeOf(error);
  return {
    errorCode: undefined,
    status: undefined,
    stopCode,
    system: stopCode === undefined ? systemErrorOf(error) : undefined,
  };
}

/** The row of {@link POSTMARK_FAILURE_TABLE} that decides an error (the last row matches anything). */
export function postmarkFailureRow(error: unknown): FailureRow<PostmarkFacts> {
  return firstMatchingRow(POSTMARK_FAILURE_TABLE, postmarkFactsOf(error));
}

/**
 * Classifies anything a Postmark send threw into a {@link ProviderError}, kind and ambiguity by
 * {@link POSTMARK_FAILURE_TABLE}:
 *
 * - a {@link ProviderError} is returned as it is;
 * - an answer from Postmark (the client's typed errors: `InactiveRecipientsError`,
 *   `InvalidEmailRequestError`, `ApiInputError`, `InvalidAPIKeyError`, `RateLimitExceededError`,
 *   `InternalServerError`, `ServiceUnavailablerError`, `UnknownError`, a plain `PostmarkError` for
 *   404, all with `code` = ErrorCode and `statusCode` = HTTP status): `code` is the ErrorCode;
 * - a timeout or abort (`TimeoutError`, `AbortError`): `code` is the stop code (`TIMEOUT`,
 *   `ABORTED`); it came after the request was out;
 * - a transport failure (fetch's error with a system error as `cause`): `code` is the system code;
 * - a `PostmarkError` with no HTTP status (the client wraps a transport failure so and drops its
 *   cause) and anything else: no code.
 */
export function classifyPostmarkError(error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  const facts = postmarkFactsOf(error);
  const row = firstMatchingRow(POSTMARK_FAILURE_TABLE, facts);
  const options = { ambiguous: row.ambiguous, cause: error };

  if (facts.status !== undefined) {
    const answered = `Postmark answered HTTP ${facts.status}${facts.errorCode === undefined ? '' : ` with ErrorCode ${facts.errorCode}`}`;
    return new ProviderError(row.kind, `${answered} (${row.why}): ${truncate(messageOf(error))}`, {
      ...options,
      ...(facts.errorCode === undefined ? {} : { code: String(facts.errorCode) }),
      ...(row.kind === 'recipient-rejected' ? { refused: inactiveRecipientsOf(error) } : {}),
    });
  }
  if (facts.stopCode !== undefined) {
    const what = facts.stopCode === SendStopCode.timeout ? 'timed out' : 'aborted';
    return new ProviderError(row.kind, `Postmark request ${what} after it was sent`, {
      ...options,
      code: facts.stopCode,
    });
  }
  if (facts.system !== undefined) {
    const maybeSent = row.ambiguous ? ' (the request may have been sent)' : '';
    return new ProviderError(row.kind, `Postmark could not be reached: ${facts.system.code}${maybeSent}`, {
      ...options,
      code: facts.system.code,
    });
  }
  return new ProviderError(row.kind, `Postmark send failed: ${truncate(messageOf(error))}`, options);
}

/** Why a recipient Postmark named inactive was refused (no address in it). */
export const POSTMARK_INACTIVE_REASON = 'postmark 406 inactive recipient';

/**
 * Where Postmark's texts list inactive addresses, in the wordings seen over the years: a 406's
 * "Found inactive addresses: a@x, b@y. Inactive recipients are ..." (and the newer "... b@y. Emails
 * to these addresses are not accepted ..."), and a 200's "Message OK, but will not deliver to these
 * inactive addresses: a@x, b@y". The client's own parser (`InactiveRecipientsError.recipients`)
 * knows only the first and the last.
 */
const INACTIVE_LISTS: readonly RegExp[] = [
  /Found inactive addresses:\s*(.+?)\.(?:\s|$)/,
  /these inactive addresses:\s*(.+?)\.?\s*$/,
];

/** The addresses an inactive-recipients text lists; empty when it lists none. */
export function parseInactiveAddresses(text: string): string[] {
  for (const pattern of INACTIVE_LISTS) {
    const list = pattern.exec(text)?.[1];
    if (list !== undefined) {
      return list
        .split(',')
        .map((address) => address.trim())
        .filter((address) => address.includes('@'));
    }
  }
  return [];
}

function asRefused(addresses: readonly string[]): RefusedRecipient[] {
  return [...new Set(addresses)].map((address) => ({
    address,
    reason: POSTMARK_INACTIVE_REASON,
    onProviderList: true,
  }));
}

/**
 * The recipients a 406 names: Postmark keeps them on its own suppression list. Postmark answers
 * 406 when every recipient of the email is inactive; when only some are, it takes the email for
 * the others and names the inactive ones in its 200 answer instead ({@link inactiveInAnswer}).
 * Empty for any other error.
 */
export function inactiveRecipientsOf(error: unknown): RefusedRecipient[] {
  if (!(error instanceof Errors.PostmarkError) || error.code !== 406) return [];
  const parsed = error instanceof Errors.InactiveRecipientsError ? error.recipients : [];
  return asRefused([...parseInactiveAddresses(error.message), ...parsed.filter((a) => a.includes('@'))]);
}

/**
 * The inactive recipients a 200 answer names ("Message OK, but will not deliver to these inactive
 * addresses: a@x, b@y"): Postmark took the email for the others. Empty when it names none.
 */
export function inactiveInAnswer(message: unknown): RefusedRecipient[] {
  return typeof message === 'string' ? asRefused(parseInactiveAddresses(message)) : [];
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

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function truncate(text: string): string {
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}…` : text;
}
