-- An email discarded after its publish failed (the producer's 503, docs/ledger.md) took its
-- unpublished events with it (0009). One the relay had already published (email.queued, within
-- the milliseconds between the record and the failed publish) cannot be taken back: the email is
-- now given a last event, email.abandoned with reason "publish-failed", so no receiver is left
-- with an email that was queued and never moved again.
CREATE OR REPLACE FUNCTION ledger_outbox_emails_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  at timestamptz := clock_timestamp();
BEGIN
  DELETE FROM outbox AS x
  WHERE x.published_at IS NULL AND x.email_id IN (SELECT o.id FROM old_rows AS o);
  -- A new statement, so a new snapshot: it sees rows a relay published while the delete above
  -- waited for its lock. Found through the client's index, from the email's acceptance on.
  IF ledger_events_on() THEN
    INSERT INTO outbox (type, email_id, client, occurred_at, state, attempt, reason)
    SELECT 'email.abandoned', o.id, o.client, at, 'abandoned', o.attempt, 'publish-failed'
    FROM old_rows AS o
    WHERE EXISTS (
      SELECT 1 FROM outbox AS x
      WHERE x.client = o.client AND x.occurred_at >= o.accepted_at - interval '1 minute' AND x.email_id = o.id
    )
    ORDER BY o.id;
    IF FOUND THEN
      PERFORM ledger_outbox_notify();
    END IF;
  END IF;
  RETURN NULL;
END;
$$;
