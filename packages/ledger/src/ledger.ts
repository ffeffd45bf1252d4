import type { ProviderReputation, Readiness, RecipientHasher } from '@mailer/contract';
import { Deliveries } from './deliveries';
import { Feedback } from './feedback';
import { IdempotencyKeys, type KeyCompletion, type KeyedRecording, type KeyRequest } from './keys';
import { EmailReads } from './reads';
import { readReputation } from './reputation';
import { SendSuppressions } from './send-suppressions';
import { query } from './statements';
import { Suppressions } from './suppressions';
import type {
  AcceptedEmail,
  AttemptClaim,
  ClaimOutcome,
  EmailPage,
  EmailRecord,
  FailureReport,
  KeyReservation,
  ListQuery,
  ProviderEvent,
  ProviderEventOutcome,
  Queryable,
  RecordedEmail,
  RecordOutcome,
  ReserveOutcome,
  SentReport,
  SuppressedAtSendReport,
  SuppressionEntry,
  SuppressionListQuery,
  SuppressionPage,
  SuppressionView,
} from './types';

/** How the ledger groups its writes. */
export interface BatchOptions {
  /** Most calls of one kind in one statement; 1 turns batching off. Default 25. */
  readonly maxItems?: number;
  /** Most statements of one kind under way at once. Default 4. */
  readonly maxConcurrent?: number;
}

/** Options of {@link Ledger}. */
export interface LedgerOptions {
  /** Usually the pool from `createPool`; anything with pg's `query` will do. */
  readonly db: Queryable;
  readonly batch?: BatchOptions;
  /**
   * Keys recipients (`RECIPIENT_HASH_SECRET`): with it, accepted emails store their recipients'
   * keys and are checked against the suppression list, and suppressions can be added. Without
   * it (tools that only read) no key is stored and nothing is found suppressed at intake.
   */
  readonly hasher?: RecipientHasher;
}

/**
 * Every email's record: what the producer accepted, what the consumer tried and how it ended,
 * and the idempotency keys. Writes of one kind made in the same turn of the event loop go to
 * PostgreSQL as one statement (see `docs/ledger.md`); reads go one by one. Every method rejects
 * with {@link LedgerUnavailableError} when the database cannot be reached.
 *
 * A facade: the keys (`keys.ts`), an email's deliveries (`deliveries.ts`), the reads
 * (`reads.ts`), providers' feedback (`feedback.ts`) and the suppression list (`suppressions.ts`)
 * are parts of their own, each with the batchers it writes through.
 */
export class Ledger {
  private readonly db: Queryable;
  private readonly keys: IdempotencyKeys;
  private readonly deliveries: Deliveries;
  private readonly reads: EmailReads;
  private readonly feedback: Feedback;
  private readonly suppressions: Suppressions;
  private readonly sendSuppressions: SendSuppressions;

  constructor(options: LedgerOptions) {
    this.db = options.db;
    const shape = { maxItems: options.batch?.maxItems ?? 25, maxConcurrent: options.batch?.maxConcurrent ?? 4 };
    this.keys = new IdempotencyKeys(this.db, shape, options.hasher);
    this.deliveries = new Deliveries(this.db, shape, options.hasher);
    this.reads = new EmailReads(this.db);
    this.feedback = new Feedback(this.db, shape, options.hasher);
    this.suppressions = new Suppressions(this.db, shape, options.hasher);
    this.sendSuppressions = new SendSuppressions(this.db, this.suppressions);
  }

  /** Resolves when the database answers; rejects with {@link LedgerUnavailableError} otherwise. */
  async ping(): Promise<void> {
    await query(this.db, 'pinging', 'SELECT 1');
  }

  /** `GET /readyz`'s view of the ledger: ready, or `reason: ledger-unavailable`. */
  async readiness(): Promise<Readiness> {
    try {
      await this.ping();
      return { ready: true };
    } catch {
      return { ready: false, reason: 'ledger-unavailable' };
    }
  }

  /**
   * Reserves an `Idempotency-Key` for one request before anything is recorded or published.
   * An expired key (past its `ttlMs`) is reserved afresh. Batched.
   */
  reserveIdempotencyKey(request: KeyRequest): Promise<ReserveOutcome> {
    return this.keys.reserve(request);
  }

  /**
   * {@link reserveIdempotencyKey} and {@link recordAccepted} in one statement: when the key is
   * this request's (`new`), `emails` are recorded as `queued` under it in the same commit, so a
   * keyed request costs one commit before its publish instead of two. A stale reservation taken
   * over whose holder recorded as many emails keeps that holder's ids: `previousEmails` then names
   * them and the rows are recorded under them (`emails`' own ids are not used); otherwise
   * `previousEmails` is empty and `emails` are recorded as given. Nothing is recorded on any other
   * outcome. On `new`, `recorded` names each email's recipients found on the suppression list
   * (as {@link recordAccepted} does). Batched.
   */
  reserveKeyAndRecord(request: KeyedRecording, emails: readonly AcceptedEmail[]): Promise<ReserveOutcome> {
    return this.keys.reserveAndRecord(request, emails);
  }

