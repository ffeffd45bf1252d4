-- Finishing a try is idempotent: the same report again (same attempt, provider, outcome, provider
-- message id and error), when no try is open for it, is recorded already and adds no second try.
-- A consumer retries a report whose commit may have happened while the answer was lost (the
-- connection or PostgreSQL went away mid-statement); before this, the retry added a second "sent"
-- try to an email sent once. The answers are as in 0003.

-- As in 0003: each request closes the newest open (or in-doubt) try of its attempt and provider,
-- or adds a finished one when there is none, then moves the email to "state" unless it is already
-- past it. Per request: "advanced", "stale" or "unknown".
CREATE OR REPLACE FUNCTION ledger_finish_attempts(requests jsonb) RETURNS TABLE (i integer, result jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  e emails%ROWTYPE;
  open_seq bigint;
  moved boolean;
  done integer[];
  ids uuid[];
  answers jsonb;
BEGIN
  -- A few requests go faster through the loop alone: the set-based statement costs more to start.
  IF jsonb_array_length(requests) < 8 THEN
    done := '{}';
  ELSE
    -- Every lookup below goes through this array (= ANY uses the primary key, whatever the planner
    -- guesses of a jsonb function's rows), so a batch never scans the tables.
    SELECT array_agg(DISTINCT x.id ORDER BY x.id) INTO ids FROM jsonb_to_recordset(requests) AS x(id uuid);
    PERFORM 1 FROM emails AS em WHERE em.id = ANY (ids) ORDER BY em.id FOR UPDATE;

    -- Every request whose email is known and named once in the batch, set-based.
    WITH req AS (
      SELECT x.*
      FROM jsonb_to_recordset(requests) AS x(i integer, id uuid, attempt integer, provider text, outcome text,
        provider_message_id text, error text, ambiguous boolean, state text)
    ),
    fast AS (
      SELECT o.*,
        (SELECT a.seq FROM attempts AS a
         -- A claim that named no provider is finished by the report that names one.
         WHERE a.email_id = o.id AND a.attempt = o.attempt
           AND (a.provider IS NOT DISTINCT FROM o.provider OR a.provider IS NULL)
           AND (a.finished_at IS NULL OR a.outcome = 'in-doubt')
         ORDER BY a.seq DESC LIMIT 1) AS open_seq,
        -- The same report again (a retry after its commit's answer was lost): recorded already.
        EXISTS (SELECT 1 FROM attempts AS a
          WHERE a.email_id = o.id AND a.attempt = o.attempt AND a.finished_at IS NOT NULL
            AND a.provider IS NOT DISTINCT FROM o.provider AND a.outcome = o.outcome
            AND a.provider_message_id IS NOT DISTINCT FROM o.provider_message_id
            AND a.error IS NOT DISTINCT FROM o.error) AS repeated,
        o.state IS NOT NULL AND ledger_advances(em.state_rank, em.attempt, ledger_state_rank(o.state), o.attempt)
          AS advances
      FROM req AS o JOIN emails AS em ON em.id = o.id AND em.id = ANY (ids)
      WHERE o.id IN (SELECT q.id FROM req AS q GROUP BY q.id HAVING count(*) = 1)
    ),
    closed AS (
      -- A try closed as in-doubt that reports after all keeps its ambiguous mark.
      UPDATE attempts AS a
      SET finished_at = now(), outcome = f.outcome, provider = coalesce(f.provider, a.provider),
          provider_message_id = f.provider_message_id, error = f.error, ambiguous = a.ambiguous OR f.ambiguous
      FROM fast AS f WHERE a.email_id = ANY (ids) AND a.email_id = f.id AND a.seq = f.open_seq
    ),
    added AS (
      INSERT INTO attempts (email_id, attempt, provider, finished_at, outcome, provider_message_id, error, ambiguous)
      SELECT f.id, f.attempt, f.provider, now(), f.outcome, f.provider_message_id, f.error, f.ambiguous
      FROM fast AS f WHERE f.open_seq IS NULL AND NOT f.repeated ORDER BY f.id
    ),
    moved_on AS (
      UPDATE emails AS em
      SET state = f.state, attempt = f.attempt, provider = coalesce(f.provider, em.provider),
          provider_message_id = coalesce(f.provider_message_id, em.provider_message_id), updated_at = now()
      FROM fast AS f WHERE em.id = ANY (ids) AND em.id = f.id AND f.advances
    )
    SELECT coalesce(array_agg(f.i), '{}'),
      coalesce(jsonb_agg(jsonb_build_array(f.i, CASE WHEN f.state IS NULL OR f.advances THEN 'advanced' ELSE 'stale' END)), '[]')
    INTO done, answers FROM fast AS f;

    RETURN QUERY SELECT (a ->> 0)::integer, jsonb_build_object('outcome', a ->> 1) FROM jsonb_array_elements(answers) AS a;
  END IF;

  -- The rest (an email named twice in the batch, or unknown), one request at a time, as in 0002.
  FOR r IN
    SELECT x.*
    FROM jsonb_to_recordset(requests) AS x(i integer, id uuid, attempt integer, provider text, outcome text,
      provider_message_id text, error text, ambiguous boolean, state text)
    WHERE x.i <> ALL (done)
    ORDER BY x.id, x.i
  LOOP
    i := r.i;
    SELECT * INTO e FROM emails WHERE id = r.id FOR UPDATE;
    IF NOT FOUND THEN
      result := jsonb_build_object('outcome', 'unknown');
      RETURN NEXT;
      CONTINUE;
    END IF;
    SELECT a.seq INTO open_seq FROM attempts AS a
    WHERE a.email_id = r.id AND a.attempt = r.attempt
      AND (a.provider IS NOT DISTINCT FROM r.provider OR a.provider IS NULL)
      AND (a.finished_at IS NULL OR a.outcome = 'in-doubt')
    ORDER BY a.seq DESC LIMIT 1;
    IF open_seq IS NULL THEN
      -- The same report again (a retry after its commit's answer was lost) is recorded already.
      IF NOT EXISTS (SELECT 1 FROM attempts AS a
        WHERE a.email_id = r.id AND a.attempt = r.attempt AND a.finished_at IS NOT NULL
          AND a.provider IS NOT DISTINCT FROM r.provider AND a.outcome = r.outcome
          AND a.provider_message_id IS NOT DISTINCT FROM r.provider_message_id
          AND a.error IS NOT DISTINCT FROM r.error) THEN
        INSERT INTO attempts (email_id, attempt, provider, finished_at, outcome, provider_message_id, error, ambiguous)
        VALUES (r.id, r.attempt, r.provider, now(), r.outcome, r.provider_message_id, r.error, r.ambiguous);
      END IF;
    ELSE
      UPDATE attempts
      SET finished_at = now(), outcome = r.outcome, provider = coalesce(r.provider, provider),
          provider_message_id = r.provider_message_id, error = r.error, ambiguous = ambiguous OR r.ambiguous
      WHERE seq = open_seq;
    END IF;
    moved := false;
    IF r.state IS NULL THEN
      moved := true;
    ELSIF ledger_advances(e.state_rank, e.attempt, ledger_state_rank(r.state), r.attempt) THEN
      UPDATE emails
      SET state = r.state, attempt = r.attempt, provider = coalesce(r.provider, provider),
          provider_message_id = coalesce(r.provider_message_id, provider_message_id), updated_at = now()
      WHERE id = r.id;
      moved := true;
    END IF;
    result := jsonb_build_object('outcome', CASE WHEN moved THEN 'advanced' ELSE 'stale' END);
    RETURN NEXT;
  END LOOP;
END;
$$;
