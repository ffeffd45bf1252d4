import { UUID, query } from './statements';
import { DELIVERED_RANK, STATE_RANK, type EmailState } from './states';
import {
  DEFAULT_LIST_LIMIT,
  MAX_LIST_LIMIT,
  type AttemptRecord,
  type EmailPage,
  type EmailRecord,
  type EmailSummary,
  type ListQuery,
  type Queryable,
  type RecipientRecord,
} from './types';

/** Thrown by {@link Ledger.listEmails} for a cursor it did not hand out (or for another client). */
export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
}

/**
 * The ledger's reads of one client's emails: one, a page, or just the attempt reached. They go
 * one by one, never batched. The {@link Ledger} facade documents what each answer means.
 */
export class EmailReads {
  constructor(private readonly db: Queryable) {}

  /**
   * One of `client`'s emails with every try and each recipient's outcome; null for an unknown id
   * or another client's email.
   */
  async getEmail(client: string, id: string): Promise<EmailRecord | null> {
    if (!UUID.test(id)) return null;
    const rows = await query<EmailRow & { attempts: AttemptJson[]; outcomes: OutcomeJson[] }>(
      this.db,
      'reading an email',
      `SELECT ${summaryColumns},
        coalesce((SELECT jsonb_agg(jsonb_build_object('attempt', a.attempt, 'provider', a.provider,
            'started_at', a.started_at, 'finished_at', a.finished_at, 'outcome', a.outcome, 'error', a.error,
            'ambiguous', a.ambiguous, 'provider_message_id', a.provider_message_id) ORDER BY a.seq)
          FROM attempts a WHERE a.email_id = e.id), '[]'::jsonb) AS attempts,
        -- In the recipients' order; rows from before migration 0008 have no keys and no outcomes.
        coalesce((SELECT jsonb_agg(jsonb_build_object('address', r.masked, 'outcome', o.outcome,
            'bounce_kind', o.bounce_kind, 'provider_type', o.provider_type, 'provider_subtype', o.provider_subtype,
            'diagnostic', o.diagnostic, 'updated_at', o.updated_at) ORDER BY r.n)
          FROM unnest(e.recipients, e.recipient_hashes) WITH ORDINALITY AS r(masked, hash, n)
          LEFT JOIN recipient_outcomes o ON o.email_id = e.id AND o.recipient_hash = r.hash), '[]'::jsonb) AS outcomes
      FROM emails e WHERE e.id = $1 AND e.client = $2`,
      [id, client],
    );
    const row = rows[0];
    return row === undefined
      ? null
      : {
          ...toSummary(row),
          attempts: row.attempts.map(toAttempt),
          recipientOutcomes: row.outcomes.map((o) => toRecipient(o, row.state)),
        };
  }

  /** The attempt reached by one of `client`'s emails (0 before the first); `undefined` for none. */
  async attemptOf(client: string, id: string): Promise<number | undefined> {
    if (!UUID.test(id)) return undefined;
    const rows = await query<{ attempt: number }>(
      this.db,
      "reading an email's attempt",
      'SELECT attempt FROM emails WHERE id = $1 AND client = $2',
      [id, client],
    );
    return rows[0]?.attempt;
  }

  /**
   * One page of `client`'s emails, newest first, by keyset.
   *
   * @throws InvalidCursorError for a cursor that is not one of this client's.
   */
  async listEmails(client: string, listQuery: ListQuery): Promise<EmailPage> {
    const limit = listQuery.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new RangeError(`limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`);
    }
    const values: unknown[] = [client];
    const where = ['e.client = $1'];
    if (listQuery.status !== undefined) {
      values.push(listQuery.status);
      where.push(`e.state = $${values.length}`);
    }
    if (listQuery.since !== undefined) {
      values.push(listQuery.since);
      where.push(`e.accepted_at >= $${values.length}`);
    }
    if (listQuery.inDoubt !== undefined) {
      values.push(listQuery.inDoubt);
      where.push(`e.in_doubt = $${values.length}`);
    }
    if (listQuery.cursor !== undefined) {
      const after = Buffer.from(listQuery.cursor, 'base64url').toString('utf8');
      if (!UUID.test(after)) throw new InvalidCursorError('not a cursor this API gave');
      values.push(after);
      const c = `$${values.length}`;
      const found = await query(this.db, 'reading a cursor', 'SELECT 1 FROM emails WHERE id = $1 AND client = $2', [
        after,
        client,
      ]);
      if (found.length === 0) throw new InvalidCursorError('not a cursor this API gave');
      where.push(`(e.accepted_at, e.id) < (SELECT c.accepted_at, c.id FROM emails c WHERE c.id = ${c})`);
    }
    values.push(limit + 1);
    const rows = await query<EmailRow>(
      this.db,
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

interface OutcomeJson {
  address: string;
  outcome: RecipientRecord['status'] | null;
  bounce_kind: 'hard' | 'soft' | 'undetermined' | null;
  provider_type: string | null;
  provider_subtype: string | null;
  diagnostic: string | null;
  updated_at: string | null;
}

/**
 * A recipient's record: its outcome, or with none the email's state until it was sent and `sent`
 * after (a summary such as `bounced` is another recipient's outcome, not this one's).
 */
function toRecipient(o: OutcomeJson, state: EmailState): RecipientRecord {
  if (o.outcome === null) {
    return { address: o.address, status: STATE_RANK[state] >= DELIVERED_RANK ? 'sent' : state };
  }
  return {
    address: o.address,
    status: o.outcome,
    ...(o.outcome === 'bounced'
      ? {
          bounce: {
            kind: o.bounce_kind,
            type: o.provider_type,
            subtype: o.provider_subtype,
            diagnostic: o.diagnostic,
          },
        }
      : {}),
    ...(o.updated_at === null ? {} : { updatedAt: new Date(o.updated_at) }),
  };
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
