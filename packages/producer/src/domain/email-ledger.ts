import type {
  AcceptedRecord,
  EmailListPage,
  EmailListQuery,
  EmailView,
  KeyReservation,
  PreviousEmail,
  RecordedEmail,
} from '@mailer/contract';

// The ledger's records are written once, in contract; the port below names its methods over them.
export {
  EMAIL_STATES,
  type AcceptedRecord,
  type AttemptView,
  type EmailListPage,
  type EmailListQuery,
  type EmailState,
  type EmailSummaryView,
  type EmailView,
  type KeyReservation,
  type RecordedEmail,
} from '@mailer/contract';

/** One request that carries an `Idempotency-Key`. */
export interface KeyedRequest {
  readonly client: string;
  readonly key: string;
  /** The path the request was sent to: the same key on another route is another request. */
  readonly route: string;
  /** The request body as parsed: the same key with another body is refused. */
  readonly body: unknown;
  /**
   * The reservation's token (a UUID), chosen by the caller: when the ledger's answer is lost,
   * the caller can still release what it may hold.
   */
  readonly token: string;
}

/** What reserving a key found. */
export type KeyOutcome =
  /**
   * The key is this request's. `previousEmails` is not empty when a holder that died after
   * recording was taken over: reuse those ids in order, and publish again those still `queued`
   * (or no longer known).
   */
  | {
      readonly outcome: 'new';
      readonly reservation: KeyReservation;
      readonly previousEmails: readonly PreviousEmail[];
      /** The emails as recorded (under `previousEmails`' ids on a takeover), each with its suppressed recipients. */
      readonly recorded: readonly RecordedEmail[];
    }
  /** Answered before: give the stored answer again. */
  | { readonly outcome: 'replay'; readonly status: number; readonly body: unknown }
  /** Used before with another body. */
  | { readonly outcome: 'mismatch' }
  /** The first request with the key is still under way; it may be taken over in `staleInMs`. */
  | { readonly outcome: 'in-flight'; readonly staleInMs: number };

/**
 * What a request answered 503 left in the ledger although nothing of it was published: emails to
 * forget (still `queued` with no try) and a key to give up, done once the ledger answers again.
 */
export interface LedgerRepair {
  readonly discard: readonly string[];
  readonly release?: KeyReservation;
}

/** Keeps {@link LedgerRepair}s the ledger could not take when they were due, and applies them later. */
export interface RepairQueue {
  add(repair: LedgerRepair): void;
}

/** The ledger cannot be reached: answer 503 rather than accept an email that is not recorded. */
export class LedgerOutageError extends Error {
  override readonly name = 'LedgerOutageError';
  /** The `reason` of the 503 and of `/readyz`. */
  readonly reason = 'ledger-unavailable';
}

/** A list cursor this API did not hand out, or handed out to another caller. */
export class BadCursorError extends Error {
  override readonly name = 'BadCursorError';
}

/**
 * The record of every accepted email and the idempotency keys, as the use cases see it. Every
 * method rejects with {@link LedgerOutageError} when the ledger cannot be reached.
 */
export interface EmailLedger {
  /**
   * Reserves a key before anything is published and, when the key is this request's (`new`),
   * records `emails` as `queued` under it in the same commit. When `previousEmails` is not empty
   * the emails were recorded under those ids instead of their own. Nothing is recorded otherwise.
   * On `new`, `recorded` names each email's recipients on the suppression list, as
   * {@link recordAccepted} does.
   */
  reserveKeyAndRecord(request: KeyedRequest, emails: readonly AcceptedRecord[]): Promise<KeyOutcome>;
  /**
   * Records emails as `queued` before they are published (a request with no key); resolves, per
   * email in order, with the positions (in to, cc, bcc order) of its recipients on the suppression
   * list. An email whose every recipient is on it is recorded `suppressed`, and must not be published.
   */
  recordAccepted(emails: readonly AcceptedRecord[]): Promise<readonly RecordedEmail[]>;
  /** Stores the answer for replays; false when the key was taken over meanwhile. */
  completeKey(reservation: KeyReservation, status: number, body: unknown): Promise<boolean>;
  /** Gives a key up after a failed publish, so a retry of the same request may take it at once. */
  releaseKey(reservation: KeyReservation): Promise<boolean>;
  /** Forgets recorded emails whose publish failed and left them off the queue (answered 503). */
  discardUnpublished(ids: readonly string[]): Promise<void>;
  /** One of `client`'s emails; null for an unknown id or another client's email. */
  getEmail(client: string, id: string): Promise<EmailView | null>;
  /** A page of `client`'s emails; rejects with {@link BadCursorError} for a cursor it did not give. */
  listEmails(client: string, filter: EmailListQuery): Promise<EmailListPage>;
}

/**
 * Stores keyed requests' answers while the 202 goes out rather than before it (the producer's
 * `KeyAnswers`): `store` never rejects (a failure is logged, and the key goes stale as when a
 * producer dies before answering); `settled` is the store under way for a key, if any, which a
 * retry of that key at the same producer waits for before it asks the ledger.
 */
export interface KeyAnswerStore {
  store(reservation: KeyReservation, status: number, body: unknown): void;
  settled(client: string, key: string): Promise<void> | undefined;
}
