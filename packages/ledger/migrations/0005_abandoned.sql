-- "abandoned": an email recorded as queued whose request was answered 503 (or never answered)
-- and never published as far as anyone can tell: still queued with no try, long after any publish
-- could have been confirmed. The producer moves such rows here after QUEUED_ABANDON_AFTER, so no
-- email shows "queued" for ever. It ranks below every state a claim leads to at a later attempt,
-- so an email that was in fact on the queue all along moves on when a consumer claims it.
ALTER TABLE emails DROP CONSTRAINT emails_state_check;
ALTER TABLE emails ADD CONSTRAINT emails_state_check
  CHECK (state IN ('queued', 'sending', 'retrying', 'parked', 'suppressed', 'abandoned', 'sent', 'bounced'));

-- No row holds "abandoned" yet, so no stored state_rank changes with the function.
CREATE OR REPLACE FUNCTION ledger_state_rank(state text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE state
  WHEN 'queued' THEN 0
  WHEN 'sending' THEN 1
  WHEN 'retrying' THEN 2
  WHEN 'parked' THEN 3
  WHEN 'suppressed' THEN 4
  WHEN 'abandoned' THEN 5
  WHEN 'sent' THEN 10
  WHEN 'bounced' THEN 11
END;

-- The sweep looks only at queued rows, oldest first; in steady state they are few.
CREATE INDEX emails_queued ON emails (accepted_at) WHERE state = 'queued';
