import { maskAddressesIn, type EmailRequest, type FailureKind } from '@mailer/contract';

/** One email to send: its id (also set as the X-Mailer-Email-Id header) and the validated request. */
export interface OutboundEmail {
  readonly id: string;
  readonly request: EmailRequest;
  /**
   * When the producer accepted the email (the envelope's `accepted_at`): the message's `Date`, so
   * that every retry and redelivery builds the same message. Emails made by hand (tests) may leave
   * it out; the time in their UUIDv7 id is used then.
   */
  readonly acceptedAt?: Date;
}

/**
 * A recipient a provider refused by name, for good, while nothing was wrong with the email itself:
 * a Postmark inactive recipient (ErrorCode 406, or named in a 200 answer), an SMTP 5.1.x refusal at
 * RCPT. The consumer puts it on the suppression list and sends to the others.
 */
export interface RefusedRecipient {
  /**
   * The address as the provider named it, in full: held in memory only, for the consumer to match
   * against the email's recipients and to hash; never logged or stored.
   */
  readonly address: string;
  /** Why, with no address in it: `postmark 406 inactive recipient`, `smtp 550 5.1.1`. */
  readonly reason: string;
  /**
   * The provider keeps the address on its own suppression list (Postmark's inactive recipients):
   * an email left with no other recipient ends `suppressed` rather than parked, and must not be
   * failed over (another provider would take it and bounce it).
   */
  readonly onProviderList: boolean;
}

/** What a provider says when it took the email. */
export interface SendReceipt {
  /** The provider's own id for the message, when it gives one. */
  readonly providerMessageId?: string;
  /** Recipients the provider did not take although it took the email for the others. */
  readonly refused?: readonly RefusedRecipient[];
}

/** What a send listens to besides its timeout signal. */
export interface SendOptions {
  /**
   * Fires when the email must no longer go out unless it already has (the message's broker
   * channel closed, so the broker will deliver it again). A send still waiting for one of the
   * adapter's connections (or anything else before the wire) then rejects with
   * {@link SendAbandonedError}; a send already on the wire carries on.
   */
  readonly abandon?: AbortSignal;
  /**
   * Called once the send owns one of the adapter's connections, right before anything of it goes
   * on the wire (the delivery layer claims the try in the ledger here and starts the provider's
   * timeout). The send waits for it; if it rejects, nothing is sent, the connection is given back
   * and `send` rejects with that same error. Never called for a send that does not start.
   */
  readonly onStart?: () => Promise<void>;
}

/**
 * A way to send email. Every adapter has this shape; the SDK client is passed in, not created
 * inside, so tests hand it one that talks to a local server.
 */
export interface EmailProvider {
  /** Short, stable name used in configuration, logs and headers: `ses`, `postmark`, `smtp`, `capture`. */
  readonly name: string;
  /**
   * Sends the email. Resolves once the provider accepted it; rejects with {@link ProviderError}
   * when it did not, with {@link SendAbandonedError} when `options.abandon` fired before the
   * send was on the wire (nothing was sent), with what `options.onStart` rejected with, and with
   * nothing else. `signal` aborts when the delivery layer gives up (its reason a
   * {@link SendDeadline}): a send not yet on the wire is withdrawn, one on the wire is stopped
   * where it is, and the failure ({@link stoppedSendError}) is `ambiguous` only if the message had
   * been handed over.
   *
   * Every adapter bounds its sends in progress to the connections it really has and makes the
   * others wait in its own abortable queue (`SendSlots`, in send-slots.ts): a send either owns a connection
   * (it is on the wire) or can still be abandoned. Nothing waits where `abandon` cannot reach.
   */
  send(email: OutboundEmail, signal: AbortSignal, options?: SendOptions): Promise<SendReceipt>;
  /**
   * Checks, without sending anything, that the provider answers and takes our credentials (SES:
   * `GetSendQuota`; Postmark: `GET /server`; SMTP: a session up to authentication; capture: the
   * folder is writable). Resolves when it does; rejects with a classified {@link ProviderError}
   * when it does not. `signal` aborts when the caller stops waiting (`ProviderChecks` in
   * checks.ts bounds every check and calls it at start-up and, rate-limited, for `/readyz`).
   */
  verify?(signal: AbortSignal): Promise<void>;
  /** Releases connections and pools. */
  close?(): Promise<void>;
}

/**
 * A provider did not take an email, classified where the provider's errors are understood. Its
 * message has every email address masked (a server's refusal often quotes the recipient), so
 * neither the ledger, the dead-letter headers nor a log line built from it holds a full address;
 * `cause` keeps the raw error for the classifier and must not be logged or stored.
 */
