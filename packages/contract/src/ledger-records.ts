import type { FailureKind } from './delivery';
import type { EmailState } from './email-state';
import type { EmailSummaryView } from './email-view';

/*
 * The records the ledger (`@mailer/ledger`) takes and answers, written once: the producer's and the
 * consumer's ports name their methods over these, so a change to what the ledger says is one
 * change that every user's types see.
 */

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

/** A held `Idempotency-Key`, as the ledger hands it out; completing or releasing the key needs it. */
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

/** What the ledger answers to an {@link AttemptClaim}. */
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

/** A provider accepted the email in this attempt. */
export interface SentReport {
  readonly id: string;
  readonly attempt: number;
  readonly provider: string;
  readonly providerMessageId: string | null;
}

/** Why a try did not send: a provider's failure kind, or an in-doubt try that is not resent. */
export type AttemptFailureKind = FailureKind | 'in-doubt';

/** A try that did not send; with `next`, the email's move to a delay tier or the dead letters. */
export interface FailureReport {
  readonly id: string;
  readonly attempt: number;
  readonly provider?: string;
  readonly kind: AttemptFailureKind;
  /** The provider's error text (never the body or full addresses); the ledger keeps its first 1,000 characters. */
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

/** Filters and paging of a list of one client's emails. */
export interface EmailListQuery {
  readonly status?: EmailState;
  /** Accepted at or after. */
  readonly since?: Date;
  /** Only emails with an in-doubt try. */
  readonly inDoubt?: boolean;
  /** The `nextCursor` of the previous page. */
  readonly cursor?: string;
  /** 1 to 100 (the ledger's `MAX_LIST_LIMIT`); 50 when absent. */
  readonly limit?: number;
}

/** One page of a client's emails, newest first. */
export interface EmailListPage {
  readonly emails: readonly EmailSummaryView[];
  /** Absent on the last page. */
  readonly nextCursor?: string;
}
