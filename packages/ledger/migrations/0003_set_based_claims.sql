-- The consumer's two batch functions, with the same answers as in 0002 but the common case done
-- set-based: one INSERT and one UPDATE for every request of a batch that takes that path, instead
-- of one loop turn (four statements) per request. The loop of 0002 stays for the rest: a request
-- whose email another request of the same batch also names, and the rare answers (claim: unknown,
-- already-sent, superseded, in-doubt; finish: unknown).
--
-- Locking is as before: every requested email row is locked in id order first, so two batches
-- never lock the same rows in opposite orders. The set-based statement runs after the lock, in a
-- statement of its own, so it reads what was committed before the lock was granted; tries are
-- only written by these functions, under that lock, so they cannot change meanwhile.

CREATE OR REPLACE FUNCTION ledger_claim_attempts(requests jsonb) RETURNS TABLE (i integer, result jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  e emails%ROWTYPE;
  last attempts%ROWTYPE;
  claimed integer[];
  ids uuid[];
BEGIN
  -- A few requests go faster through the loop alone: the set-based statement costs more to start.
  IF jsonb_array_length(requests) < 8 THEN
    claimed := '{}';
  ELSE
    -- Every lookup below goes through this array (= ANY uses the primary key, whatever the planner
    -- guesses of a jsonb function's rows), so a batch never scans the tables.
    SELECT array_agg(DISTINCT x.id ORDER BY x.id) INTO ids FROM jsonb_to_recordset(requests) AS x(id uuid);
    PERFORM 1 FROM emails AS em WHERE em.id = ANY (ids) ORDER BY em.id FOR UPDATE;

    -- The common case: the email is known, not sent, this attempt is not behind it, and its last
    -- try (if any) is finished. Claim: a new open try, the email to "sending" if that advances it.
    WITH req AS (
      SELECT x.i, x.id, x.attempt, x.provider
      FROM jsonb_to_recordset(requests) AS x(i integer, id uuid, attempt integer, provider text)
    ),
    once AS (
      SELECT req.* FROM req WHERE req.id IN (SELECT q.id FROM req AS q GROUP BY q.id HAVING count(*) = 1)
    ),
    fast AS (
      SELECT o.i, o.id, o.attempt, o.provider, em.state_rank, em.attempt AS current_attempt
      FROM once AS o JOIN emails AS em ON em.id = o.id AND em.id = ANY (ids)
      WHERE em.state_rank < 10
        AND NOT (em.attempt > o.attempt OR (em.attempt = o.attempt AND em.state_rank >= ledger_state_rank('retrying')))
        AND NOT EXISTS (
          SELECT 1 FROM attempts AS a
          WHERE a.email_id = o.id AND a.finished_at IS NULL
            AND a.seq = (SELECT max(b.seq) FROM attempts AS b WHERE b.email_id = o.id)
        )
    ),
    inserted AS (
      INSERT INTO attempts (email_id, attempt, provider)
      SELECT f.id, f.attempt, f.provider FROM fast AS f ORDER BY f.id
    ),
    moved AS (
      UPDATE emails AS em SET state = 'sending', attempt = f.attempt, provider = f.provider, updated_at = now()
      FROM fast AS f
      WHERE em.id = f.id AND em.id = ANY (ids)
        AND ledger_advances(f.state_rank, f.current_attempt, ledger_state_rank('sending'), f.attempt)
    )
    SELECT coalesce(array_agg(f.i), '{}') INTO claimed FROM fast AS f;

    RETURN QUERY SELECT c, jsonb_build_object('outcome', 'claimed') FROM unnest(claimed) AS c;
  END IF;

  -- Everything else, one request at a time, as in 0002.
  FOR r IN
    SELECT x.i, x.id, x.attempt, x.provider
    FROM jsonb_to_recordset(requests) AS x(i integer, id uuid, attempt integer, provider text)
    WHERE x.i <> ALL (claimed)
    ORDER BY x.id, x.i
  LOOP
    i := r.i;
    SELECT * INTO e FROM emails WHERE id = r.id FOR UPDATE;
    IF NOT FOUND THEN
      result := jsonb_build_object('outcome', 'unknown');
    ELSIF e.state_rank >= 10 THEN
      result := jsonb_build_object('outcome', 'already-sent', 'provider', e.provider,
                                   'provider_message_id', e.provider_message_id);
    ELSIF e.attempt > r.attempt OR (e.attempt = r.attempt AND e.state_rank >= ledger_state_rank('retrying')) THEN
      result := jsonb_build_object('outcome', 'superseded', 'state', e.state, 'attempt', e.attempt);
    ELSE
      SELECT * INTO last FROM attempts WHERE email_id = r.id ORDER BY seq DESC LIMIT 1;
      IF FOUND AND last.finished_at IS NULL THEN
        UPDATE attempts SET finished_at = now(), outcome = 'in-doubt', ambiguous = true WHERE seq = last.seq;
        UPDATE emails SET in_doubt = true, updated_at = now() WHERE id = r.id;
        result := jsonb_build_object('outcome', 'in-doubt', 'attempt', last.attempt, 'provider', last.provider,
                                     'started_at', last.started_at);
      ELSE
        INSERT INTO attempts (email_id, attempt, provider) VALUES (r.id, r.attempt, r.provider);
        UPDATE emails SET state = 'sending', attempt = r.attempt, provider = r.provider, updated_at = now()
        WHERE id = r.id AND ledger_advances(e.state_rank, e.attempt, ledger_state_rank('sending'), r.attempt);
        result := jsonb_build_object('outcome', 'claimed');
      END IF;
    END IF;
    RETURN NEXT;
  END LOOP;
END;
$$;

-- As in 0002: each request closes the newest open (or in-doubt) try of its attempt and provider,
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
      FROM fast AS f WHERE f.open_seq IS NULL ORDER BY f.id
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
      INSERT INTO attempts (email_id, attempt, provider, finished_at, outcome, provider_message_id, error, ambiguous)
      VALUES (r.id, r.attempt, r.provider, now(), r.outcome, r.provider_message_id, r.error, r.ambiguous);
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
