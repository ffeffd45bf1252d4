-- The transactional outbox (docs/events.md): one row per lifecycle event, written by triggers in
-- the transaction of the state change it tells of, so nothing outside the ledger's transaction
-- decides that an event happened. The relay (the consumer) publishes unpublished rows to the
-- events exchange and sets published_at after the broker's confirm; published rows are pruned.
--
-- The ledger writes in batches (0002-0008), so the triggers are statement-level with transition
-- tables: one INSERT ... SELECT per statement, not one per row. Rows are narrow: tags, metadata
-- and recipients never change on emails and are joined when the relay reads.
--
-- A session with mailer.events = off (the pool's connections with EVENTS=off) writes no events.

CREATE TABLE outbox (
  -- The event's "sequence": increases with each event of one email (rows of one email are written
  -- under its row lock, so their order is their commit order).
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The event's id: the same on every publish, what consumers dedupe on.
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  type text NOT NULL,
  -- No foreign key: a published event outlives nothing it names, and an email's row may go
  -- (discarded after a failed publish) while its events wait to be pruned.
  email_id uuid NOT NULL,
  client text NOT NULL,
  occurred_at timestamptz NOT NULL,
  -- The email's summary state after the change.
  state text NOT NULL,
  attempt integer NOT NULL,
  -- Per-recipient events: the recipient, masked. NULL on per-email events.
  recipient text,
  provider text,
  provider_message_id text,
  reason text,
  bounce jsonb,
  published_at timestamptz
);

