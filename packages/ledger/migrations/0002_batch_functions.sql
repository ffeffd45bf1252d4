-- Set-based entry points: each takes a JSON array of requests (each with its index "i") and
-- returns one JSON result per index, so one statement serves a whole batch of callers. Rows are
-- locked in id order (then request order) whatever order the callers came in, so two batches
-- never lock the same rows in opposite orders.

-- Idempotency keys. Per request: "new" (reserved; previous_emails, each id with its state, when
-- a stale reservation was taken over), "replay" (the first response), "mismatch" (another body),
-- or "in-flight".
CREATE FUNCTION ledger_reserve_keys(requests jsonb) RETURNS TABLE (i integer, result jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  k idempotency_keys%ROWTYPE;
  token uuid;
BEGIN
  FOR r IN
    SELECT x.i, x.client, x.key, x.request_hash, x.ttl_ms, x.stale_ms
    FROM jsonb_to_recordset(requests)
      AS x(i integer, client text, key text, request_hash text, ttl_ms bigint, stale_ms bigint)
    ORDER BY x.client, x.key, x.i
  LOOP
    i := r.i;
    token := gen_random_uuid();
    LOOP
      INSERT INTO idempotency_keys (client, key, request_hash, state, owner, expires_at)
      VALUES (r.client, r.key, r.request_hash, 'in-flight', token, now() + r.ttl_ms * interval '1 millisecond')
      ON CONFLICT DO NOTHING;
      IF FOUND THEN
        result := jsonb_build_object('outcome', 'new', 'token', token, 'previous_emails', '[]'::jsonb);
        EXIT;
      END IF;
      -- A fresh snapshot: sees the row that conflicted even if its transaction began after ours.
      SELECT * INTO k FROM idempotency_keys AS ik WHERE ik.client = r.client AND ik.key = r.key FOR UPDATE;
      CONTINUE WHEN NOT FOUND; -- released meanwhile: insert again
      IF k.expires_at <= now() THEN
        UPDATE idempotency_keys AS ik
        SET request_hash = r.request_hash, state = 'in-flight', owner = token, email_ids = '{}',
            response_status = NULL, response_body = NULL, created_at = now(), locked_at = now(),
            expires_at = now() + r.ttl_ms * interval '1 millisecond'
        WHERE ik.client = r.client AND ik.key = r.key;
        result := jsonb_build_object('outcome', 'new', 'token', token, 'previous_emails', '[]'::jsonb);
      ELSIF k.request_hash <> r.request_hash THEN
        result := jsonb_build_object('outcome', 'mismatch');
      ELSIF k.state = 'done' THEN
        result := jsonb_build_object('outcome', 'replay', 'status', k.response_status, 'body', k.response_body,
                                     'email_ids', to_jsonb(k.email_ids));
      ELSIF k.locked_at <= now() - r.stale_ms * interval '1 millisecond' THEN
        UPDATE idempotency_keys AS ik SET owner = token, locked_at = now()
        WHERE ik.client = r.client AND ik.key = r.key;
        -- With their states: one past queued was published for sure and need not be again.
        result := jsonb_build_object('outcome', 'new', 'token', token, 'previous_emails', coalesce((
          SELECT jsonb_agg(jsonb_build_object('id', p.id, 'state', e.state) ORDER BY p.n)
          FROM unnest(k.email_ids) WITH ORDINALITY AS p(id, n) LEFT JOIN emails AS e ON e.id = p.id
        ), '[]'::jsonb));
      ELSE
        result := jsonb_build_object('outcome', 'in-flight', 'stale_in_ms',
          greatest(0, ceil(extract(epoch FROM (k.locked_at + r.stale_ms * interval '1 millisecond' - now())) * 1000)));
      END IF;
      EXIT;
    END LOOP;
    RETURN NEXT;
  END LOOP;
END;
$$;

-- Claims. Per request: "claimed", "already-sent", "superseded" (this attempt already ended in a
-- retry or a park: a redelivered copy), "in-doubt" (the last try was claimed and never finished;
-- it is closed as ambiguous and nothing is claimed) or "unknown" (no such email).
CREATE FUNCTION ledger_claim_attempts(requests jsonb) RETURNS TABLE (i integer, result jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  e emails%ROWTYPE;
  last attempts%ROWTYPE;
BEGIN
  FOR r IN
    SELECT x.i, x.id, x.attempt, x.provider
    FROM jsonb_to_recordset(requests) AS x(i integer, id uuid, attempt integer, provider text)
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

-- Finishes tries. Each request closes the newest open (or in-doubt) try of its attempt and
-- provider, or adds a finished one when there is none, then moves the email to "state" unless
-- it is already past it. Per request: "advanced", "stale" (the email was already past it: the
-- try is recorded, the state kept) or "unknown".
CREATE FUNCTION ledger_finish_attempts(requests jsonb) RETURNS TABLE (i integer, result jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  e emails%ROWTYPE;
  open_seq bigint;
  moved boolean;
BEGIN
  FOR r IN
    SELECT x.*
    FROM jsonb_to_recordset(requests) AS x(i integer, id uuid, attempt integer, provider text, outcome text,
      provider_message_id text, error text, ambiguous boolean, state text)
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
    -- A claim that named no provider is finished by the report that names one.
    WHERE a.email_id = r.id AND a.attempt = r.attempt
      AND (a.provider IS NOT DISTINCT FROM r.provider OR a.provider IS NULL)
      AND (a.finished_at IS NULL OR a.outcome = 'in-doubt')
    ORDER BY a.seq DESC LIMIT 1;
    IF open_seq IS NULL THEN
      INSERT INTO attempts (email_id, attempt, provider, finished_at, outcome, provider_message_id, error, ambiguous)
      VALUES (r.id, r.attempt, r.provider, now(), r.outcome, r.provider_message_id, r.error, r.ambiguous);
    ELSE
      -- A try closed as in-doubt that reports after all keeps its ambiguous mark.
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
