import { getSystemErrorName } from 'node:util';
import type { FailureKind } from '@mailer/contract';
import { firstMatchingRow, type FailureRow } from '../failure-table';
import { ProviderError, type RefusedRecipient } from '../provider';

/**
 * What a nodemailer SMTP error tells us, read once so that the rules below compare plain fields.
 * nodemailer sets `code` (its own `E…` names, see `nodemailer/lib/errors.js`), `command` (the SMTP
 * command that failed, or `CONN` for the socket, `API` for its own checks), `response` and
 * `responseCode` (the server's reply, when there was one).
 */
export interface SmtpFailure {
  /** nodemailer's error code (`EENVELOPE`, `EAUTH`, `ESOCKET`…) or a Node system code (`ECONNRESET`). */
  readonly code: string | undefined;
  /** The SMTP command that failed, upper case: `MAIL FROM`, `RCPT TO`, `DATA`, `AUTH PLAIN`, `CONN`, `API`. */
  readonly command: string | undefined;
  /** The server's basic reply code (RFC 5321), e.g. 550. Undefined when the server did not answer. */
  readonly replyCode: number | undefined;
  /** The enhanced status code (RFC 3463) at the start of the reply text, e.g. `5.1.1`. */
  readonly enhancedCode: string | undefined;
  /** Node's name for the underlying system error (`ECONNREFUSED`), which nodemailer's `ESOCKET` hides. */
  readonly systemCode: string | undefined;
  /** Per-recipient errors, present when nodemailer gave up because every recipient was refused. */
  readonly rejectedErrors: readonly unknown[] | undefined;
}

const NETWORK_CODES = new Set([
  // nodemailer's codes for the connection: closed, socket error, connection/greeting/idle timeouts,
  // DNS, proxy, the message stream, and a pooled connection retired after maxMessages.
  'ECONNECTION',
  'ESOCKET',
  'ETIMEDOUT',
  'EDNS',
  'EPROXY',
  'ESTREAM',
  'EMAXLIMIT',
  // Node's own codes, in case an error reaches us without nodemailer's wrapping.
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
]);

const isCommand = (failure: SmtpFailure, command: string): boolean => failure.command === command;
const replyClass = (failure: SmtpFailure): number | undefined =>
  failure.replyCode === undefined ? undefined : Math.floor(failure.replyCode / 100);
const enhancedStartsWith = (failure: SmtpFailure, prefix: string): boolean =>
  failure.enhancedCode?.startsWith(prefix) ?? false;

/**
 * The table, in order: the first matching row decides. Reply codes are RFC 5321, enhanced codes
 * RFC 3463 (`class.subject.detail`: 5.1.x addressing, 5.2.x mailbox, 5.3.x mail system, 5.6.x
 * content, 5.7.x security and policy). When a reply carries an enhanced code it is the more
 * precise of the two, so rows that read it come before rows that read the basic code alone.
 */