  /**
   * Stores the answer given under a reservation, for replays until the key expires. Resolves
   * false when the reservation was taken over meanwhile (the holder's answer stands). Batched.
   * Its commit does not wait for the disk (migration 0007): the answer is seen by every caller at
   * once, and a PostgreSQL crash in the next fraction of a second leaves the key in flight, to be
   * taken over with the same ids, as if the answer had never been stored.
   */
  completeIdempotencyKey(completion: KeyCompletion): Promise<boolean> {
    return this.keys.complete(completion);
  }

  /**
   * Gives a reservation up when the request was not accepted (a 503 from the broker): a key with
   * no emails recorded is deleted, so the caller may retry with any body; one with emails is
   * left to be taken over at once by a retry of the same request, which publishes the same ids.
   * Resolves false when the reservation was not this caller's any more. Batched.
   */
  releaseIdempotencyKey(reservation: KeyReservation): Promise<boolean> {
    return this.keys.release(reservation);
  }

  /**
   * Forgets emails recorded by {@link recordAccepted} whose publish then failed in a way that
   * leaves them off the queue (the caller was answered 503): those still `queued` at attempt 0
   * with no try are deleted, so the ledger does not show them as queued for ever. An email a
   * consumer has touched meanwhile is kept. Resolves with how many went. Not batched: it follows
   * a broker failure, not the hot path.
   */
  discardUnpublished(ids: readonly string[]): Promise<number> {
    return this.deliveries.discardUnpublished(ids);
  }

  /**
   * Deletes up to `limit` expired keys (their answers are no longer replayed) and resolves with
   * how many went. A reservation past its TTL is reused anyway; this only keeps the table small,
   * so the producer calls it once a minute (its `KeyPurger`) rather than on each request.
   */
  purgeExpiredIdempotencyKeys(limit = 1000): Promise<number> {
    return this.keys.purgeExpired(limit);
  }

  /**
   * Moves up to `limit` emails still `queued` with no try, accepted more than `olderThanMs` ago,
   * to `abandoned`, and resolves with how many moved. Such an email's request was answered 503
   * (or never answered) and, as far as anyone can tell, never published: without this it would
   * show `queued` for ever. `olderThanMs` must exceed the longest an email may wait in the work
   * queue before a consumer claims it; one that was there after all moves on at its claim (a
   * later attempt outranks it). The producer calls it once a minute, beside the key purge.
   */
  abandonStaleQueued(olderThanMs: number, limit = 1000): Promise<number> {
    return this.deliveries.abandonStaleQueued(olderThanMs, limit);
  }

  /**
   * Records accepted emails as `queued`, before they are published (the state exists as soon as
   * the 202 does). Ids already recorded are left as they are, so a takeover can record the same
   * ids again. With a reservation, the ids are stored under the key for a later takeover. Batched.
   *
   * In the same statement (with a `hasher`), each recipient's key is stored and looked up on the
   * suppression list (unexpired, under any of its candidate keys): resolves, per email in order,
   * with the positions of its suppressed recipients in `recipients`. Each of them gets the outcome
   * `suppressed`; an email whose every recipient is suppressed is recorded `suppressed` instead of
   * `queued`: do not publish it.
   */
  recordAccepted(emails: readonly AcceptedEmail[], reservation?: KeyReservation): Promise<RecordedEmail[]> {
    return this.deliveries.recordAccepted(emails, reservation);
  }

  /**
   * Claims one try of an attempt when its send starts, before the provider has any of it; see
   * {@link ClaimOutcome} for what each answer asks of the consumer. The same claim again with its
   * `token` (its answer was lost) finds its own open try and is answered `claimed`. Batched.
   */
  claimAttempt(claim: AttemptClaim): Promise<ClaimOutcome> {
    return this.deliveries.claim(claim);
  }

  /** Records that a provider accepted the email: the state becomes `sent` (record it before the ack). Batched. */
  recordSent(report: SentReport): Promise<RecordOutcome> {
    return this.deliveries.recordSent(report);
  }

  /** Records a failed try and, with `next`, the email's move to `retrying` or `parked`. Batched. */
  recordFailure(report: FailureReport): Promise<RecordOutcome> {
    return this.deliveries.recordFailure(report);
  }

  /**
   * One of `client`'s emails with every try and each recipient's outcome (`recipientOutcomes`);
   * null for an unknown id or another client's email.
   */
  getEmail(client: string, id: string): Promise<EmailRecord | null> {
    return this.reads.getEmail(client, id);
  }

