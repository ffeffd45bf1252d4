import { maskAddressesIn, type RecipientHasher } from '@mailer/contract';
import { acceptedRow, type AcceptedRow } from './accepted-rows';
import { Batcher, type BatchShape } from './batcher';
import type { EmailState } from './states';
import { callBatch, query } from './statements';
import {
  MAX_ERROR_LENGTH,
  type AcceptedEmail,
  type AttemptClaim,
  type ClaimOutcome,
  type FailureReport,
  type KeyReservation,
  type Queryable,
  type RecordedEmail,
  type RecordOutcome,
  type SentReport,
} from './types';

/**
 * An email's life in the ledger (`emails` and `attempts`): recorded as accepted, each try claimed
 * and finished, or forgotten (`discardUnpublished`) or abandoned when it never reached the queue,
 * with the batchers of the first three. The {@link Ledger} facade documents what each answer
 * means to a caller.
 */
export class Deliveries {
  private readonly acceptBatch: Batcher<AcceptCall, RecordedEmail[]>;
  private readonly claimBatch: Batcher<AttemptClaim, ClaimJson>;
  private readonly finishBatch: Batcher<FinishItem, { outcome: RecordOutcome }>;

  constructor(
    private readonly db: Queryable,
    shape: BatchShape,
    private readonly hasher?: RecipientHasher,
  ) {
    this.acceptBatch = new Batcher({ ...shape, run: (items) => this.runAccept(items) });
    this.claimBatch = new Batcher({
      ...shape,
      run: (items) => callBatch(db, 'ledger_claim_attempts', items, claimJson),
    });
    this.finishBatch = new Batcher({
      ...shape,
      run: (items) => callBatch(db, 'ledger_finish_attempts', items, finishJson),
    });
  }

  /**
   * Records accepted emails as `queued` (`suppressed` when every recipient is) and, with a
   * reservation, their ids under its key; resolves with each email's suppressed recipients. Batched.
   */
  async recordAccepted(emails: readonly AcceptedEmail[], reservation?: KeyReservation): Promise<RecordedEmail[]> {
    // Rows are built here, so a bad value fails its own caller rather than the whole batch.
    const rows = emails.map((e) => acceptedRow(e, this.hasher));
    return this.acceptBatch.add({ rows, ...(reservation === undefined ? {} : { reservation }) });
  }

  /** Claims one try (`ledger_claim_attempts`). Batched. */
  async claim(claim: AttemptClaim): Promise<ClaimOutcome> {
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

  /** Finishes a try as sent (`ledger_finish_attempts`). Batched. */
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

  /** Finishes a try as failed, its error masked and cut (`ledger_finish_attempts`). Batched. */
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

  /** Deletes those of `ids` still `queued` at attempt 0 with no try; resolves with how many went. */
  async discardUnpublished(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const rows = await query<{ n: number }>(
      this.db,
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

  /** Moves up to `limit` emails `queued` with no try for over `olderThanMs` to `abandoned`; resolves with how many. */
  async abandonStaleQueued(olderThanMs: number, limit: number): Promise<number> {
    const rows = await query<{ n: number }>(
      this.db,
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

  /** Calls waiting for a batch, all of this part's batchers together. */
  get pending(): number {
    return [this.acceptBatch, this.claimBatch, this.finishBatch].reduce((sum, b) => sum + b.pending, 0);
  }

  private async runAccept(calls: readonly AcceptCall[]): Promise<RecordedEmail[][]> {
    const emails = calls.flatMap((c) => c.rows);
    const keys = calls.flatMap((c) =>
      c.reservation === undefined ? [] : [{ ...c.reservation, email_ids: c.rows.map((e) => e.id) }],
    );
    // One statement (migration 0008): the rows, the suppressed recipients of each, and the keys.
    const rows = await query<{ id: string; suppressed: number[] }>(
      this.db,
      'recording accepted emails',
      'SELECT id, suppressed FROM ledger_record_accepted($1::jsonb, $2::jsonb)',
      [JSON.stringify(emails), JSON.stringify(keys)],
    );
    const found = new Map(rows.map((row) => [row.id, row.suppressed]));
    return calls.map((c) => c.rows.map((e) => ({ id: e.id, suppressed: found.get(e.id) ?? [] })));
  }
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

interface ClaimJson {
  outcome: ClaimOutcome['outcome'];
  provider?: string | null;
  provider_message_id?: string | null;
  state?: EmailState;
  attempt?: number;
  started_at?: string;
}

const claimJson = (json: unknown): ClaimJson => json as ClaimJson;
const finishJson = (json: unknown): { outcome: RecordOutcome } => json as { outcome: RecordOutcome };
