import { SUPPRESSION_REASONS, type RecipientHasher } from '@mailer/contract';
import { Batcher, type BatchShape } from './batcher';
import { maskedText } from './feedback';
import { hexKeys, query, UUID } from './statements';
import type {
  Queryable,
  SuppressionEntry,
  SuppressionListQuery,
  SuppressionPage,
  SuppressionListReason,
  SuppressionView,
} from './types';

/** Entries on a page of {@link Suppressions.list} when the caller names no limit. */
export const DEFAULT_SUPPRESSION_LIMIT = 50;
/** The most entries on one page. */
export const MAX_SUPPRESSION_LIMIT = 100;
/** The longest note kept. */
export const MAX_NOTE_LENGTH = 500;
const MAX_MASKED_LENGTH = 320;
const MAX_NAME_LENGTH = 200;

/** Thrown by {@link Suppressions.list} for a cursor it did not hand out. */
export class InvalidSuppressionCursorError extends Error {
  override readonly name = 'InvalidSuppressionCursorError';
}

/**
 * The suppression list (`suppressions`, `suppression_history`): one per deployment. Entries are
 * found by a recipient's candidate keys (`RecipientHasher.candidates`), so an entry made under a
 * previous secret still matches; the writes move such an entry to the current key. Only
 * unexpired entries count. The {@link Ledger} facade documents each call.
 */
export class Suppressions {
  private readonly checkBatch: Batcher<readonly string[], boolean>;

  constructor(
    private readonly db: Queryable,
    shape: BatchShape,
    private readonly hasher?: RecipientHasher,
  ) {
    this.checkBatch = new Batcher({ ...shape, run: (items) => this.runCheck(items) });
  }

  /** Per recipient (its candidate keys), whether it is on the list, unexpired. Batched, read-only. */
  async suppressedAmong(candidateLists: readonly (readonly Buffer[])[]): Promise<boolean[]> {
    const lists = candidateLists.map(hexKeys);
    return Promise.all(lists.map((list) => this.checkBatch.add(list)));
  }

  /** Adds entries, one statement; per entry, whether the list changed (false: already on it). */
  async add(entries: readonly SuppressionEntry[]): Promise<boolean[]> {
    if (entries.length === 0) return [];
    const keyId = this.keyId();
    const items = entries.map((e, i) => {
      if (!SUPPRESSION_REASONS.includes(e.reason)) throw new RangeError(`unknown reason ${e.reason}`);
      if (e.expiresAt !== undefined && Number.isNaN(e.expiresAt.getTime())) throw new RangeError('bad expiry');
      const emailId = e.source?.emailId;
      return {
        i,
        hashes: hexKeys(e.hashes),
        masked: maskedText(e.masked, MAX_MASKED_LENGTH),
        reason: e.reason,
        note: e.note === undefined ? null : maskedText(e.note, MAX_NOTE_LENGTH),
        by: maskedText(e.createdBy, MAX_NAME_LENGTH),
        expires_at: e.expiresAt?.toISOString() ?? null,
        source_email_id: emailId !== undefined && UUID.test(emailId) ? emailId : null,
        source_provider: e.source?.provider ?? null,
        source_event_key: e.source?.eventKey ?? null,
      };
    });
    const rows = await query<{ i: number; changed: boolean }>(
      this.db,
      'adding suppressions',
      // In key order, one entry after another (a later one sees an earlier one of the same recipient).
      `SELECT s.i, ledger_add_suppression(s.keys, $2, s.masked, s.reason, s.note, s.by, s.expires_at,
          s.source_email_id, s.source_provider, s.source_event_key) AS changed
       FROM (
         SELECT x.*, ARRAY(SELECT decode(c, 'hex') FROM jsonb_array_elements_text(x.hashes) AS c) AS keys
         FROM jsonb_to_recordset($1::jsonb) AS x(i integer, hashes jsonb, masked text, reason text, note text,
           by text, expires_at timestamptz, source_email_id uuid, source_provider text, source_event_key text)
         ORDER BY x.hashes ->> 0, x.i
         OFFSET 0
       ) AS s`,
      [JSON.stringify(items), keyId],
    );
    const changed = new Array<boolean>(entries.length).fill(false);
    for (const row of rows) changed[row.i] = row.changed;
    return changed;
  }

  /** Removes a recipient's entry (under any of its keys), with a history row; false when it had none. */
  async remove(hashes: readonly Buffer[], note: string | undefined, by: string): Promise<boolean> {
    const keys = hexKeys(hashes);
    const rows = await query<{ n: number }>(
      this.db,
      'removing a suppression',
      `WITH k AS (
        SELECT ARRAY(SELECT decode(c, 'hex') FROM unnest($1::text[]) AS c) AS keys
      ), gone AS (
        DELETE FROM suppressions AS s USING k WHERE s.recipient_hash = ANY (k.keys)
        RETURNING s.masked, s.reason
      ), history AS (
        INSERT INTO suppression_history (recipient_hash, masked, action, reason, note, done_by)
        SELECT k.keys[1], g.masked, 'remove', g.reason, $2, $3 FROM k, (SELECT * FROM gone LIMIT 1) AS g
      ), rekeyed AS (
        -- The recipient's history under earlier keys joins its current key's.
        UPDATE suppression_history AS h SET recipient_hash = k.keys[1] FROM k
        WHERE h.recipient_hash = ANY (k.keys[2:])
      )
      SELECT count(*)::integer AS n FROM gone`,
      [keys, note === undefined ? null : maskedText(note, MAX_NOTE_LENGTH), maskedText(by, MAX_NAME_LENGTH)],
    );
    return (rows[0]?.n ?? 0) > 0;
  }