export const SMTP_FAILURE_TABLE: readonly FailureRow<SmtpFailure>[] = [
  {
    name: 'smtp-temporary-reply',
    matches: 'any 4xx reply, to any command: 421 closing, 450 mailbox busy, 451 local error, 452 storage, 454 auth',
    kind: 'transient',
    ambiguous: false,
    why: 'SMTP says so: a 4xx reply means "not now, try again". Fail over now and retry later.',
    match: (f) => replyClass(f) === 4,
  },
  {
    name: 'smtp-authentication-failed',
    matches:
      'nodemailer EAUTH (535 5.7.8 bad credentials, 534 5.7.9 mechanism too weak, a broken login exchange), ENOAUTH, EOAUTH2',
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'Our credentials do not work: every email would fail the same way until configuration changes.',
    match: (f) => f.code === 'EAUTH' || f.code === 'ENOAUTH' || f.code === 'EOAUTH2',
  },
  {
    name: 'smtp-authentication-required',
    matches: '530 (5.7.0) on MAIL FROM, RCPT TO or DATA: the server demands authentication first',
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'We were configured without (working) credentials for a server that requires them: nothing can go through it until configuration changes.',
    match: (f) => f.replyCode === 530,
  },
  {
    name: 'smtp-policy-refused',
    matches:
      'any 5.7.x reply other than the above: 550/554 5.7.1 relaying denied or sender not permitted, 5.7.26 DMARC, 5.7.1 blocked',
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'Security and policy codes refuse us (our account, relay rights, sender authentication, sending IP), not this recipient: fail over to a provider that stands differently, and let repeated refusals open the circuit.',
    match: (f) => replyClass(f) === 5 && enhancedStartsWith(f, '5.7.'),
  },
  {
    name: 'smtp-message-too-big',
    matches:
      '5.3.4 or 5.2.3 (message too big) on any command; 552 on MAIL FROM (SIZE) or DATA; nodemailer EMESSAGE on MAIL FROM without a reply (its own check against the advertised SIZE)',
    kind: 'recipient-rejected',
    ambiguous: false,
    why: 'This email will never fit through this server however often it is retried: park it where an operator sees it, rather than retry it forever.',
    match: (f) =>
      (replyClass(f) === 5 && (enhancedStartsWith(f, '5.3.4') || enhancedStartsWith(f, '5.2.3'))) ||
      (f.replyCode === 552 && (isCommand(f, 'MAIL FROM') || isCommand(f, 'DATA'))) ||
      (f.code === 'EMESSAGE' && isCommand(f, 'MAIL FROM') && f.replyCode === undefined),
  },
  {
    name: 'smtp-content-rejected',
    matches: 'any 5.6.x reply (554 5.6.0 content rejected, 5.6.1 media not supported)',
    kind: 'recipient-rejected',
    ambiguous: false,
    why: 'The server refuses this message as it is made: sending it again, here or anywhere, gives the same answer. Park it.',
    match: (f) => replyClass(f) === 5 && enhancedStartsWith(f, '5.6.'),
  },
  {
    name: 'smtp-sender-refused',
    matches: 'other 5xx on MAIL FROM (550 5.1.7/5.1.8 bad sender address or domain, 553 sender not allowed)',
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'The sender is ours: a sender or domain the server will not send for is configuration (docs/design.md lists the unverified sender domain as provider-unavailable).',
    match: (f) => replyClass(f) === 5 && isCommand(f, 'MAIL FROM'),
  },
  {
    name: 'smtp-recipient-refused',
    matches:
      'other 5xx on RCPT TO: 550/551/553, 5.1.x (5.1.1 no such user, 5.1.2 bad domain, 5.1.3 bad syntax, 5.1.10 null MX), 5.2.x (disabled, over quota)',
    kind: 'recipient-rejected',
    ambiguous: false,
    why: 'The mailbox does not exist or will not take mail: no retry and no failover can change that. Park it (and later suppress the address).',
    match: (f) => replyClass(f) === 5 && isCommand(f, 'RCPT TO'),
  },
  {
    name: 'smtp-message-refused',
    matches: 'other 5xx on DATA (554 transaction failed after the message)',
    kind: 'recipient-rejected',
    ambiguous: false,
    why: 'The server read this message and refused it for good: the same message gets the same answer. Park it.',
    match: (f) => replyClass(f) === 5 && isCommand(f, 'DATA'),
  },
  {
    name: 'smtp-session-refused',
    matches: 'any other 5xx: 554 or 521 instead of the greeting, 5xx to EHLO/HELO or RSET (nodemailer EPROTOCOL)',
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'The server will not hold a session with us at all: nothing can be sent through it now.',
    match: (f) => replyClass(f) === 5,
  },
  {
    name: 'smtp-unsendable-envelope',
    matches:
      'nodemailer EENVELOPE or EMESSAGE before any command (command API): no recipients, an address it cannot put in an envelope, an empty message',
    kind: 'recipient-rejected',
    ambiguous: false,
    why: 'nodemailer refused the email before talking to a server: it cannot be sent as it is, by any SMTP server. Park it.',
    match: (f) => (f.code === 'EENVELOPE' || f.code === 'EMESSAGE') && isCommand(f, 'API'),
  },
  {
    name: 'smtp-connection-failed',
    matches:
      'ECONNECTION, ESOCKET (e.g. ECONNREFUSED), ETIMEDOUT (connection, greeting or socket timeout), EDNS, EPROXY, ESTREAM, EMAXLIMIT, and raw Node socket errors',
    kind: 'transient',
    ambiguous: true,
    why: 'The server could not be reached or the connection broke: a later attempt, or another provider, may well succeed. Ambiguous when it broke after the whole message was handed over.',
    match: (f) =>
      (f.code !== undefined && NETWORK_CODES.has(f.code)) ||
      (f.systemCode !== undefined && NETWORK_CODES.has(f.systemCode)),
  },
  {
    name: 'smtp-tls-failed',
    matches: 'nodemailer ETLS (TLS handshake or STARTTLS failed), EREQUIRETLS',
    kind: 'provider-unavailable',
    ambiguous: false,
    why: 'A certificate or TLS mismatch is configuration: it fails every email the same way until someone fixes it.',
    match: (f) => f.code === 'ETLS' || f.code === 'EREQUIRETLS',
  },
  {
    name: 'smtp-unknown',
    matches: 'anything else (including errors that are not nodemailer errors at all)',
    kind: 'transient',
    ambiguous: true,
    why: 'When we cannot tell, the safe choice is to try again later or elsewhere: a transient failure is retried and eventually parked with its history, never lost.',
    match: () => true,
  },
];

