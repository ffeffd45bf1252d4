-- Keyed intake, set-based (docs/benchmarks.md, issue 14): ledger_reserve_and_record (0008) took
-- each request's key in a PL/pgSQL loop, one INSERT per request and answers built by jsonb
-- concatenation; on a batch of fresh keys that cost about 75 us of PostgreSQL CPU per request,
-- four times the record itself. Now fresh keys are taken by one INSERT ... ON CONFLICT DO NOTHING
-- for the whole batch, in (client, key) order as before; only the requests whose key exists (a
-- retry, a takeover, a mismatch, the same key twice in one batch) go through the loop, which is
-- 0008's unchanged. The answers are the same as 0008's for every case.
CREATE OR REPLACE FUNCTION ledger_reserve_and_record(requests jsonb) RETURNS TABLE (i integer, result jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  k idempotency_keys%ROWTYPE;
  previous jsonb;
  -- Requests whose own rows are recorded, and the rows of takeovers under the earlier ids.
  own integer[];
  taken jsonb := '[]'::jsonb;
  -- Per request answered "new": its answer and the ids its emails are recorded under, in order.
  answers jsonb;
  -- Every request's answer, given once the emails are recorded (a "new" one names their suppressed recipients).
  held jsonb;
  recorded jsonb;
BEGIN
  -- Fresh keys, all at once. A key given twice in the batch is inserted for its first request;
  -- the second conflicts and is answered by the loop (in flight), as 0008 answered it.
  WITH x AS (
    SELECT x.i, x.client, x.key, x.request_hash, x.ttl_ms, x.token,
      ARRAY(SELECT (e ->> 'id')::uuid FROM jsonb_array_elements(x.emails) AS e) AS fresh
    FROM jsonb_to_recordset(requests)
      AS x(i integer, client text, key text, request_hash text, ttl_ms bigint, token uuid, emails jsonb)
  ), ins AS (
    INSERT INTO idempotency_keys (client, key, request_hash, state, owner, email_ids, expires_at)
    SELECT x.client, x.key, x.request_hash, 'in-flight', x.token, x.fresh, now() + x.ttl_ms * interval '1 millisecond'
    FROM x ORDER BY x.client, x.key, x.i
    ON CONFLICT DO NOTHING
    RETURNING idempotency_keys.client, idempotency_keys.key, idempotency_keys.owner
  )
  SELECT coalesce(array_agg(x.i ORDER BY x.i), '{}'),
    coalesce(jsonb_agg(jsonb_build_object('i', x.i, 'ids', to_jsonb(x.fresh))), '[]'::jsonb),
    coalesce(jsonb_agg(jsonb_build_object('i', x.i,
      'result', jsonb_build_object('outcome', 'new', 'previous_emails', '[]'::jsonb))), '[]'::jsonb)
  INTO own, answers, held
  FROM x JOIN ins ON ins.client = x.client AND ins.key = x.key AND ins.owner = x.token;

  FOR r IN
    SELECT x.i, x.client, x.key, x.request_hash, x.ttl_ms, x.stale_ms, x.token, x.emails,
      ARRAY(SELECT (e ->> 'id')::uuid FROM jsonb_array_elements(x.emails) AS e) AS fresh
    FROM jsonb_to_recordset(requests)
      AS x(i integer, client text, key text, request_hash text, ttl_ms bigint, stale_ms bigint, token uuid, emails jsonb)
    WHERE NOT (x.i = ANY (own))
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
        answers := answers || jsonb_build_object('i', r.i, 'ids', to_jsonb(r.fresh));
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
        answers := answers || jsonb_build_object('i', r.i, 'ids', to_jsonb(r.fresh));
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
          answers := answers || jsonb_build_object('i', r.i, 'ids', to_jsonb(k.email_ids));
        ELSE
          previous := '[]'::jsonb;
          own := own || r.i;
          UPDATE idempotency_keys AS ik SET owner = r.token, locked_at = now(), email_ids = r.fresh
          WHERE ik.client = r.client AND ik.key = r.key;
          answers := answers || jsonb_build_object('i', r.i, 'ids', to_jsonb(r.fresh));
        END IF;
        result := jsonb_build_object('outcome', 'new', 'previous_emails', previous);
      ELSE
        result := jsonb_build_object('outcome', 'in-flight', 'stale_in_ms',
          greatest(0, ceil(extract(epoch FROM (k.locked_at + r.stale_ms * interval '1 millisecond' - now())) * 1000)));
      END IF;
      EXIT;
    END LOOP;
    held := held || jsonb_build_object('i', r.i, 'result', result);
  END LOOP;

  -- As the producer's own record of accepted emails: ids already recorded are left as they are.
  SELECT coalesce(jsonb_object_agg(a.id::text, to_jsonb(a.suppressed)), '{}'::jsonb) INTO recorded
  FROM ledger_insert_accepted((
    SELECT coalesce(jsonb_agg(e.item), '[]'::jsonb) FROM (
      SELECT em.item FROM jsonb_to_recordset(requests) AS x(i integer, emails jsonb)
      CROSS JOIN LATERAL jsonb_array_elements(x.emails) AS em(item)
      WHERE x.i = ANY (own)
      UNION ALL
      SELECT t.item FROM jsonb_array_elements(taken) AS t(item)
    ) AS e
  )) AS a;

  -- Each answer joined to its ids by request number (a hash join; 0008 scanned the answers once
  -- per request).
  RETURN QUERY
  SELECT h.i, CASE WHEN s.ids IS NULL THEN h.result
    ELSE h.result || jsonb_build_object('suppressed',
      (SELECT coalesce(jsonb_agg(coalesce(recorded -> p.id, '[]'::jsonb) ORDER BY p.n), '[]'::jsonb)
       FROM jsonb_array_elements_text(s.ids) WITH ORDINALITY AS p(id, n)))
    END
  FROM jsonb_to_recordset(held) AS h(i integer, result jsonb)
  LEFT JOIN jsonb_to_recordset(answers) AS s(i integer, ids jsonb) ON s.i = h.i;
END;
$$;