export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  /** The provider's own code (SES error name, Postmark ErrorCode, SMTP reply code), if any. */
  readonly code: string | undefined;
  /** True when the provider may have sent the email all the same (a timeout after handing it over). */
  readonly ambiguous: boolean;
  /**
   * On a `recipient-rejected` failure, the recipients the provider refused by name for good (the
   * addresses in full, like `cause`: never logged or stored). When they are not every recipient
   * of the email, the consumer drops them and sends to the others through the same provider.
   */
  readonly refused: readonly RefusedRecipient[] | undefined;

  constructor(
    readonly kind: FailureKind,
    message: string,
    options: {
      readonly code?: string | undefined;
      readonly ambiguous?: boolean;
      readonly cause?: unknown;
      readonly refused?: readonly RefusedRecipient[];
    } = {},
  ) {
    super(maskAddressesIn(message), { cause: options.cause });
    this.code = options.code;
    this.ambiguous = options.ambiguous ?? false;
    this.refused = options.refused !== undefined && options.refused.length > 0 ? options.refused : undefined;
  }
}

/**
 * A send was given up before it reached the wire, because its `abandon` signal fired: nothing
 * was sent, and the email comes back through the broker. Not a provider failure: it says nothing
 * about the provider, counts towards no circuit and is no attempt.
 */
export class SendAbandonedError extends Error {
  override readonly name = 'SendAbandonedError';

  constructor(provider: string, options: { readonly cause?: unknown } = {}) {
    super(`${provider}: send abandoned before it went out`, { cause: options.cause });
  }
}

/**
 * The codes of a send that was stopped rather than answered, the same for every adapter (a
 * provider's own codes, such as an SMTP reply code or a Postmark ErrorCode, are for its answers):
 * - `WAIT_TIMEOUT`: no connection of the adapter (or no rate-limit token) came free in time. The
 *   send never started: nothing was sent, never ambiguous.
 * - `TIMEOUT`: the provider did not answer in time once the send was on the wire. Ambiguous when
 *   the message had been handed over (SMTP: the end-of-data dot written; HTTP: the request body
 *   sent); otherwise it was withdrawn and not sent.
 * - `ABORTED`: the send's signal aborted for any other reason; ambiguous by the same rule.
 */
export const SendStopCode = {
  waitTimeout: 'WAIT_TIMEOUT',
  timeout: 'TIMEOUT',
  aborted: 'ABORTED',
} as const;

/** One of the {@link SendStopCode} values. */
export type SendStopCodeValue = (typeof SendStopCode)[keyof typeof SendStopCode];

/**
 * The stop code of an error that an SDK or fetch raises for its own timeout or abort, by the
 * error's `name` (`TimeoutError`: `TIMEOUT`; `AbortError`: `ABORTED`), so that every adapter
 * reports a stopped send with the same codes whichever library stopped it; `undefined` for any
 * other error. Whether the stop is ambiguous is for the adapter to say.
 */
export function stopCodeOf(error: unknown): SendStopCodeValue | undefined {
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError') return SendStopCode.timeout;
  if (name === 'AbortError') return SendStopCode.aborted;
  return undefined;
}

/** How long a send waited or ran before the delivery layer gave up on it: the reason its signal aborts with. */
export class SendDeadline extends Error {
  override readonly name = 'TimeoutError';

  /**
   * @param phase `wait`: still waiting for a connection or the rate limit; `wire`: on the wire
   * @param ms the bound that ran out
   */
  constructor(
    readonly phase: 'wait' | 'wire',
    readonly ms: number,
  ) {
    super(phase === 'wait' ? `no connection came free within ${ms} ms` : `no answer within ${ms} ms`);
  }
}

/**
 * The failure of a send whose signal aborted: `WAIT_TIMEOUT`, `TIMEOUT` or `ABORTED` by the
 * signal's reason (see {@link SendStopCode}), ambiguous only when `handedOver` (the provider may
 * have taken the message). Transient: another try may work.
 */
export function stoppedSendError(provider: string, reason: unknown, handedOver: boolean): ProviderError {
  const deadline = reason instanceof SendDeadline ? reason : undefined;
  if (deadline?.phase === 'wait' && !handedOver) {
    return new ProviderError('transient', `${provider}: ${deadline.message}; not sent`, {
      code: SendStopCode.waitTimeout,
      cause: reason,
    });
  }
  const what = deadline === undefined ? 'send aborted' : deadline.message;
  const code = deadline !== undefined ? SendStopCode.timeout : (stopCodeOf(reason) ?? SendStopCode.aborted);
  return new ProviderError(
    'transient',
    handedOver
      ? `${provider}: ${what} after the message was handed over; the provider may have taken it`
      : `${provider}: ${what} before the message was handed over; it was withdrawn and not sent`,
    { code, ambiguous: handedOver, cause: reason },
  );
}
