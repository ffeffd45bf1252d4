-- Keyed intake: a request with an Idempotency-Key waited for three commits one after the other,
-- each a flush of the WAL to disk (reserve the key, record the emails, store the answer); the
-- flushes, not the work in the statements, were its cost (see docs/benchmarks.md). Now two, and
-- the second does not wait for its flush.

-- Reserving the key and recording the emails in one statement. The answers are
-- ledger_reserve_keys' (0002), with two changes:
-- - the reservation's token is the caller's ("token"), so a caller whose answer was lost can still
--   release what it may hold;
-- - on "new" the request's emails ("emails", rows as the producer records them) are recorded as
--   queued and their ids stored under the key, in the same transaction. A stale reservation taken
--   over whose holder recorded as many emails keeps that holder's ids: the rows are recorded again
--   under them (those still there are left as they are) and "previous_emails" names them with
--   their states; otherwise "previous_emails" is empty and the caller's own ids are used.
-- Keys are locked in (client, key) order, then the emails inserted in id order, as elsewhere.
CREATE FUNCTION ledger_reserve_and_record(requests jsonb) RETURNS TABLE (i integer, result jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  k idempotency_keys%ROWTYPE;
  previous jsonb;
  -- Requests whose own rows are recorded, and the rows of takeovers under the earlier ids.
  own integer[] := '{}';
  taken jsonb := '[]'::jsonb;
BEGIN
  FOR r IN
    SELECT x.i, x.client, x.key, x.request_hash, x.ttl_ms, x.stale_ms, x.token, x.emails,
      ARRAY(SELECT (e ->> 'id')::uuid FROM jsonb_array_elements(x.emails) AS e) AS fresh
    FROM jsonb_to_recordset(requests)
      AS x(i integer, client text, key text, request_hash text, ttl_ms bigint, stale_ms bigint, token uuid, emails jsonb)
    ORDER BY x.client, x.key, x.i
  LOOP
    i := r.i;
    LOOP
      INSERT INTO idempotency_keys (client, key, request_hash, state, owner, email_ids, expires_at)
      VALUES (r.client, r.key, r.request_hash, 'in-flight', r.token, r.fresh, now() + r.ttl_ms * interval '1 millisecond')
      ON CONFLICT DO NOTHING;
      IF FOUND THEN
        own := own || r.i;
        result := jsonb_build_object('outcome', 'new', 'previous_emails', '[]'::jsonb);
        EXIT;
      END IF;
      -- A fresh snapshot: sees the row that conflicted even if its transaction began after ours.
      SELECT * INTO k FROM idempotency_keys AS ik WHERE ik.client = r.client AND ik.key = r.key FOR UPDATE;
      CONTINUE WHEN NOT FOUND; -- released meanwhile: insert again
      IF k.expires_at <= now() THEN
        UPDATE idempotency_keys AS ik
        SET request_hash = r.request_hash, state = 'in-flight', owner = r.token, email_ids = r.fresh,
            response_status = NULL, response_body = NULL, created_at = now(), locked_at = now(),
            expires_at = now() + r.ttl_ms * interval '1 millisecond'
        WHERE ik.client = r.client AND ik.key = r.key;
        own := own || r.i;
        result := jsonb_build_object('outcome', 'new', 'previous_emails', '[]'::jsonb);
      ELSIF k.request_hash <> r.request_hash THEN
        result := jsonb_build_object('outcome', 'mismatch');
      ELSIF k.state = 'done' THEN
        result := jsonb_build_object('outcome', 'replay', 'status', k.response_status, 'body', k.response_body,
                                     'email_ids', to_jsonb(k.email_ids));
      ELSIF k.locked_at <= now() - r.stale_ms * interval '1 millisecond' THEN
        IF cardinality(k.email_ids) = cardinality(r.fresh) AND cardinality(r.fresh) > 0 THEN
          -- With their states: one past queued was published for sure and need not be again.
          SELECT jsonb_agg(jsonb_build_object('id', p.id, 'state', em.state) ORDER BY p.n) INTO previous
          FROM unnest(k.email_ids) WITH ORDINALITY AS p(id, n) LEFT JOIN emails AS em ON em.id = p.id;
          -- The same body gives the same emails in the same order: each row under its earlier id.
          taken := taken || (
            SELECT jsonb_agg(e.item || jsonb_build_object('id', p.id) ORDER BY p.n)
            FROM unnest(k.email_ids) WITH ORDINALITY AS p(id, n)
            JOIN jsonb_array_elements(r.emails) WITH ORDINALITY AS e(item, n) ON e.n = p.n
          );
          UPDATE idempotency_keys AS ik SET owner = r.token, locked_at = now()
          WHERE ik.client = r.client AND ik.key = r.key;
        ELSE
          previous := '[]'::jsonb;
          own := own || r.i;
          UPDATE idempotency_keys AS ik SET owner = r.token, locked_at = now(), email_ids = r.fresh
          WHERE ik.client = r.client AND ik.key = r.key;
        END IF;
        result := jsonb_build_object('outcome', 'new', 'previous_emails', previous);
      ELSE
        result := jsonb_build_object('outcome', 'in-flight', 'stale_in_ms',
          greatest(0, ceil(extract(epoch FROM (k.locked_at + r.stale_ms * interval '1 millisecond' - now())) * 1000)));
      END IF;
      EXIT;
    END LOOP;
    RETURN NEXT;
  END LOOP;

  -- As the producer's own insert of accepted emails: ids already recorded are left as they are.
  INSERT INTO emails (id, client, accepted_at, recipient_count, recipients, tags, metadata)
  SELECT e.id, e.client, e.accepted_at, e.recipient_count, ARRAY(SELECT jsonb_array_elements_text(e.recipients)),
    e.tags, e.metadata
  FROM (
    SELECT em.* FROM jsonb_to_recordset(requests) AS x(i integer, emails jsonb)
    CROSS JOIN LATERAL jsonb_to_recordset(x.emails) AS em(id uuid, client text, accepted_at timestamptz,
      recipient_count integer, recipients jsonb, tags jsonb, metadata jsonb)
    WHERE x.i = ANY (own)
    UNION ALL
    SELECT t.* FROM jsonb_to_recordset(taken) AS t(id uuid, client text, accepted_at timestamptz,
      recipient_count integer, recipients jsonb, tags jsonb, metadata jsonb)
  ) AS e
  ORDER BY e.id
  ON CONFLICT (id) DO NOTHING;
END;
$$;

-- Stores the answers of keyed requests (state "done"), as the producer's statement before it did,
-- with one difference: the commit does not wait for the WAL to reach disk (synchronous_commit off,
-- for this transaction only). The answer is stored after the broker confirmed the emails, which
-- were recorded by a durable commit before they were published: this write only turns a later
-- retry into a replay. Waiting for its flush was a third disk flush on the path of every keyed
-- request (about a third of its time, see docs/benchmarks.md). The row is visible to every other
-- transaction at once; only a PostgreSQL crash in the next fraction of a second (until the WAL
-- writer, or any other commit, flushes it) loses it, and the key is then as if its producer had
-- died before answering: in flight, then taken over with the same ids (docs/ledger.md).
-- Per request: true when the reservation was still the caller's.
CREATE FUNCTION ledger_complete_keys(requests jsonb) RETURNS TABLE (i integer, result jsonb)
LANGUAGE plpgsql AS $$
BEGIN
  -- Local to the transaction (the statement's own), and read when it commits.
  PERFORM set_config('synchronous_commit', 'off', true);
  RETURN QUERY
  WITH done AS (
    UPDATE idempotency_keys AS ik
    SET state = 'done', response_status = x.status, response_body = x.body, locked_at = now()
    FROM jsonb_to_recordset(requests) AS x(i integer, client text, key text, token uuid, status smallint, body jsonb)
    WHERE ik.client = x.client AND ik.key = x.key AND ik.owner = x.token
    RETURNING x.i
  )
  SELECT x.i, to_jsonb(d.i IS NOT NULL)
  FROM jsonb_to_recordset(requests) AS x(i integer) LEFT JOIN done AS d ON d.i = x.i;
END;
$$;
