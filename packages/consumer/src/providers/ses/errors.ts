import { firstMatchingRow, type FailureRow } from '../failure-table';
import { ProviderError, stopCodeOf } from '../provider';

/**
 * What an SES or SDK failure looks like to the table below. The SDK names a service error after
 * its class (`ConfigurationSetDoesNotExistException`), or after the wire code when SES v1 has no
 * class for it (`Throttling`, `InvalidClientTokenId`); Node network errors carry `code` and
 * `syscall`; every error the SDK saw an answer for carries `$metadata.httpStatusCode`.
 */
export interface SesFacts {
  readonly name: string;
  readonly message: string;
  readonly code: string | undefined;
  readonly syscall: string | undefined;
  readonly status: number | undefined;
}

/** What a row of {@link SES_FAILURE_TABLE} tests, every given test having to pass. */
interface SesTests {
  /** Error names (SDK class name, SES wire code) or Node error codes (`code`). */
  readonly names?: readonly string[];
  /** Text the message must contain, where the name alone does not decide. */
  readonly message?: RegExp;
  /** HTTP status test, for answers the SDK could not name. */
  readonly status?: (status: number) => boolean;
  /** Any further test on the error. */
  readonly when?: (facts: SesFacts) => boolean;
}

function sesMatch(tests: SesTests): (facts: SesFacts) => boolean {
  return (facts) => {
    const { names } = tests;
    if (names !== undefined && !names.includes(facts.name) && !(facts.code !== undefined && names.includes(facts.code)))
      return false;
    if (tests.message !== undefined && !tests.message.test(facts.message)) return false;
    if (tests.status !== undefined && (facts.status === undefined || !tests.status(facts.status))) return false;
    return tests.when === undefined || tests.when(facts);
  };
}

const THROTTLING = ['Throttling', 'ThrottlingException'];

/** The Node error codes of a connection that never opened: SES never saw the request. */
const NEVER_CONNECTED = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'];

/** Node error codes and SDK names of a request cut off once under way. */
const CUT_OFF = [
  'TimeoutError',
  'AbortError',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
];

/**
 * SES v1 (SendRawEmail) and AWS SDK v3 failures, mapped to the delivery vocabulary (docs/design.md,
 * "Provider failures: one vocabulary"). Sources: the SES API reference (SendRawEmail errors and
 * Common Errors), the SES developer guide ("Amazon SES email sending errors", "Errors related to
 * the sending quotas") and the SDK's own error shapes (@smithy/node-http-handler).
 */
export const SES_FAILURE_TABLE: readonly FailureRow<SesFacts>[] = [
  {
    name: 'ses-sender-not-verified',
    match: sesMatch({
      names: ['MessageRejected'],
      message: /not verified/i,
    }),
    kind: 'provider-unavailable',
    ambiguous: false,
    why: '"Email address is not verified": the sender identity is not verified in this region (or, in the sandbox, a recipient is not): the account is not set up to send this, whatever the recipient',
  },
  {
    name: 'ses-sending-paused-rejected',
    match: sesMatch({
      names: ['MessageRejected'],
      message: /sending (paused|suspended)/i,
    }),
    kind: 'provider-unavailable',
    ambiguous: false,
    why: '"Sending paused/suspended for this account": SES also reports an account pause as MessageRejected; nothing will send until an operator acts',
  },
  {
    name: 'ses-message-rejected',
    match: sesMatch({
      names: ['MessageRejected'],
    }),
    kind: 'recipient-rejected',
    ambiguous: false,
    why: 'SES refuses this email for good (address on the suppression list, virus, content it will not send); sending it again cannot help',
  },
  {
    name: 'ses-invalid-parameter',
    match: sesMatch({
      names: ['InvalidParameterValue'],
    }),
    kind: 'recipient-rejected',
    ambiguous: false,
    why: 'SendRawEmail says this for an email it cannot take ("Illegal address", non-ASCII address, message too large, bad header): a fault of this email, not of SES',
  },
  {
    name: 'ses-sending-paused',
    match: sesMatch({
      names: ['AccountSendingPausedException', 'ConfigurationSetSendingPausedException'],
    }),
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'sending is paused for the account or the configuration set: nothing will send until an operator resumes it',
  },
  {
    name: 'ses-mail-from-not-verified',
    match: sesMatch({
      names: ['MailFromDomainNotVerifiedException', 'MailFromDomainNotVerified'],
    }),
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'SES cannot read the MX record of the custom MAIL FROM domain: DNS set-up of the sending domain, not this email',
  },
  {
    name: 'ses-configuration-set-missing',
    match: sesMatch({
      names: ['ConfigurationSetDoesNotExistException', 'ConfigurationSetDoesNotExist'],
    }),
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'our configured ConfigurationSetName does not exist in this account and region: every send will fail the same way',
  },
  {
    name: 'ses-daily-quota-spent',
    match: sesMatch({
      names: THROTTLING,
      message: /daily message quota exceeded/i,
    }),
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'the 24-hour quota is spent: SES will refuse everything for hours, so fail over and open the circuit',
  },
  {
    name: 'ses-throttled',
    match: sesMatch({
      names: THROTTLING,
    }),
    kind: 'transient',
    ambiguous: false,
    why: '"Maximum sending rate exceeded" (or a system-wide throttle): the next second may succeed',
  },
  {
    name: 'ses-credentials-refused',
    match: sesMatch({
      names: [
        'InvalidClientTokenId',
        'SignatureDoesNotMatch',
        'IncompleteSignature',
        'AccessDenied',
        'AccessDeniedException',
        'UnrecognizedClientException',
        'MissingAuthenticationToken',
        'ExpiredToken',
        'ExpiredTokenException',
        'OptInRequired',
        'NotAuthorized',
        'CredentialsProviderError',
      ],
    }),
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'bad, expired or missing credentials, or no permission to send: no send will work until the configuration is fixed',
  },
  {
    name: 'ses-server-error',
    match: sesMatch({
      names: ['ServiceUnavailable', 'InternalFailure', 'InternalError'],
    }),
    kind: 'transient',
    ambiguous: false,
    why: 'SES says it failed on its side (503, 500): AWS asks callers to retry these',
  },
  {
    name: 'ses-request-timeout',
    match: sesMatch({
      names: ['RequestTimeout', 'RequestTimeoutException'],
    }),
    kind: 'transient',
    ambiguous: false,
    why: 'SES timed out reading our request: it never had the whole email',
  },
  {
    name: 'ses-never-connected',
    match: sesMatch({
      names: NEVER_CONNECTED,
    }),
    kind: 'transient',
    ambiguous: false,
    why: 'connection refused or host not found: the request never left this machine',
  },
  {
    name: 'ses-connect-timeout',
    match: sesMatch({
      when: (facts) => facts.syscall === 'connect' || /did not establish a connection/.test(facts.message),
    }),
    kind: 'transient',
    ambiguous: false,
    why: 'timed out while connecting (Node syscall "connect", or the SDK connectionTimeout message): the request was never sent',
  },
  {
    name: 'ses-cut-off',
    match: sesMatch({
      names: CUT_OFF,
    }),
    kind: 'transient',
    ambiguous: true,
    why: 'timeout, abort or reset once the request was under way: SES may have taken the email before the answer was lost',
  },
  {
    name: 'ses-unreadable-2xx',
    match: sesMatch({
      status: (status) => status >= 200 && status < 300,
    }),
    kind: 'transient',
    ambiguous: true,
    why: 'SES answered 2xx but the SDK could not read the answer: SES most likely accepted the email',
  },
  {
    name: 'ses-http-429',
    match: sesMatch({
      status: (status) => status === 429,
    }),
    kind: 'transient',
    ambiguous: false,
    why: 'an unnamed 429 is throttling',
  },
  {
    name: 'ses-http-401-403',
    match: sesMatch({
      status: (status) => status === 401 || status === 403,
    }),
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'an unnamed 401/403 is an authentication or permission failure',
  },
  {
    name: 'ses-http-504',
    match: sesMatch({
      status: (status) => status === 504,
    }),
    kind: 'transient',
    ambiguous: true,
    why: 'a gateway timed out waiting for SES after handing the request on: SES may have sent the email',
  },
  {
    name: 'ses-http-5xx',
    match: sesMatch({
      status: (status) => status >= 500,
    }),
    kind: 'transient',
    ambiguous: false,
    why: 'any other 5xx, named or not (a proxy or load balancer answering for SES): a server-side failure',
  },
  {
    name: 'ses-answered-other',
    match: sesMatch({
      status: () => true,
    }),
    kind: 'transient',
    ambiguous: false,
    why: 'any other named answer from SES (it answered, so it did not send): unknown, so retried rather than lost',
  },
  {
    name: 'ses-unknown',
    match: () => true,
    kind: 'transient',
    ambiguous: true,
    why: 'anything else, with no answer from SES: unknown, so retried rather than lost, and possibly sent',
  },
];

