/** Why a publish was not confirmed. Every reason means: the email is not safely queued. */
export type PublishFailureReason =
  'not-connected' | 'blocked' | 'busy' | 'timeout' | 'nacked' | 'unroutable' | 'channel-closed';

/** The broker did not confirm a publish; the caller must not be told the email was accepted. */
export class PublishError extends Error {
  override readonly name = 'PublishError';
  constructor(
    readonly reason: PublishFailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** One message for the work queue. */
export interface OutgoingEmail {
  readonly id: string;
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  readonly timestamp: Date;
}

/** Puts an email on the work queue; resolves only once the broker confirmed it. */
export interface EmailPublisher {
  /** @throws PublishError when the broker did not confirm. */
  publish(email: OutgoingEmail): Promise<void>;
}

/** Whether email can be accepted now, and if not, why (answers `GET /readyz`). */
export interface Readiness {
  readonly ready: boolean;
  readonly reason?: string;
}
