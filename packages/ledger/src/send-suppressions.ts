import { maskedText } from './feedback';
import { hexKeys, query, UUID } from './statements';
import type { Suppressions } from './suppressions';
import type { Queryable, RecordOutcome, SuppressedAtSendReport } from './types';

const MAX_MASKED_LENGTH = 320;

/**
 * The consumer's record of recipients it did not send to (`Ledger.recordSuppressedAtSend`): a
 * small call of its own beside the migrations' functions, one statement over `emails` and
 * `recipient_outcomes` after the list entries are added. Not batched: it runs only for the rare
 * email with a suppressed or refused recipient.
 */
export class SendSuppressions {
  constructor(
    private readonly db: Queryable,
    private readonly suppressions: Suppressions,
  ) {}

  /**
   * Adds `entries` to the list, then, while the email has not been sent (its state is below
   * `sent`), gives each of `recipients` the outcome `suppressed` (forward only, under the key the
   * email recorded it with) and, with `emailSuppressed`, moves the email to `suppressed` at
   * `attempt` unless it is past that. Answers `unknown` for an email the ledger does not have,
   * `stale` when the email was sent before or already past it, else `advanced`. Running it again
   * changes nothing more.
   */
  async record(report: SuppressedAtSendReport): Promise<RecordOutcome> {
    if (!UUID.test(report.id)) throw new RangeError('an email id is a UUID');
    if (!Number.isInteger(report.attempt) || report.attempt < 1) throw new RangeError('an attempt is from 1');
    const recipients = report.recipients.map((r) => ({
      hashes: hexKeys(r.hashes),
      masked: maskedText(r.masked, MAX_MASKED_LENGTH),
    }));
    if (report.entries.length > 0) await this.suppressions.add(report.entries);
    const rows = await query<{ known: boolean; moved: boolean; sent: boolean }>(
      this.db,
      'recording suppressed recipients',
      `WITH e AS (
        SELECT em.id, em.recipient_hashes, em.state_rank, em.attempt FROM emails AS em WHERE em.id = $1 FOR UPDATE
      ), r AS (
        SELECT DISTINCT ON (k.hash) k.hash, k.masked FROM (
          SELECT x.masked, coalesce(
            -- The key the email recorded this recipient under (maybe an earlier secret's); else the current one.
            (SELECT c.h FROM unnest(x.candidates) WITH ORDINALITY AS c(h, n), e
             WHERE e.recipient_hashes IS NOT NULL AND c.h = ANY (e.recipient_hashes) ORDER BY c.n LIMIT 1),
            x.candidates[1]) AS hash
          FROM (
            SELECT y.masked, ARRAY(SELECT decode(c, 'hex') FROM jsonb_array_elements_text(y.hashes) AS c) AS candidates
            FROM jsonb_to_recordset($2::jsonb) AS y(hashes jsonb, masked text)
          ) AS x
        ) AS k ORDER BY k.hash
      ), outcomes AS (
        INSERT INTO recipient_outcomes AS o (email_id, recipient_hash, masked, outcome)
        SELECT e.id, r.hash, r.masked, 'suppressed' FROM e, r WHERE e.state_rank < 10
        ON CONFLICT (email_id, recipient_hash) DO UPDATE
        SET outcome = excluded.outcome, bounce_kind = NULL, provider_type = NULL, provider_subtype = NULL,
            diagnostic = NULL, provider = NULL, provider_event_key = NULL, occurred_at = now(), updated_at = now()
        WHERE excluded.outcome_rank > o.outcome_rank
      ), moved AS (
        UPDATE emails AS em SET state = 'suppressed', attempt = $3, updated_at = now() FROM e
        WHERE em.id = e.id AND $4::boolean
          AND ledger_advances(e.state_rank, e.attempt, ledger_state_rank('suppressed'), $3::integer)
        RETURNING 1
      )
      SELECT EXISTS (SELECT 1 FROM e) AS known, EXISTS (SELECT 1 FROM moved) AS moved,
        coalesce((SELECT e.state_rank >= 10 FROM e), false) AS sent`,
      [report.id, JSON.stringify(recipients), report.attempt, report.emailSuppressed],
    );
    const row = rows[0];
    if (row === undefined || !row.known) return 'unknown';
    if (row.sent) return 'stale';
    return !report.emailSuppressed || row.moved ? 'advanced' : 'stale';
  }
}
