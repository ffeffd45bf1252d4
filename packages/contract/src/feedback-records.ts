import type { EmailState } from './email-state';

/*
 * Delivery feedback as the ledger (`@mailer/ledger`) takes and answers it: what a provider
 * reported per recipient after it took an email, and the suppression list. Recipients are named
 * by their keys (`RecipientHasher`, never the address) and their masked form. The parsers' own
 * records (`provider-events.ts`: `RecipientOutcome`, `SuppressionReason`, with the full address
 * still in them) are what the event worker turns into these.
 */

/** A provider whose events the service reads. */
export type FeedbackProvider = 'ses' | 'postmark' | 'smtp';

/** What a provider reported for one recipient; a later outcome never moves a recipient back (ranked in this order). */
export type ProviderOutcome = 'delivery_delayed' | 'delivered' | 'bounced' | 'complained';

/** A recipient's outcome as the ledger keeps it: a provider's, or `suppressed` (dropped at intake, never sent). */
export type StoredRecipientOutcome = ProviderOutcome | 'suppressed';

/** Every {@link StoredRecipientOutcome}, in rank order (the migration's `ledger_outcome_rank`). */
export const RECIPIENT_OUTCOMES: readonly StoredRecipientOutcome[] = [
  'delivery_delayed',
  'delivered',
  'bounced',
  'complained',
  'suppressed',
];

/** How final a bounce is: `hard` (permanent), `soft` (transient), or the provider could not tell. */
export type BounceKind = 'hard' | 'soft' | 'undetermined';

/** Why a recipient is on the suppression list. */
export type SuppressionListReason = 'hard-bounce' | 'complaint' | 'recipient-rejected' | 'unsubscribed' | 'manual';

/** Every {@link SuppressionListReason}. */
export const SUPPRESSION_REASONS: readonly SuppressionListReason[] = [
  'hard-bounce',
  'complaint',
  'recipient-rejected',
  'unsubscribed',
  'manual',
];

/** A recipient as events and the suppression API name it: its keys and its masked address. */
export interface RecipientKeys {
  /** `RecipientHasher.candidates` of the address: [0] under the current secret, then each previous one. */
  readonly hashes: readonly Buffer[];
  /** `maskAddress` of the address (the ledger masks it again, so a full address never lands). */
  readonly masked: string;
}

/** One recipient's part of a {@link ProviderEvent}. */
export interface ProviderEventRecipient extends RecipientKeys {
  readonly outcome: ProviderOutcome;
  readonly bounceKind?: BounceKind;
  /** The provider's own classification (SES `bounceType`, Postmark `Type`). */
  readonly providerType?: string;
  /** SES `bounceSubType`, a complaint's feedback type, Postmark `TypeCode`. */
  readonly providerSubtype?: string;
  /** The remote server's answer (SMTP status and text); the ledger masks addresses in it and keeps 500 characters. */
  readonly diagnostic?: string;
  /** Put the recipient on the suppression list (the event names the source). */
  readonly suppress?: { readonly reason: 'hard-bounce' | 'complaint' | 'unsubscribed'; readonly expiresAt?: Date };
}

/** One event a provider reported about one email, parsed and verified. */
export interface ProviderEvent {
  readonly provider: FeedbackProvider;
  /** Dedupe key: the SNS `MessageId`, Postmark's event `ID`, or a hash of the content. */
  readonly eventKey: string;
  /** Our id, when the event carries it (SES tag `email_id`, Postmark `Metadata.email_id`). */
  readonly emailId?: string;
  /** The provider's id of the message (`emails.provider_message_id`), the fallback for finding the email. */
  readonly providerMessageId?: string;
  readonly occurredAt: Date;
  /** When the service received it (for the dedupe row's retention); now when absent. */
  readonly receivedAt?: Date;
  readonly recipients: readonly ProviderEventRecipient[];
  /** Recipients the provider reactivated (Postmark `SubscriptionChange` with `SuppressSending: false`). */
  readonly unsuppress?: readonly RecipientKeys[];
}

