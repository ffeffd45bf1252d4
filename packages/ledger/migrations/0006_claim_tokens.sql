-- Claims are retry-safe. A claim may commit while its answer is lost (PostgreSQL or the
-- connection went away mid-statement); the consumer, which sent nothing, claims again once the
-- ledger answers. Before this, that second claim found the first still open and answered
-- in-doubt, though nothing had gone out. Each claim now carries a token (a random UUID the
-- consumer makes per claim and keeps for its retry): the open try whose token is the request's
-- is the caller's own, and the answer is "claimed" again, with no second try. A claim without a
-- token, or with another one, is answered as before. Otherwise as in 0003.

ALTER TABLE attempts ADD COLUMN claim_token uuid;

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
      SELECT x.i, x.id, x.attempt, x.provider, x.token
      FROM jsonb_to_recordset(requests) AS x(i integer, id uuid, attempt integer, provider text, token uuid)
    ),
    once AS (
      SELECT req.* FROM req WHERE req.id IN (SELECT q.id FROM req AS q GROUP BY q.id HAVING count(*) = 1)
    ),
    fast AS (
      SELECT o.i, o.id, o.attempt, o.provider, o.token, em.state_rank, em.attempt AS current_attempt
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
      INSERT INTO attempts (email_id, attempt, provider, claim_token)
      SELECT f.id, f.attempt, f.provider, f.token FROM fast AS f ORDER BY f.id
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

  -- Everything else, one request at a time, as in 0002, and a claim made again with its token.
  FOR r IN
    SELECT x.i, x.id, x.attempt, x.provider, x.token
    FROM jsonb_to_recordset(requests) AS x(i integer, id uuid, attempt integer, provider text, token uuid)
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
      IF FOUND AND last.finished_at IS NULL AND last.claim_token = r.token AND last.attempt = r.attempt THEN
        -- This caller's own claim, committed while its answer was lost: still claimed, by it.
        UPDATE attempts SET provider = coalesce(r.provider, provider) WHERE seq = last.seq;
        result := jsonb_build_object('outcome', 'claimed');
      ELSIF FOUND AND last.finished_at IS NULL THEN
        UPDATE attempts SET finished_at = now(), outcome = 'in-doubt', ambiguous = true WHERE seq = last.seq;
        UPDATE emails SET in_doubt = true, updated_at = now() WHERE id = r.id;
        result := jsonb_build_object('outcome', 'in-doubt', 'attempt', last.attempt, 'provider', last.provider,
                                     'started_at', last.started_at);
      ELSE
        INSERT INTO attempts (email_id, attempt, provider, claim_token) VALUES (r.id, r.attempt, r.provider, r.token);
        UPDATE emails SET state = 'sending', attempt = r.attempt, provider = r.provider, updated_at = now()
        WHERE id = r.id AND ledger_advances(e.state_rank, e.attempt, ledger_state_rank('sending'), r.attempt);
        result := jsonb_build_object('outcome', 'claimed');
      END IF;
    END IF;
    RETURN NEXT;
  END LOOP;
END;
$$;
