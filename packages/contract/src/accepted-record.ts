/**
 * One accepted email as the ledger records it, `queued`: written by the producer before it
 * publishes the email, and by the consumer from the envelope for one the producer never recorded.
 * No body; the ledger keeps the recipients masked only.
 */
export interface AcceptedRecord {
  /** The UUIDv7 given at intake. */
  readonly id: string;
  /** The API key's name. */
  readonly client: string;
  readonly acceptedAt: Date;
  /** Every recipient (to, cc, bcc), in full: the ledger masks them (`j***@example.com`) before storing. */
  readonly recipients: readonly string[];
  readonly tags?: Readonly<Record<string, string>>;
  readonly metadata?: Readonly<Record<string, string | number | boolean | null>>;
}