/**
 * What applying a {@link ProviderEvent} did: `applied`; `duplicate` (its key was applied before,
 * nothing changed); `email-unknown` (no such email yet, nothing written: apply it again later).
 */
export type ProviderEventOutcome = 'applied' | 'duplicate' | 'email-unknown';

/** One suppression entry as the API shows it: never the recipient's key. */
export interface SuppressionView {
  /** The masked address (`j***@example.com`). */
  readonly masked: string;
  readonly reason: SuppressionListReason;
  readonly createdAt: Date;
  /** Absent: until removed. */
  readonly expiresAt?: Date;
  /** The email and provider event it came from first. */
  readonly source?: { readonly emailId?: string; readonly provider?: string; readonly eventKey?: string };
  readonly note?: string;
  /** The API key's name, or `provider`. */
  readonly createdBy?: string;
}

/** An entry to add to the suppression list. */
export interface SuppressionEntry extends RecipientKeys {
  readonly reason: SuppressionListReason;
  readonly note?: string;
  /** The API key's name, or `provider`. */
  readonly createdBy: string;
  readonly expiresAt?: Date;
  readonly source?: { readonly emailId?: string; readonly provider?: string; readonly eventKey?: string };
}

/** Paging of the suppression list, newest first. */
export interface SuppressionListQuery {
  /** The `nextCursor` of the previous page. */
  readonly cursor?: string;
  /** 1 to 100; 50 when absent. */
  readonly limit?: number;
  readonly reason?: SuppressionListReason;
}

/** One page of the suppression list. */
export interface SuppressionPage {
  readonly items: readonly SuppressionView[];
  /** Absent on the last page. */
  readonly nextCursor?: string;
}

/** An email as recorded at intake: its id and which of its recipients are suppressed. */
export interface RecordedEmail {
  readonly id: string;
  /** Positions (from 0) in the email's recipients, to then cc then bcc, that are on the suppression list. */
  readonly suppressed: readonly number[];
}

/** One recipient of an email with what became of it, in the email's recipient order. */
export interface RecipientRecord {
  /** Masked. */
  readonly address: string;
  /**
   * The recipient's outcome; with none yet, the email's own state while it has not been sent
   * (`queued`, `retrying`, ...) and `sent` once it has.
   */
  readonly status: StoredRecipientOutcome | EmailState;
  readonly bounce?: {
    readonly kind: BounceKind | null;
    readonly type: string | null;
    readonly subtype: string | null;
    readonly diagnostic: string | null;
  };
  /** When the outcome was last recorded; absent with no outcome. */
  readonly updatedAt?: Date;
}

/**
 * One provider's sending record over a window (the ledger's `reputation`): recipients of the
 * emails it took, and how many of them hard-bounced or complained since.
 */
export interface ProviderReputation {
  readonly provider: string;
  readonly recipients: number;
  readonly hardBounced: number;
  readonly complained: number;
}

/**
 * Recipients of one email the consumer did not send to, as it records them just before or after a
 * send (`Ledger.recordSuppressedAtSend`): those found on the suppression list after intake, and
 * those a provider refused by name (a Postmark 406 inactive recipient, an SMTP 5.1.x refusal at
 * RCPT), which also go on the list.
 */
export interface SuppressedAtSendReport {
  /** The email. */
  readonly id: string;
  /** The consumer's attempt (the ledger's attempt number), for the email's move to `suppressed`. */
  readonly attempt: number;
  /** Each gets the outcome `suppressed` on this email (while the email has not been sent before). */
  readonly recipients: readonly RecipientKeys[];
  /** New entries for the suppression list (reason `recipient-rejected`, source this email and provider). */
  readonly entries: readonly SuppressionEntry[];
  /** No recipient is left to send to: the email becomes `suppressed` (never moving back). */
  readonly emailSuppressed: boolean;
}
