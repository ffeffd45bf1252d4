import type { EmailRequest, FailureKind } from '@mailer/contract';

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

/** What a provider says when it took the email. */
export interface SendReceipt {
  /** The provider's own id for the message, when it gives one. */
  readonly providerMessageId?: string;
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
   * (and only that) when it did not. `signal` aborts when the delivery layer's timeout runs out.
   */
  send(email: OutboundEmail, signal: AbortSignal): Promise<SendReceipt>;
  /** Releases connections and pools. */
  close?(): Promise<void>;
}

/** A provider did not take an email, classified where the provider's errors are understood. */
export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  /** The provider's own code (SES error name, Postmark ErrorCode, SMTP reply code), if any. */
  readonly code: string | undefined;
  /** True when the provider may have sent the email all the same (a timeout after handing it over). */
  readonly ambiguous: boolean;

  constructor(
    readonly kind: FailureKind,
    message: string,
    options: { readonly code?: string | undefined; readonly ambiguous?: boolean; readonly cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = options.code;
    this.ambiguous = options.ambiguous ?? false;
  }
}
