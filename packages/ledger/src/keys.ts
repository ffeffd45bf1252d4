import { createHash } from 'node:crypto';
import type { RecipientHasher } from '@mailer/contract';
import { acceptedRow, type AcceptedRow } from './accepted-rows';
import { Batcher, type BatchShape } from './batcher';
import { callBatch, flags, query, UUID } from './statements';
import type { AcceptedEmail, KeyReservation, PreviousEmail, Queryable, ReserveOutcome } from './types';

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

/**
 * The ledger's idempotency keys (`idempotency_keys`): reserving (alone or with the request's
 * emails), completing, releasing and purging, with the batchers of the first four. The
 * {@link Ledger} facade documents what each answer means to a caller.
 */
export class IdempotencyKeys {
  private readonly reserveBatch: Batcher<ReserveItem, ReserveJson>;
  private readonly reserveRecordBatch: Batcher<ReserveRecordItem, ReserveJson>;
  private readonly completeBatch: Batcher<KeyCompletion, boolean>;
  private readonly releaseBatch: Batcher<KeyReservation, boolean>;

  constructor(
    private readonly db: Queryable,
    shape: BatchShape,
    private readonly hasher?: RecipientHasher,
  ) {
    this.reserveBatch = new Batcher({
      ...shape,
      run: (items) => callBatch(db, 'ledger_reserve_keys', items, reserveJson),
    });
    this.reserveRecordBatch = new Batcher({
      ...shape,
      run: (items) => callBatch(db, 'ledger_reserve_and_record', items, reserveJson),
    });
    this.completeBatch = new Batcher({
      ...shape,
      run: (items) => callBatch(db, 'ledger_complete_keys', items.map(completionItem), (json) => json === true),
    });
    this.releaseBatch = new Batcher({ ...shape, run: (items) => this.runRelease(items) });
  }

  /** Reserves a key (`ledger_reserve_keys`). Batched. */
  async reserve(request: KeyRequest): Promise<ReserveOutcome> {
    if (!IDEMPOTENCY_KEY_PATTERN.test(request.key)) throw new RangeError('an idempotency key is 1-255 printable ASCII');
    const json = await this.reserveBatch.add(reserveItem(request));
    return reserveOutcome(request, json.token ?? '', json, []);
  }

  /** Reserves a key and records `emails` under it in one statement (`ledger_reserve_and_record`). Batched. */
  async reserveAndRecord(request: KeyedRecording, emails: readonly AcceptedEmail[]): Promise<ReserveOutcome> {
    if (!IDEMPOTENCY_KEY_PATTERN.test(request.key)) throw new RangeError('an idempotency key is 1-255 printable ASCII');
    if (!UUID.test(request.token)) throw new RangeError('a reservation token is a UUID');
    const json = await this.reserveRecordBatch.add({
      ...reserveItem(request),
      token: request.token,
      emails: emails.map((e) => acceptedRow(e, this.hasher)),
    });
    return reserveOutcome(
      request,
      request.token,
      json,
      emails.map((e) => e.id),
    );
  }

  /** Stores the answer under a reservation (`ledger_complete_keys`). Batched. */
  complete(completion: KeyCompletion): Promise<boolean> {
    return this.completeBatch.add(completion);
  }

  /** Gives a reservation up: deleted with no emails, opened for a takeover with some. Batched. */
  release(reservation: KeyReservation): Promise<boolean> {
    return this.releaseBatch.add(reservation);
  }

  /** Deletes up to `limit` expired keys; resolves with how many went. */
  async purgeExpired(limit: number): Promise<number> {
    const rows = await query<{ n: number }>(
      this.db,
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

  /** Calls waiting for a batch, all of this part's batchers together. */
  get pending(): number {
    return [this.reserveBatch, this.reserveRecordBatch, this.completeBatch, this.releaseBatch].reduce(
      (sum, b) => sum + b.pending,
      0,
    );
  }

  private async runRelease(items: readonly KeyReservation[]): Promise<boolean[]> {
    const rows = await query<{ i: number }>(
      this.db,
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
    return flags(rows, items.length);
  }
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

interface ReserveJson {
  outcome: 'new' | 'replay' | 'mismatch' | 'in-flight';
  token?: string;
  previous_emails?: PreviousEmail[];
  status?: number;
  body?: unknown;
  email_ids?: string[];
  stale_in_ms?: number;
  /** Per email recorded on "new" (ledger_reserve_and_record, 0008): its suppressed recipients. */
  suppressed?: number[][];
}

const reserveJson = (json: unknown): ReserveJson => json as ReserveJson;

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

/** `ownIds`: the ids of the emails recorded with the reservation (none for a reservation alone). */
function reserveOutcome(
  request: KeyRequest,
  token: string,
  json: ReserveJson,
  ownIds: readonly string[],
): ReserveOutcome {
  switch (json.outcome) {
    case 'new': {
      const previousEmails = json.previous_emails ?? [];
      const ids = previousEmails.length > 0 ? previousEmails.map((p) => p.id) : ownIds;
      return {
        outcome: 'new',
        reservation: { client: request.client, key: request.key, token },
        previousEmails,
        // Only ledger_reserve_and_record records emails (and answers "suppressed").
        recorded:
          json.suppressed === undefined ? [] : ids.map((id, k) => ({ id, suppressed: json.suppressed?.[k] ?? [] })),
      };
    }
    case 'replay':
      return { outcome: 'replay', status: json.status ?? 0, body: json.body, emailIds: json.email_ids ?? [] };
    case 'mismatch':
      return { outcome: 'mismatch' };
    case 'in-flight':
      return { outcome: 'in-flight', staleInMs: json.stale_in_ms ?? 0 };
  }
}