-- What the relays read, oldest first; in steady state a handful of rows.
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
-- One client's events from a time on (OutboxStore.eventsOf, `mailer webhooks replay`).
CREATE INDEX outbox_by_client ON outbox (client, occurred_at, seq);
-- Pruning, oldest published first.
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Whether this session writes events (EVENTS=off sets mailer.events = off on the pool's connections).
CREATE FUNCTION ledger_events_on() RETURNS boolean
LANGUAGE sql STABLE
RETURN current_setting('mailer.events', true) IS DISTINCT FROM 'off';

-- A recipient outcome's bounce details, on the events that carry them.
CREATE FUNCTION ledger_event_bounce(outcome text, kind text, ptype text, psubtype text, diagnostic text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN outcome IN ('bounced', 'delivery_delayed')
  THEN jsonb_build_object('kind', kind, 'type', ptype, 'subtype', psubtype, 'diagnostic', diagnostic) END;

-- The email's state once the statement that changed a recipient's outcome is done: feedback moves
-- the email to its summary in a later statement of the same transaction (0008), as computed here.
CREATE FUNCTION ledger_event_state(email uuid, state text, state_rank smallint, attempt integer, outcome text)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  summary text;
BEGIN
  -- At intake and at send the email's own row is already where the statement leaves it.
  IF outcome = 'suppressed' THEN
    RETURN state;
  END IF;
  summary := ledger_email_summary(email);
  IF summary <> 'sent' AND ledger_advances(state_rank, attempt, ledger_state_rank(summary), attempt) THEN
    RETURN summary;
  END IF;
  RETURN state;
END;
$$;

-- emails INSERT: email.queued, or email.suppressed when every recipient was on the list.
CREATE FUNCTION ledger_outbox_emails_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  at timestamptz := clock_timestamp();
BEGIN
  IF ledger_events_on() THEN
    INSERT INTO outbox (type, email_id, client, occurred_at, state, attempt, provider, provider_message_id)
    SELECT CASE WHEN n.state = 'suppressed' THEN 'email.suppressed' ELSE 'email.queued' END, n.id, n.client, at,
      n.state, n.attempt, n.provider, n.provider_message_id
    FROM new_rows AS n ORDER BY n.id;
    IF FOUND THEN
      PERFORM pg_notify('mailer_outbox', '');
    END IF;
  END IF;
  RETURN NULL;
END;
$$;

-- emails UPDATE: a move to retrying, parked, sent, abandoned or suppressed (a new state, or the
-- same one at a later attempt), and in_doubt turning true. Not "sending" (the consumer's claim),
-- nor the moves to delivered/bounced/complained: those come per recipient.
CREATE FUNCTION ledger_outbox_emails_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  at timestamptz := clock_timestamp();
BEGIN
  IF ledger_events_on() THEN
    INSERT INTO outbox (type, email_id, client, occurred_at, state, attempt, provider, provider_message_id, reason)
    SELECT e.type, e.id, e.client, at, e.state, e.attempt, e.provider, e.provider_message_id, e.reason
    FROM (
      SELECT 0 AS k, 'email.in_doubt' AS type, n.id, n.client, n.state, n.attempt, n.provider, n.provider_message_id,
        'unfinished-attempt' AS reason
      FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
      WHERE n.in_doubt AND NOT o.in_doubt
      UNION ALL
      SELECT 1, 'email.' || n.state, n.id, n.client, n.state, n.attempt, n.provider, n.provider_message_id,
        -- Why it is retrying or parked: the failure class of the attempt's last finished try.
        CASE WHEN n.state IN ('retrying', 'parked') THEN (
          SELECT a.outcome FROM attempts AS a
          WHERE a.email_id = n.id AND a.attempt = n.attempt AND a.finished_at IS NOT NULL
          ORDER BY a.seq DESC LIMIT 1) END
      FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
      WHERE n.state IN ('retrying', 'parked', 'sent', 'abandoned', 'suppressed')
        AND (n.state <> o.state OR n.attempt <> o.attempt)
    ) AS e
    ORDER BY e.id, e.k;
    IF FOUND THEN
      PERFORM pg_notify('mailer_outbox', '');
    END IF;
  END IF;
  RETURN NULL;
END;
$$;

-- emails DELETE (an email discarded after its publish failed, docs/ledger.md): its events not
-- yet published never happened.
CREATE FUNCTION ledger_outbox_emails_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM outbox AS x
  WHERE x.published_at IS NULL AND x.email_id IN (SELECT o.id FROM old_rows AS o);
  RETURN NULL;
END;
$$;

-- recipient_outcomes INSERT: a recipient's first outcome, per recipient.
CREATE FUNCTION ledger_outbox_outcomes_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  at timestamptz := clock_timestamp();
BEGIN
  IF ledger_events_on() THEN
    INSERT INTO outbox (type, email_id, client, occurred_at, state, attempt, recipient, provider, provider_message_id,
      bounce)
    SELECT 'email.' || n.outcome, n.email_id, em.client, at,
      ledger_event_state(em.id, em.state, em.state_rank, em.attempt, n.outcome), em.attempt, n.masked,
      coalesce(n.provider, em.provider), em.provider_message_id,
      ledger_event_bounce(n.outcome, n.bounce_kind, n.provider_type, n.provider_subtype, n.diagnostic)
    FROM new_rows AS n JOIN emails AS em ON em.id = n.email_id
    ORDER BY n.email_id, n.recipient_hash;
    IF FOUND THEN
      PERFORM pg_notify('mailer_outbox', '');
    END IF;
  END IF;
  RETURN NULL;
END;
$$;

-- recipient_outcomes UPDATE: a recipient's outcome moved on (or a soft bounce became hard).
CREATE FUNCTION ledger_outbox_outcomes_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  at timestamptz := clock_timestamp();
BEGIN
  IF ledger_events_on() THEN
    INSERT INTO outbox (type, email_id, client, occurred_at, state, attempt, recipient, provider, provider_message_id,
      bounce)
    SELECT 'email.' || n.outcome, n.email_id, em.client, at,
      ledger_event_state(em.id, em.state, em.state_rank, em.attempt, n.outcome), em.attempt, n.masked,
      coalesce(n.provider, em.provider), em.provider_message_id,
      ledger_event_bounce(n.outcome, n.bounce_kind, n.provider_type, n.provider_subtype, n.diagnostic)
    FROM new_rows AS n
    JOIN old_rows AS o ON o.email_id = n.email_id AND o.recipient_hash = n.recipient_hash
    JOIN emails AS em ON em.id = n.email_id
    WHERE n.outcome <> o.outcome
      OR (n.outcome = 'bounced' AND n.bounce_kind IS DISTINCT FROM o.bounce_kind)
    ORDER BY n.email_id, n.recipient_hash;
    IF FOUND THEN
      PERFORM pg_notify('mailer_outbox', '');
    END IF;
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_emails_inserted AFTER INSERT ON emails
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_outbox_emails_inserted();
CREATE TRIGGER outbox_emails_updated AFTER UPDATE ON emails
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_outbox_emails_updated();
CREATE TRIGGER outbox_emails_deleted AFTER DELETE ON emails
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_outbox_emails_deleted();
CREATE TRIGGER outbox_outcomes_inserted AFTER INSERT ON recipient_outcomes
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_outbox_outcomes_inserted();
CREATE TRIGGER outbox_outcomes_updated AFTER UPDATE ON recipient_outcomes
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_outbox_outcomes_updated();
