-- Reserving idempotency keys, with the same answers as in 0002 but the common case (a key not
-- seen before) done set-based for a batch of 8 or more, as 0003 did for the consumer's functions:
-- one INSERT ... ON CONFLICT DO NOTHING for every key the batch names once, in key order. A key
-- that already exists (a replay, a mismatch, one in flight or stale, an expired one), or that the
-- batch names twice, goes through the loop of 0002.

CREATE OR REPLACE FUNCTION ledger_reserve_keys(requests jsonb) RETURNS TABLE (i integer, result jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  k idempotency_keys%ROWTYPE;
  token uuid;
  reserved integer[] := '{}';
  answers jsonb;
BEGIN
  -- The common case, a key not seen before, set-based for a batch of 8 or more: one INSERT for
  -- every key named once in the batch, in key order; a key that exists goes through the loop.
  IF jsonb_array_length(requests) >= 8 THEN
    WITH req AS (
      SELECT x.i, x.client, x.key, x.request_hash, x.ttl_ms
      FROM jsonb_to_recordset(requests) AS x(i integer, client text, key text, request_hash text, ttl_ms bigint)
    ),
    once AS (
      SELECT req.*, gen_random_uuid() AS token FROM req
      WHERE (req.client, req.key) IN (SELECT q.client, q.key FROM req AS q GROUP BY q.client, q.key HAVING count(*) = 1)
    ),
    inserted AS (
      INSERT INTO idempotency_keys (client, key, request_hash, state, owner, expires_at)
      SELECT o.client, o.key, o.request_hash, 'in-flight', o.token, now() + o.ttl_ms * interval '1 millisecond'
      FROM once AS o ORDER BY o.client, o.key
      ON CONFLICT DO NOTHING
      RETURNING client, key, owner
    )
    SELECT coalesce(array_agg(o.i), '{}'), coalesce(jsonb_agg(jsonb_build_array(o.i, o.token)), '[]')
    INTO reserved, answers
    FROM once AS o JOIN inserted AS n ON n.client = o.client AND n.key = o.key AND n.owner = o.token;

    RETURN QUERY
      SELECT (a ->> 0)::integer,
        jsonb_build_object('outcome', 'new', 'token', (a ->> 1)::uuid, 'previous_emails', '[]'::jsonb)
      FROM jsonb_array_elements(answers) AS a;
  END IF;

  -- Everything else, one request at a time, as in 0002.
  FOR r IN
    SELECT x.i, x.client, x.key, x.request_hash, x.ttl_ms, x.stale_ms
    FROM jsonb_to_recordset(requests)
      AS x(i integer, client text, key text, request_hash text, ttl_ms bigint, stale_ms bigint)
    WHERE x.i <> ALL (reserved)
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
