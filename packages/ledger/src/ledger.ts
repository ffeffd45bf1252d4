import { createHash } from 'node:crypto';
import { maskAddress, maskAddressesIn, type Readiness } from '@mailer/contract';
import { Batcher } from './batcher';
import { classify } from './errors';
import type { EmailState } from './states';
import {
  DEFAULT_LIST_LIMIT,
  MAX_ERROR_LENGTH,
  MAX_LIST_LIMIT,
  type AcceptedEmail,
  type AttemptClaim,
  type AttemptRecord,
  type ClaimOutcome,
  type EmailPage,
  type EmailRecord,
  type EmailSummary,
  type FailureReport,
  type KeyReservation,
  type ListQuery,
  type PreviousEmail,
  type Queryable,
  type RecordOutcome,
  type ReserveOutcome,
  type SentReport,
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
}

/** A key reservation request. */
export interface KeyRequest {
  /** The API key's name. */
  readonly client: string;
  /** The `Idempotency-Key` header: 1-255 printable ASCII characters. */
  readonly key: string;
  /** {@link hashRequest} of the request: the same key with another hash is a mismatch. */
  readonly requestHash: string;
  /** How long the key (and its answer) is kept; 24 h is what callers of other mail APIs expect. */
  readonly ttlMs: number;
  /**
   * How long an in-flight reservation is honoured before another request with the key takes it
   * over: longer than the slowest accept (publish timeout and ledger writes), or a live request
   * could be duplicated; short enough that a caller retrying after a crash is not refused long.
   */
  readonly staleAfterMs: number;
}

/** {@link Ledger.reserveKeyAndRecord}'s request: a key request with the reservation's token. */
export interface KeyedRecording extends KeyRequest {
  /**
   * The reservation's token (a UUID), chosen by the caller rather than the ledger: a caller whose
   * answer was lost can still release what it may hold.
   */
  readonly token: string;
}

/** The answer stored under a key, given again on a replay. */
export interface KeyCompletion {
  readonly reservation: KeyReservation;
  readonly status: number;
  readonly body: unknown;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** What `Idempotency-Key` may hold: 1-255 printable ASCII characters. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;

/** JSON with object keys sorted, so two equal bodies hash the same whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return value === undefined ? 'null' : JSON.stringify(value);
}

/**
 * The hash an idempotency key is bound to: SHA-256 of the request's route and its JSON body
 * with keys sorted (so the same body in another key order is the same request).
 */
export function hashRequest(route: string, body: unknown): string {
  return createHash('sha256').update(route).update('\n').update(canonical(body)).digest('hex');
}

interface EmailRow {
  id: string;
  state: EmailState;
  attempt: number;
  accepted_at: Date;
  updated_at: Date;
  provider: string | null;
  provider_message_id: string | null;
  recipient_count: number;
  recipients: string[];
  tags: Record<string, string> | null;
  metadata: Record<string, string | number | boolean | null> | null;
  in_doubt: boolean;
}

interface AttemptJson {
  attempt: number;
  provider: string | null;
  started_at: string;
  finished_at: string | null;
  outcome: AttemptRecord['outcome'];
  error: string | null;
  ambiguous: boolean;
  provider_message_id: string | null;
}

const summaryColumns = `e.id, e.state, e.attempt, e.accepted_at, e.updated_at, e.provider, e.provider_message_id,
  e.recipient_count, e.recipients, e.tags, e.metadata, e.in_doubt`;

function toSummary(row: EmailRow): EmailSummary {
  return {
    id: row.id,
    state: row.state,
    attempt: row.attempt,
    acceptedAt: row.accepted_at,
    updatedAt: row.updated_at,
    provider: row.provider,
    providerMessageId: row.provider_message_id,
    recipientCount: row.recipient_count,
    recipients: row.recipients,
    tags: row.tags,
    metadata: row.metadata,
    inDoubt: row.in_doubt,
  };
}

function toAttempt(a: AttemptJson): AttemptRecord {
  return {
    attempt: a.attempt,
    provider: a.provider,
    startedAt: new Date(a.started_at),
    finishedAt: a.finished_at === null ? null : new Date(a.finished_at),
    outcome: a.outcome,
    error: a.error,
    ambiguous: a.ambiguous,
    providerMessageId: a.provider_message_id,
  };
}

/** Rows `{ i, result }` of a batch function, in the items' order. */
function byIndex<T>(rows: { i: number; result: T }[], count: number): T[] {
  const results = new Array<T | undefined>(count).fill(undefined);
  for (const row of rows) results[row.i] = row.result;
  const missing = results.indexOf(undefined);
  if (missing !== -1) throw new Error(`the batch gave no result for request ${missing}`);
  return results as T[];
}

/** Thrown by {@link Ledger.listEmails} for a cursor it did not hand out (or for another client). */
export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
}