function factsOf(error: unknown): SesFacts {
  const fields = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    syscall?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  };
  const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
  const status = fields.$metadata?.httpStatusCode;
  const message = text(fields.message) ?? String(error);
  // The SDK's retry step re-wraps what is not `instanceof Error` in its own realm (a Node core
  // error seen from a vm context such as Jest's) as "AWS SDK error wrapper for Error: connect
  // ECONNREFUSED 127.0.0.1:4566", dropping `code` and `syscall`: read them back from Node's text.
  const wrapped = /^AWS SDK error wrapper for (?:\w*Error: )?([a-z]+) (E[A-Z]+)\b/.exec(message);
  return {
    name: text(fields.name) ?? 'Error',
    message,
    code: text(fields.code) ?? wrapped?.[2],
    syscall: text(fields.syscall) ?? wrapped?.[1],
    status: typeof status === 'number' ? status : undefined,
  };
}

/** The row of {@link SES_FAILURE_TABLE} that decides an error (the last row matches anything). */
export function sesFailureRow(error: unknown): FailureRow<SesFacts> {
  return firstMatchingRow(SES_FAILURE_TABLE, factsOf(error));
}

/**
 * Classifies anything the SES client threw (service exception, SDK timeout or abort, Node network
 * error) into a {@link ProviderError}: kind and ambiguity from {@link SES_FAILURE_TABLE}; `code` is
 * one of the stop codes (`TIMEOUT`, `ABORTED`, see {@link stopCodeOf}) for the SDK's own timeouts
 * and aborts, else the Node error code when there is one (`ECONNREFUSED`), else the SES or SDK
 * error name; `cause` is the original error.
 */
export function classifySesError(error: unknown): ProviderError {
  const facts = factsOf(error);
  const row = firstMatchingRow(SES_FAILURE_TABLE, facts);
  const nodeCode = facts.code !== undefined && facts.code !== facts.name ? ` ${facts.code}` : '';
  const status = facts.status === undefined ? '' : ` (HTTP ${facts.status})`;
  // The SDK also names a reset connection TimeoutError (with code ECONNRESET): that one keeps its
  // Node code, as a reset anywhere else does.
  const stopCode = facts.code === undefined || facts.code === 'ETIMEDOUT' ? stopCodeOf(error) : undefined;
  return new ProviderError(row.kind, `SES ${facts.name}${nodeCode}${status}: ${facts.message}`, {
    code: stopCode ?? facts.code ?? facts.name,
    ambiguous: row.ambiguous,
    cause: error,
  });
}
