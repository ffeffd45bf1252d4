/** One message for the work queue. */
export interface OutgoingEmail {
  readonly id: string;
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  readonly timestamp: Date;
}

/** Puts an email on the work queue; resolves only once the broker confirmed it. */
export interface EmailPublisher {
  /** @throws PublishError (from `@mailer/contract`) when the broker did not confirm. */
  publish(email: OutgoingEmail): Promise<void>;
}