/**
 * Every email's record: what the producer accepted, what the consumer tried and how it ended,
 * and the idempotency keys. Writes of one kind made in the same turn of the event loop go to
 * PostgreSQL as one statement (see `docs/ledger.md`); reads go one by one. Every method rejects
 * with {@link LedgerUnavailableError} when the database cannot be reached.
 */
export class Ledger {
  private readonly db: Queryable;
  private readonly reserveBatch: Batcher<ReserveItem, ReserveJson>;
  private readonly reserveRecordBatch: Batcher<ReserveRecordItem, ReserveJson>;
  private readonly completeBatch: Batcher<KeyCompletion, boolean>;
  private readonly releaseBatch: Batcher<KeyReservation, boolean>;
  private readonly acceptBatch: Batcher<AcceptCall, undefined>;
  private readonly claimBatch: Batcher<AttemptClaim, ClaimJson>;
  private readonly finishBatch: Batcher<FinishItem, { outcome: RecordOutcome }>;

  constructor(options: LedgerOptions) {
    this.db = options.db;
    const shape = { maxItems: options.batch?.maxItems ?? 25, maxConcurrent: options.batch?.maxConcurrent ?? 4 };
    this.reserveBatch = new Batcher({ ...shape, run: (items) => this.call('ledger_reserve_keys', items, reserveJson) });
    this.reserveRecordBatch = new Batcher({
      ...shape,
      run: (items) => this.call('ledger_reserve_and_record', items, reserveJson),
    });
    this.completeBatch = new Batcher({
      ...shape,
      run: (items) => this.call('ledger_complete_keys', items.map(completionItem), (json) => json === true),
    });
    this.releaseBatch = new Batcher({ ...shape, run: (items) => this.runRelease(items) });
    this.acceptBatch = new Batcher({ ...shape, run: (items) => this.runAccept(items) });
    this.claimBatch = new Batcher({ ...shape, run: (items) => this.call('ledger_claim_attempts', items, claimJson) });
    this.finishBatch = new Batcher({
      ...shape,
      run: (items) => this.call('ledger_finish_attempts', items, finishJson),
    });
  }

