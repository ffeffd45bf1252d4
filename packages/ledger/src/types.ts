import type {
  AcceptedRecord,
  AttemptFailureKind,
  EmailListPage,
  EmailListQuery,
  EmailSummaryView,
  KeyReservation,
  PreviousEmail,
  RecipientRecord,
  RecordedEmail,
} from '@mailer/contract';

// The records the ledger shares with its users are written once, in contract.
export type {
  AttemptClaim,
  AttemptFailureKind,
  ClaimOutcome,
  FailureReport,
  KeyReservation,
  PreviousEmail,
  ProviderEvent,
  ProviderEventOutcome,
  ProviderEventRecipient,
  RecipientKeys,
  RecipientRecord,
  RecordedEmail,
  RecordOutcome,
  SentReport,
  SuppressedAtSendReport,
  SuppressionEntry,
  SuppressionListQuery,
  SuppressionPage,
  SuppressionListReason,
  SuppressionView,
} from '@mailer/contract';

/** The part of a `pg.Pool` (or `pg.Client`) the ledger's statements need. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** One email the producer accepted, recorded as `queued` before it is published (`@mailer/contract`'s record). */
export type AcceptedEmail = AcceptedRecord;

/** What {@link Ledger.reserveIdempotencyKey} found. */
export type ReserveOutcome =
  /**
   * The key is this caller's: go on and accept. `previousEmails` is not empty when a stale
   * reservation was taken over after its holder recorded emails and died before answering: use
   * those ids again, in that order, instead of new ones; publish again those still `queued` (the
   * first holder may have died before the broker confirmed them: the consumer's claim makes a
   * second copy harmless), and not those past it (they were on the queue).
   */
  | {
      readonly outcome: 'new';
      readonly reservation: KeyReservation;
      readonly previousEmails: readonly PreviousEmail[];
      /**
       * The emails as recorded, in the request's order (under `previousEmails`' ids on a
       * takeover), each with its recipients found on the suppression list.
       */
      readonly recorded: readonly RecordedEmail[];
    }
  /** The same request was answered before: give the stored answer again (same ids, same status). */
  | {
      readonly outcome: 'replay';
      readonly status: number;
      readonly body: unknown;
      readonly emailIds: readonly string[];
    }
  /** The key was used with another request body: 422. */
  | { readonly outcome: 'mismatch' }
  /** The first request with this key is still under way: 409; it may be taken over in `staleInMs`. */
  | { readonly outcome: 'in-flight'; readonly staleInMs: number };

/** One try of one email, as `GET /v1/emails/{id}` shows it. */
export interface AttemptRecord {
  readonly attempt: number;
  readonly provider: string | null;
  readonly startedAt: Date;
  readonly finishedAt: Date | null;
  /** `null` while under way. */
  readonly outcome: 'sent' | AttemptFailureKind | null;
  readonly error: string | null;
  readonly ambiguous: boolean;
  readonly providerMessageId: string | null;
}

/** Filters and paging of {@link Ledger.listEmails} (`@mailer/contract`'s query). */
export type ListQuery = EmailListQuery;

/** One page of a client's emails, newest first (`@mailer/contract`'s page). */
export type EmailPage = EmailListPage;

/** One email's record, without body or full addresses: the API's view of it (`@mailer/contract`). */
export type EmailSummary = EmailSummaryView;

/** One email with every try, oldest first, and each recipient's outcome. */
export interface EmailRecord extends EmailSummary {
  readonly attempts: readonly AttemptRecord[];
  /** Every recipient in the email's order (to, cc, bcc) with its outcome; masked. */
  readonly recipientOutcomes: readonly RecipientRecord[];
}

/** The longest error text kept per try. */
export const MAX_ERROR_LENGTH = 1000;
/** Emails on a page of {@link Ledger.listEmails} when the caller names no limit. */
export const DEFAULT_LIST_LIMIT = 50;
/** The most emails on one page of {@link Ledger.listEmails}. */
export const MAX_LIST_LIMIT = 100;