/** Reads the fields the rules compare from whatever was thrown. */
export function smtpFailureOf(error: unknown): SmtpFailure {
  const fields = (typeof error === 'object' && error !== null ? error : {}) as Record<string, unknown>;
  const response = typeof fields['response'] === 'string' ? fields['response'] : undefined;
  const replyDigits = response === undefined ? undefined : /^(\d{3})/.exec(response)?.[1];
  const replyCode =
    typeof fields['responseCode'] === 'number'
      ? fields['responseCode']
      : replyDigits === undefined
        ? undefined
        : Number(replyDigits);
  const enhancedCode = response === undefined ? undefined : /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(response)?.[1];
  const errno = fields['errno'];
  const command = fields['command'];
  const code = fields['code'];
  const rejectedErrors = fields['rejectedErrors'];
  return {
    code: typeof code === 'string' ? code : undefined,
    command: typeof command === 'string' ? command.toUpperCase() : undefined,
    replyCode,
    enhancedCode,
    systemCode: typeof errno === 'number' && errno < 0 ? systemErrorName(errno) : undefined,
    rejectedErrors: Array.isArray(rejectedErrors) && rejectedErrors.length > 0 ? rejectedErrors : undefined,
  };
}

function systemErrorName(errno: number): string | undefined {
  try {
    return getSystemErrorName(errno);
  } catch {
    return undefined;
  }
}

/** The row of {@link SMTP_FAILURE_TABLE} that decides a failure (the last row matches anything). */
export function smtpFailureRow(failure: SmtpFailure): FailureRow<SmtpFailure> {
  return firstMatchingRow(SMTP_FAILURE_TABLE, failure);
}

/**
 * When every recipient was refused, nodemailer reports only the last reply in `responseCode` and
 * keeps each refusal in `rejectedErrors`. They can differ (one 550, one 451), so each is classified
 * and the most hopeful kind wins: provider-unavailable (another provider may take them all), then
 * transient (a later attempt may reach the ones that said "not now"; those refused for good are
 * refused again, nobody gets the email twice), then recipient-rejected (every one refused for good).
 */
const AGGREGATE_PRECEDENCE: readonly FailureKind[] = ['provider-unavailable', 'transient', 'recipient-rejected'];