  /** Resolves when the database answers; rejects with {@link LedgerUnavailableError} otherwise. */
  async ping(): Promise<void> {
    await this.query('pinging', 'SELECT 1');
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
  async reserveIdempotencyKey(request: KeyRequest): Promise<ReserveOutcome> {
    if (!IDEMPOTENCY_KEY_PATTERN.test(request.key)) throw new RangeError('an idempotency key is 1-255 printable ASCII');
    const json = await this.reserveBatch.add(reserveItem(request));
    return reserveOutcome(request, json.token ?? '', json);
  }

  /**
   * {@link reserveIdempotencyKey} and {@link recordAccepted} in one statement: when the key is
   * this request's (`new`), `emails` are recorded as `queued` under it in the same commit, so a
   * keyed request costs one commit before its publish instead of two. A stale reservation taken
   * over whose holder recorded as many emails keeps that holder's ids: `previousEmails` then names
   * them and the rows are recorded under them (`emails`' own ids are not used); otherwise
   * `previousEmails` is empty and `emails` are recorded as given. Nothing is recorded on any other
   * outcome. Batched.
   */
  async reserveKeyAndRecord(request: KeyedRecording, emails: readonly AcceptedEmail[]): Promise<ReserveOutcome> {
    if (!IDEMPOTENCY_KEY_PATTERN.test(request.key)) throw new RangeError('an idempotency key is 1-255 printable ASCII');
    if (!UUID.test(request.token)) throw new RangeError('a reservation token is a UUID');
    const json = await this.reserveRecordBatch.add({
      ...reserveItem(request),
      token: request.token,
      emails: emails.map(acceptedRow),
    });
    return reserveOutcome(request, request.token, json);
  }

  /**
   * Stores the answer given under a reservation, for replays until the key expires. Resolves
   * false when the reservation was taken over meanwhile (the holder's answer stands). Batched.
   * Its commit does not wait for the disk (migration 0007): the answer is seen by every caller at
   * once, and a PostgreSQL crash in the next fraction of a second leaves the key in flight, to be
   * taken over with the same ids, as if the answer had never been stored.
   */
  completeIdempotencyKey(completion: KeyCompletion): Promise<boolean> {
    return this.completeBatch.add(completion);
  }

  /**
   * Gives a reservation up when the request was not accepted (a 503 from the broker): a key with
   * no emails recorded is deleted, so the caller may retry with any body; one with emails is
   * left to be taken over at once by a retry of the same request, which publishes the same ids.
   * Resolves false when the reservation was not this caller's any more. Batched.
   */
  releaseIdempotencyKey(reservation: KeyReservation): Promise<boolean> {
    return this.releaseBatch.add(reservation);
  }

  /**
   * Forgets emails recorded by {@link recordAccepted} whose publish then failed in a way that
   * leaves them off the queue (the caller was answered 503): those still `queued` at attempt 0
   * with no try are deleted, so the ledger does not show them as queued for ever. An email a
   * consumer has touched meanwhile is kept. Resolves with how many went. Not batched: it follows
   * a broker failure, not the hot path.
   */
  async discardUnpublished(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const rows = await this.query<{ n: number }>(
      'discarding unpublished emails',
      `WITH gone AS (
        DELETE FROM emails e WHERE e.id = ANY($1::uuid[]) AND e.state = 'queued' AND e.attempt = 0
          AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.email_id = e.id)
        RETURNING 1
      ) SELECT count(*)::integer AS n FROM gone`,
      [ids],
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * Deletes up to `limit` expired keys (their answers are no longer replayed) and resolves with
   * how many went. A reservation past its TTL is reused anyway; this only keeps the table small,
   * so the producer calls it once a minute (its `KeyPurger`) rather than on each request.
   */
  async purgeExpiredIdempotencyKeys(limit = 1000): Promise<number> {
    const rows = await this.query<{ n: number }>(
      'purging expired idempotency keys',
      `WITH gone AS (
        DELETE FROM idempotency_keys WHERE ctid IN (
          SELECT ctid FROM idempotency_keys WHERE expires_at <= now() LIMIT $1 FOR UPDATE SKIP LOCKED
        ) RETURNING 1
      ) SELECT count(*)::integer AS n FROM gone`,
      [limit],
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * Moves up to `limit` emails still `queued` with no try, accepted more than `olderThanMs` ago,
   * to `abandoned`, and resolves with how many moved. Such an email's request was answered 503
   * (or never answered) and, as far as anyone can tell, never published: without this it would
   * show `queued` for ever. `olderThanMs` must exceed the longest an email may wait in the work
   * queue before a consumer claims it; one that was there after all moves on at its claim (a
   * later attempt outranks it). The producer calls it once a minute, beside the key purge.
   */
  async abandonStaleQueued(olderThanMs: number, limit = 1000): Promise<number> {
    const rows = await this.query<{ n: number }>(
      'abandoning stale queued emails',
      // MATERIALIZED: the LIMIT is applied once (inlined into the UPDATE it could be run again per row).
      `WITH due AS MATERIALIZED (
        SELECT e.id FROM emails e
        WHERE e.state = 'queued' AND e.attempt = 0 AND e.accepted_at < now() - $1 * interval '1 millisecond'
          AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.email_id = e.id)
        ORDER BY e.accepted_at LIMIT $2 FOR UPDATE SKIP LOCKED
      ), gone AS (
        UPDATE emails em SET state = 'abandoned', updated_at = now() FROM due
        WHERE em.id = due.id AND em.state = 'queued' RETURNING 1
      ) SELECT count(*)::integer AS n FROM gone`,
      [Math.round(olderThanMs), limit],
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * Records accepted emails as `queued`, before they are published (the state exists as soon as
   * the 202 does). Ids already recorded are left as they are, so a takeover can record the same
   * ids again. With a reservation, the ids are stored under the key for a later takeover. Batched.
   */
  async recordAccepted(emails: readonly AcceptedEmail[], reservation?: KeyReservation): Promise<void> {
    // Rows are built here, so a bad value fails its own caller rather than the whole batch.
    const rows = emails.map(acceptedRow);
    await this.acceptBatch.add({ rows, ...(reservation === undefined ? {} : { reservation }) });
  }

  /**
   * Claims one try of an attempt when its send starts, before the provider has any of it; see
   * {@link ClaimOutcome} for what each answer asks of the consumer. The same claim again with its
   * `token` (its answer was lost) finds its own open try and is answered `claimed`. Batched.
   */
  async claimAttempt(claim: AttemptClaim): Promise<ClaimOutcome> {
    const json = await this.claimBatch.add(claim);
    switch (json.outcome) {
      case 'claimed':
        return { outcome: 'claimed' };
      case 'already-sent':
        return {
          outcome: 'already-sent',
          provider: json.provider ?? null,
          providerMessageId: json.provider_message_id ?? null,
        };
      case 'superseded':
        return { outcome: 'superseded', state: json.state ?? 'queued', attempt: json.attempt ?? 0 };
      case 'in-doubt':
        return {
          outcome: 'in-doubt',
          attempt: json.attempt ?? 0,
          provider: json.provider ?? null,
          startedAt: new Date(json.started_at ?? 0),
        };
      case 'unknown':
        return { outcome: 'unknown' };
    }
  }

  /** Records that a provider accepted the email: the state becomes `sent` (record it before the ack). Batched. */
  async recordSent(report: SentReport): Promise<RecordOutcome> {
    const { outcome } = await this.finishBatch.add({
      id: report.id,
      attempt: report.attempt,
      provider: report.provider,
      outcome: 'sent',
      provider_message_id: report.providerMessageId,
      error: null,
      ambiguous: false,
      state: 'sent',
    });
    return outcome;
  }

  /** Records a failed try and, with `next`, the email's move to `retrying` or `parked`. Batched. */
  async recordFailure(report: FailureReport): Promise<RecordOutcome> {
    const { outcome } = await this.finishBatch.add({
      id: report.id,
      attempt: report.attempt,
      provider: report.provider ?? null,
      outcome: report.kind,
      provider_message_id: null,
      // The consumer masks its texts already; the ledger holds no full address whoever writes to it.
      error: maskAddressesIn(report.error).slice(0, MAX_ERROR_LENGTH),
      ambiguous: report.ambiguous,
      state: report.next ?? null,
    });
    return outcome;
  }

  /** One of `client`'s emails with every try; null for an unknown id or another client's email. */
  async getEmail(client: string, id: string): Promise<EmailRecord | null> {
    if (!UUID.test(id)) return null;
    const rows = await this.query<EmailRow & { attempts: AttemptJson[] }>(
      'reading an email',
      `SELECT ${summaryColumns},
        coalesce((SELECT jsonb_agg(jsonb_build_object('attempt', a.attempt, 'provider', a.provider,
            'started_at', a.started_at, 'finished_at', a.finished_at, 'outcome', a.outcome, 'error', a.error,
            'ambiguous', a.ambiguous, 'provider_message_id', a.provider_message_id) ORDER BY a.seq)
          FROM attempts a WHERE a.email_id = e.id), '[]'::jsonb) AS attempts
      FROM emails e WHERE e.id = $1 AND e.client = $2`,
      [id, client],
    );
    const row = rows[0];
    return row === undefined ? null : { ...toSummary(row), attempts: row.attempts.map(toAttempt) };
  }

  /**
   * The attempt the ledger has reached for one of `client`'s emails (0 before the first), or
   * `undefined` when it has no such email: what a replay numbers its copy past, without reading
   * the email's tries as {@link getEmail} does.
   */
  async attemptOf(client: string, id: string): Promise<number | undefined> {
    if (!UUID.test(id)) return undefined;
    const rows = await this.query<{ attempt: number }>(
      "reading an email's attempt",
      'SELECT attempt FROM emails WHERE id = $1 AND client = $2',
      [id, client],
    );
    return rows[0]?.attempt;
  }

  /**
   * One page of `client`'s emails, newest first, by keyset: the cursor is the last email of the
   * previous page, so rows added meanwhile never shift a page.
   *
   * @throws InvalidCursorError for a cursor that is not one of this client's.
   */
  async listEmails(client: string, query: ListQuery = {}): Promise<EmailPage> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new RangeError(`limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`);
    }
    const values: unknown[] = [client];
    const where = ['e.client = $1'];
    if (query.status !== undefined) {
      values.push(query.status);
      where.push(`e.state = $${values.length}`);
    }
    if (query.since !== undefined) {
      values.push(query.since);
      where.push(`e.accepted_at >= $${values.length}`);
    }
    if (query.inDoubt !== undefined) {
      values.push(query.inDoubt);
      where.push(`e.in_doubt = $${values.length}`);
    }
    if (query.cursor !== undefined) {
      const after = Buffer.from(query.cursor, 'base64url').toString('utf8');
      if (!UUID.test(after)) throw new InvalidCursorError('not a cursor this API gave');
      values.push(after);
      const c = `$${values.length}`;
      const found = await this.query('reading a cursor', 'SELECT 1 FROM emails WHERE id = $1 AND client = $2', [
        after,
        client,
      ]);
      if (found.length === 0) throw new InvalidCursorError('not a cursor this API gave');
      where.push(`(e.accepted_at, e.id) < (SELECT c.accepted_at, c.id FROM emails c WHERE c.id = ${c})`);
    }
    values.push(limit + 1);
    const rows = await this.query<EmailRow>(
      'listing emails',
      `SELECT ${summaryColumns} FROM emails e WHERE ${where.join(' AND ')}
       ORDER BY e.accepted_at DESC, e.id DESC LIMIT $${values.length}`,
      values,
    );
    const page = rows.slice(0, limit).map(toSummary);
    const last = page[page.length - 1];
    return rows.length > limit && last !== undefined
      ? { emails: page, nextCursor: Buffer.from(last.id, 'utf8').toString('base64url') }
      : { emails: page };
  }

  /** Calls still waiting for a batch, all kinds together; for metrics and tests. */
  get pendingWrites(): number {
    return [
      this.reserveBatch,
      this.reserveRecordBatch,
      this.completeBatch,
      this.releaseBatch,
      this.acceptBatch,
      this.claimBatch,
      this.finishBatch,
    ].reduce((sum, b) => sum + b.pending, 0);
  }

  private async query<R extends object>(doing: string, text: string, values?: unknown[]): Promise<R[]> {
    try {
      return (await this.db.query(text, values)).rows as R[];
    } catch (error) {
      throw classify(error, doing);
    }
  }

  private async call<O>(fn: string, items: readonly object[], shape: (json: unknown) => O): Promise<O[]> {
    const rows = await this.query<{ i: number; result: unknown }>(
      `running ${fn}`,
      `SELECT i, result FROM ${fn}($1::jsonb)`,
      [JSON.stringify(items.map((item, i) => ({ ...item, i })))],
    );
    return byIndex(rows, items.length).map(shape);
  }

  private async runAccept(calls: readonly AcceptCall[]): Promise<undefined[]> {
    const emails = calls.flatMap((c) => c.rows);
    const keys = calls.flatMap((c) =>
      c.reservation === undefined ? [] : [{ ...c.reservation, email_ids: c.rows.map((e) => e.id) }],
    );
    await this.query(
      'recording accepted emails',
      `WITH e AS (
        INSERT INTO emails (id, client, accepted_at, recipient_count, recipients, tags, metadata)
        SELECT x.id, x.client, x.accepted_at, x.recipient_count,
          ARRAY(SELECT jsonb_array_elements_text(x.recipients)), x.tags, x.metadata
        FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, client text, accepted_at timestamptz,
          recipient_count integer, recipients jsonb, tags jsonb, metadata jsonb)
        ORDER BY x.id
        ON CONFLICT (id) DO NOTHING
        RETURNING 1
      ), k AS (
        UPDATE idempotency_keys AS ik
        SET email_ids = ARRAY(SELECT jsonb_array_elements_text(x.email_ids)::uuid)
        FROM jsonb_to_recordset($2::jsonb) AS x(client text, key text, token uuid, email_ids jsonb)
        WHERE ik.client = x.client AND ik.key = x.key AND ik.owner = x.token
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM e) AS emails, (SELECT count(*) FROM k) AS keys`,
      [JSON.stringify(emails), JSON.stringify(keys)],
    );
    return calls.map(() => undefined);
  }

  private async runRelease(items: readonly KeyReservation[]): Promise<boolean[]> {
    const rows = await this.query<{ i: number }>(
      'releasing idempotency keys',
      `WITH x AS (
        SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(i integer, client text, key text, token uuid)
      ), gone AS (
        DELETE FROM idempotency_keys AS ik USING x
        WHERE ik.client = x.client AND ik.key = x.key AND ik.owner = x.token AND ik.state = 'in-flight'
          AND cardinality(ik.email_ids) = 0
        RETURNING x.i
      ), open AS (
        UPDATE idempotency_keys AS ik SET locked_at = '-infinity' FROM x
        WHERE ik.client = x.client AND ik.key = x.key AND ik.owner = x.token AND ik.state = 'in-flight'
          AND cardinality(ik.email_ids) > 0
        RETURNING x.i
      )
      SELECT i FROM gone UNION ALL SELECT i FROM open`,
      [JSON.stringify(items.map((r, i) => ({ ...r, i })))],
    );
    return this.flags(rows, items.length);
  }

  private flags(rows: readonly { i: number }[], count: number): boolean[] {
    const hit = new Array<boolean>(count).fill(false);
    for (const row of rows) hit[row.i] = true;
    return hit;
  }
}

interface AcceptedRow {
  readonly id: string;
  readonly client: string;
  readonly accepted_at: string;
  readonly recipient_count: number;
  readonly recipients: readonly string[];
  readonly tags: AcceptedEmail['tags'] | null;
  readonly metadata: AcceptedEmail['metadata'] | null;
}

interface AcceptCall {
  readonly rows: readonly AcceptedRow[];
  readonly reservation?: KeyReservation;
}

interface FinishItem {
  readonly id: string;
  readonly attempt: number;
  readonly provider: string | null;
  readonly outcome: string;
  readonly provider_message_id: string | null;
  readonly error: string | null;
  readonly ambiguous: boolean;
  readonly state: EmailState | null;
}

interface ReserveItem {
  readonly client: string;
  readonly key: string;
  readonly request_hash: string;
  readonly ttl_ms: number;
  readonly stale_ms: number;
}

interface ReserveRecordItem extends ReserveItem {
  readonly token: string;
  readonly emails: readonly AcceptedRow[];
}

function completionItem({ reservation, status, body }: KeyCompletion) {
  return { ...reservation, status, body: body ?? null };
}

function reserveItem(request: KeyRequest): ReserveItem {
  return {
    client: request.client,
    key: request.key,
    request_hash: request.requestHash,
    ttl_ms: Math.round(request.ttlMs),
    stale_ms: Math.round(request.staleAfterMs),
  };
}

/** One accepted email as the ledger's statements take it: recipients masked, jsonb-safe values. */
function acceptedRow(e: AcceptedEmail): AcceptedRow {
  return {
    id: e.id,
    client: e.client,
    accepted_at: e.acceptedAt.toISOString(),
    recipient_count: e.recipients.length,
    recipients: e.recipients.map(maskAddress),
    tags: e.tags === undefined ? null : jsonbSafe(e.tags),
    metadata: e.metadata === undefined ? null : jsonbSafe(e.metadata),
  };
}

function reserveOutcome(request: KeyRequest, token: string, json: ReserveJson): ReserveOutcome {
  switch (json.outcome) {
    case 'new':
      return {
        outcome: 'new',
        reservation: { client: request.client, key: request.key, token },
        previousEmails: json.previous_emails ?? [],
      };
    case 'replay':
      return { outcome: 'replay', status: json.status ?? 0, body: json.body, emailIds: json.email_ids ?? [] };
    case 'mismatch':
      return { outcome: 'mismatch' };
    case 'in-flight':
      return { outcome: 'in-flight', staleInMs: json.stale_in_ms ?? 0 };
  }
}

interface ReserveJson {
  outcome: 'new' | 'replay' | 'mismatch' | 'in-flight';
  token?: string;
  previous_emails?: PreviousEmail[];
  status?: number;
  body?: unknown;
  email_ids?: string[];
  stale_in_ms?: number;
}

interface ClaimJson {
  outcome: ClaimOutcome['outcome'];
  provider?: string | null;
  provider_message_id?: string | null;
  state?: EmailState;
  attempt?: number;
  started_at?: string;
}

const reserveJson = (json: unknown): ReserveJson => json as ReserveJson;
const claimJson = (json: unknown): ClaimJson => json as ClaimJson;
const finishJson = (json: unknown): { outcome: RecordOutcome } => json as { outcome: RecordOutcome };

/**
 * `values` as jsonb can hold them. PostgreSQL's jsonb cannot hold U+0000, which the request schema
 * allows in metadata names and string values: the ledger's copy shows U+FFFD there instead (the
 * queued message keeps the original). Unchanged, one such email would fail the batched statement
 * of every email recorded with it.
 */
export function jsonbSafe<T extends Readonly<Record<string, string | number | boolean | null>>>(values: T): T {
  const clean = (text: string) => text.replaceAll('\u0000', '\uFFFD');
  return Object.fromEntries(
    Object.entries(values).map(([name, value]) => [clean(name), typeof value === 'string' ? clean(value) : value]),
  ) as T;
}