  /**
   * The attempt the ledger has reached for one of `client`'s emails (0 before the first), or
   * `undefined` when it has no such email: what a replay numbers its copy past, without reading
   * the email's tries as {@link getEmail} does.
   */
  attemptOf(client: string, id: string): Promise<number | undefined> {
    return this.reads.attemptOf(client, id);
  }

  /**
   * One page of `client`'s emails, newest first, by keyset: the cursor is the last email of the
   * previous page, so rows added meanwhile never shift a page.
   *
   * @throws InvalidCursorError for a cursor that is not one of this client's.
   */
  listEmails(client: string, query: ListQuery = {}): Promise<EmailPage> {
    return this.reads.listEmails(client, query);
  }

  /**
   * Applies what a provider reported about one email, in one transaction: the event's key is
   * recorded for dedupe (seen before: `duplicate`, nothing else changes); the email is found by
   * `emailId`, else by the provider's message id (none: `email-unknown`, and nothing at all is
   * written, so applying it again later works: that retry is the caller's job, suppressions
   * included); each recipient's outcome moves forward only (a Delivery after a Bounce leaves it
   * bounced); `suppress` adds the recipient to the list (an entry already there keeps its first
   * source); `unsuppress` removes entries; the email's state becomes the summary of its recipients
   * (complained, else bounced, else delivered when all were), never moving back. Batched, one
   * batch under way at a time.
   */
  applyProviderEvent(event: ProviderEvent): Promise<ProviderEventOutcome> {
    return this.feedback.applyProviderEvent(event);
  }

  /** Deletes up to `limit` dedupe rows of events received more than `olderThanMs` ago; resolves with how many went. */
  pruneProviderEvents(olderThanMs: number, limit = 1000): Promise<number> {
    return this.feedback.pruneProviderEvents(olderThanMs, limit);
  }

  /**
   * Per recipient (its `RecipientHasher.candidates`), whether it is on the suppression list and
   * unexpired: the consumer's check just before sending. Batched, read-only.
   */
  suppressedAmong(candidateLists: readonly (readonly Buffer[])[]): Promise<boolean[]> {
    return this.suppressions.suppressedAmong(candidateLists);
  }

  /**
   * Adds entries to the suppression list (one statement) with a history row each time the list
   * changes; resolves per entry with whether it did. An unexpired entry keeps its reason and
   * source, and its expiry only grows; an expired one is replaced. Needs a `hasher`.
   */
  addSuppressions(entries: readonly SuppressionEntry[]): Promise<boolean[]> {
    return this.suppressions.add(entries);
  }

  /**
   * The consumer's record of recipients it did not send to (`send-suppressions.ts`, a call of its
   * own): adds `report.entries` to the list (as {@link addSuppressions}), then, while the email has
   * not been sent, gives each of `report.recipients` the outcome `suppressed` and, with
   * `emailSuppressed`, moves the email to `suppressed`. `unknown` for an email the ledger does not
   * have; `stale` when it was sent before or is already past that. Not batched; idempotent.
   */
  recordSuppressedAtSend(report: SuppressedAtSendReport): Promise<RecordOutcome> {
    return this.sendSuppressions.record(report);
  }

  /** Removes a recipient's entry, keeping a history row with `note` and `by`; false when it had none. */
  removeSuppression(hashes: readonly Buffer[], note: string | undefined, by: string): Promise<boolean> {
    return this.suppressions.remove(hashes, note, by);
  }

  /** A recipient's unexpired entry; null when it is not suppressed. Never shows the key. */
  findSuppression(hashes: readonly Buffer[]): Promise<SuppressionView | null> {
    return this.suppressions.find(hashes);
  }

  /**
   * One page of the unexpired entries, newest first, by keyset.
   *
   * @throws InvalidSuppressionCursorError for a cursor this list did not give.
   */
  listSuppressions(listQuery: SuppressionListQuery = {}): Promise<SuppressionPage> {
    return this.suppressions.list(listQuery);
  }

  /** How many entries the list holds (an estimate once past 10,000; expired ones included). */
  suppressionCount(): Promise<number> {
    return this.suppressions.count();
  }

  /**
   * Per provider, the recipients of the emails accepted in the last `windowMs` that it took, and
   * how many of them hard-bounced or complained: the producer's reputation gauges. Not batched.
   */
  reputation(windowMs: number, now: Date = new Date()): Promise<ProviderReputation[]> {
    return readReputation(this.db, new Date(now.getTime() - windowMs));
  }

  /** Calls still waiting for a batch, all kinds together; for metrics and tests. */
  get pendingWrites(): number {
    return this.keys.pending + this.deliveries.pending + this.feedback.pending + this.suppressions.pending;
  }
}