/** What the adapter knows about how far the send got, which the error itself does not say. */
export interface SmtpSendStage {
  /**
   * True once the whole message was handed to the connection (the end-of-data dot follows it): from
   * then on a failure with no reply from the server is ambiguous, as the server may have taken the
   * message. Before that it is not: SMTP completes a transaction only on the end-of-data dot.
   */
  readonly messageHandedOver: boolean;
}

/**
 * Classifies a nodemailer SMTP error into one of the failure kinds of docs/design.md, by the table
 * {@link SMTP_FAILURE_TABLE}. Pure: reads the error, returns a new {@link ProviderError} (the error as
 * its `cause`, the reply code as its `code`).
 *
 * nodemailer reports socket errors and timeouts with command `CONN` whatever the SMTP stage, so
 * whether the message was already handed over comes from the adapter, which watched the send.
 */
export function classifySmtpError(error: unknown, stage: SmtpSendStage = { messageHandedOver: false }): ProviderError {
  if (error instanceof ProviderError) return error;
  const failure = smtpFailureOf(error);
  const row = smtpFailureRow(failure);
  const kind =
    failure.rejectedErrors === undefined
      ? row.kind
      : aggregateKind(failure.rejectedErrors.map((rejected) => smtpFailureRow(smtpFailureOf(rejected)).kind));
  // Only a failure with no reply can have come after the server took the message (a reply, 4xx
  // or 5xx, settles that it did not): those rows are marked ambiguous, and only the adapter
  // knows whether the message had been handed over.
  const ambiguous = stage.messageHandedOver && row.ambiguous;
  // Every recipient refused, each with 5.1.x at RCPT: the addresses go on the suppression list.
  const refusals = failure.rejectedErrors?.map(refusedMailboxOf) ?? [];
  const refused = refusals.filter((r): r is RefusedRecipient => r !== undefined);
  const allMailboxes = refused.length > 0 && refused.length === refusals.length;
  return new ProviderError(kind, `smtp: ${summary(error, failure)}`, {
    code: failure.replyCode === undefined ? (failure.systemCode ?? failure.code) : String(failure.replyCode),
    ambiguous,
    cause: error,
    ...(kind === 'recipient-rejected' && allMailboxes ? { refused } : {}),
  });
}

/**
 * A recipient the server refused at RCPT TO with an RFC 3463 addressing status, 5.1.x (5.1.1 no
 * such mailbox, 5.1.2 bad domain, 5.1.3 bad syntax, 5.1.10 null MX): the address will never take
 * mail, so it goes on the suppression list. nodemailer keeps each refusal (in `rejectedErrors`, of
 * a sent message's info or of the error when every recipient was refused) with its `recipient`.
 * Undefined for any other refusal: a 4xx may pass, and 5.2.x (disabled, over quota) or a bare 550
 * say too little to suppress on.
 */
export function refusedMailboxOf(rejected: unknown): RefusedRecipient | undefined {
  const recipient = (rejected as { recipient?: unknown } | null)?.recipient;
  if (typeof recipient !== 'string' || recipient === '') return undefined;
  const failure = smtpFailureOf(rejected);
  if (!isCommand(failure, 'RCPT TO') || replyClass(failure) !== 5 || !enhancedStartsWith(failure, '5.1.')) {
    return undefined;
  }
  return {
    address: recipient,
    reason: `smtp ${String(failure.replyCode)} ${failure.enhancedCode ?? ''}`.trim(),
    onProviderList: false,
  };
}

function aggregateKind(kinds: readonly FailureKind[]): FailureKind {
  return AGGREGATE_PRECEDENCE.find((kind) => kinds.includes(kind)) ?? 'transient';
}

function summary(error: unknown, failure: SmtpFailure): string {
  const message = error instanceof Error ? error.message : String(error);
  return failure.command === undefined ? message : `${failure.command}: ${message}`;
}
