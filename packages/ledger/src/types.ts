import type { AcceptedRecord, EmailSummaryView, FailureKind } from '@mailer/contract';
import type { EmailState } from './states';

/** The part of a `pg.Pool` (or `pg.Client`) the ledger's statements need. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** One email the producer accepted, recorded as `queued` before it is published (`@mailer/contract`'s record). */
export type AcceptedEmail = AcceptedRecord;

/** The reservation {@link Ledger.reserveIdempotencyKey} handed out; completing or releasing needs it. */
export interface KeyReservation {
  readonly client: string;
  readonly key: string;
  readonly token: string;
}

/** An email recorded under a key by a holder whose reservation was taken over. */
export interface PreviousEmail {
  readonly id: string;
  /** `null` when the ledger no longer has it. */
  readonly state: EmailState | null;
}

/** What {@link Ledger.reserveIdempotencyKey} found. */
export type ReserveOutcome =
  /**
   * The key is this caller's: go on and accept. `previousEmails` is not empty when a stale
   * reservation was taken over after its holder recorded emails and died before answering: use
   * those ids again, in that order, instead of new ones; publish again those still `queued` (the
   * first holder may have died before the broker confirmed them: the consumer's claim makes a
   * second copy harmless), and not those past it (they were on the queue).
   */
  | { readonly outcome: 'new'; readonly reservation: KeyReservation; readonly previousEmails: readonly PreviousEmail[] }
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

/** What {@link Ledger.claimAttempt} found. */
export type ClaimOutcome =
  /** The attempt is this caller's: call the provider, then record the result. */
  | { readonly outcome: 'claimed' }
  /** Sent before (a redelivery): ack without sending. */
  | {
      readonly outcome: 'already-sent';
      readonly provider: string | null;
      readonly providerMessageId: string | null;
    }
  /** This attempt already ended in a retry or a park (a redelivered copy): ack without sending. */
  | { readonly outcome: 'superseded'; readonly state: EmailState; readonly attempt: number }
  /**
   * The last try was claimed and never finished: it may have been sent. It is now closed as
   * ambiguous and the email is flagged `in_doubt`; nothing is claimed. Claim again to send
   * anyway, or record a failure of kind `in-doubt` with `next: 'parked'`.
   */
  | {
      readonly outcome: 'in-doubt';
      readonly attempt: number;
      readonly provider: string | null;
      readonly startedAt: Date;
    }
  /** The ledger has no such email (accepted before the ledger existed, or never recorded). */
  | { readonly outcome: 'unknown' };

/** A claim of one delivery attempt through one provider. */
export interface AttemptClaim {
  readonly id: string;
  /** The delivery attempt, from 1; failing over within an attempt keeps its number. */
  readonly attempt: number;
  readonly provider?: string;
  /**
   * A UUID the caller makes for this claim and sends again when it claims again after the answer
   * was lost: the open try with this token is its own (answered `claimed`, not `in-doubt`).
   */
  readonly token?: string;
}

/** A provider accepted the email. */
export interface SentReport {
  readonly id: string;
  readonly attempt: number;
  readonly provider: string;
  readonly providerMessageId: string | null;
}

/** Why a try did not send: a provider's failure kind, or an in-doubt try that is not resent. */
export type AttemptFailureKind = FailureKind | 'in-doubt';

/** A try that failed. */
export interface FailureReport {
  readonly id: string;
  readonly attempt: number;
  readonly provider?: string;
  readonly kind: AttemptFailureKind;
  /** The provider's error text (never the body or full addresses); cut to {@link MAX_ERROR_LENGTH}. */
  readonly error: string;
  /** The provider may have sent it anyway (a timeout after the data was handed over). */
  readonly ambiguous: boolean;
  /**
   * Where the email goes: `retrying` (a delay tier), `parked` (the dead-letter queue), or absent
   * when the consumer fails over to the next provider within the same attempt.
   */
  readonly next?: 'retrying' | 'parked';
}

/** Whether a report moved the email: `stale` means it was already past it (the try is still recorded). */
export type RecordOutcome = 'advanced' | 'stale' | 'unknown';

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

/** One email's record, without body or full addresses: the API's view of it (`@mailer/contract`). */
export type EmailSummary = EmailSummaryView;

/** One email with every try, oldest first. */
export interface EmailRecord extends EmailSummary {
  readonly attempts: readonly AttemptRecord[];
}

/** Filters and paging of {@link Ledger.listEmails}. */
export interface ListQuery {
  readonly status?: EmailState;
  /** Accepted at or after. */
  readonly since?: Date;
  /** Only emails with an in-doubt try. */
  readonly inDoubt?: boolean;
  /** The `nextCursor` of the previous page. */
  readonly cursor?: string;
  /** 1 to {@link MAX_LIST_LIMIT}; {@link DEFAULT_LIST_LIMIT} when absent. */
  readonly limit?: number;
}

/** One page of a client's emails, newest first. */
export interface EmailPage {
  readonly emails: readonly EmailSummary[];
  /** Absent on the last page. */
  readonly nextCursor?: string;
}

/** The longest error text kept per try. */
export const MAX_ERROR_LENGTH = 1000;
/** Emails on a page of {@link Ledger.listEmails} when the caller names no limit. */
export const DEFAULT_LIST_LIMIT = 50;
/** The most emails on one page of {@link Ledger.listEmails}. */
export const MAX_LIST_LIMIT = 100;