  /** A recipient's unexpired entry (under any of its keys, the current one first); null when none. */
  async find(hashes: readonly Buffer[]): Promise<SuppressionView | null> {
    const keys = hexKeys(hashes);
    const rows = await query<SuppressionRow>(
      this.db,
      'finding a suppression',
      `SELECT ${viewColumns} FROM suppressions AS s,
        (SELECT ARRAY(SELECT decode(c, 'hex') FROM unnest($1::text[]) AS c) AS keys) AS k
      WHERE s.recipient_hash = ANY (k.keys) AND (s.expires_at IS NULL OR s.expires_at > now())
      ORDER BY array_position(k.keys, s.recipient_hash) LIMIT 1`,
      [keys],
    );
    const row = rows[0];
    return row === undefined ? null : toView(row);
  }

  /**
   * One page of unexpired entries, newest first, by keyset (`created_at`, then the entry's row
   * id: never its key).
   *
   * @throws InvalidSuppressionCursorError for a cursor this list did not give.
   */
  async list(listQuery: SuppressionListQuery): Promise<SuppressionPage> {
    const limit = listQuery.limit ?? DEFAULT_SUPPRESSION_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SUPPRESSION_LIMIT) {
      throw new RangeError(`limit must be a whole number from 1 to ${MAX_SUPPRESSION_LIMIT}`);
    }
    const values: unknown[] = [];
    const where = ['(s.expires_at IS NULL OR s.expires_at > now())'];
    if (listQuery.reason !== undefined) {
      if (!SUPPRESSION_REASONS.includes(listQuery.reason)) throw new RangeError('unknown reason');
      values.push(listQuery.reason);
      where.push(`s.reason = $${values.length}`);
    }
    if (listQuery.cursor !== undefined) {
      const [at, id] = readCursor(listQuery.cursor);
      values.push(at, id);
      where.push(
        `(s.created_at, s.id) < ('epoch'::timestamptz + $${values.length - 1}::bigint * interval '1 microsecond', ` +
          `$${values.length}::bigint)`,
      );
    }
    values.push(limit + 1);
    const rows = await query<SuppressionRow & { cursor_at: string; id: string }>(
      this.db,
      'listing suppressions',
      `SELECT ${viewColumns}, (extract(epoch FROM s.created_at) * 1000000)::bigint::text AS cursor_at, s.id::text AS id
       FROM suppressions AS s WHERE ${where.join(' AND ')}
       ORDER BY s.created_at DESC, s.id DESC LIMIT $${values.length}`,
      values,
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    const items = page.map(toView);
    return rows.length > limit && last !== undefined
      ? { items, nextCursor: Buffer.from(`${last.cursor_at}|${last.id}`, 'utf8').toString('base64url') }
      : { items };
  }

  /** How many entries the list holds, expired ones included: the planner's estimate once it is large. */
  async count(): Promise<number> {
    const rows = await query<{ n: string }>(
      this.db,
      'counting suppressions',
      `SELECT CASE WHEN c.reltuples >= 10000 THEN c.reltuples::bigint
        ELSE (SELECT count(*) FROM suppressions) END::text AS n
      FROM pg_class AS c WHERE c.oid = 'suppressions'::regclass`,
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Calls waiting for a batch. */
  get pending(): number {
    return this.checkBatch.pending;
  }

  private keyId(): string {
    if (this.hasher === undefined) {
      throw new Error('this ledger has no RecipientHasher (RECIPIENT_HASH_SECRET): it cannot add suppressions');
    }
    return this.hasher.keyId;
  }

  private async runCheck(items: readonly (readonly string[])[]): Promise<boolean[]> {
    const rows = await query<{ i: number }>(
      this.db,
      'checking suppressions',
      `SELECT x.i FROM jsonb_to_recordset($1::jsonb) AS x(i integer, hashes jsonb)
       WHERE EXISTS (SELECT 1 FROM suppressions AS s
         WHERE s.recipient_hash = ANY (ARRAY(SELECT decode(c, 'hex') FROM jsonb_array_elements_text(x.hashes) AS c))
           AND (s.expires_at IS NULL OR s.expires_at > now()))`,
      [JSON.stringify(items.map((hashes, i) => ({ i, hashes })))],
    );
    const hit = new Array<boolean>(items.length).fill(false);
    for (const row of rows) hit[row.i] = true;
    return hit;
  }
}

/** A cursor's (microseconds since the epoch, row id), as text. */
function readCursor(cursor: string): [string, string] {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^(-?\d{1,18})\|(\d{1,18})$/.exec(text);
  if (match === null) throw new InvalidSuppressionCursorError('not a cursor this API gave');
  return [match[1] ?? '', match[2] ?? ''];
}

interface SuppressionRow {
  masked: string;
  reason: SuppressionListReason;
  created_at: Date;
  expires_at: Date | null;
  source_email_id: string | null;
  source_provider: string | null;
  source_event_key: string | null;
  note: string | null;
  created_by: string | null;
}

const viewColumns = `s.masked, s.reason, s.created_at, s.expires_at, s.source_email_id, s.source_provider,
  s.source_event_key, s.note, s.created_by`;

function toView(row: SuppressionRow): SuppressionView {
  const source = {
    ...(row.source_email_id === null ? {} : { emailId: row.source_email_id }),
    ...(row.source_provider === null ? {} : { provider: row.source_provider }),
    ...(row.source_event_key === null ? {} : { eventKey: row.source_event_key }),
  };
  return {
    masked: row.masked,
    reason: row.reason,
    createdAt: row.created_at,
    ...(row.expires_at === null ? {} : { expiresAt: row.expires_at }),
    ...(Object.keys(source).length === 0 ? {} : { source }),
    ...(row.note === null ? {} : { note: row.note }),
    ...(row.created_by === null ? {} : { createdBy: row.created_by }),
  };
}
