-- Delivery feedback: what providers report per recipient after they took an email (delivered,
-- bounced, complained), a suppression list (one per deployment), and intake that names the
-- suppressed recipients of each email. The ledger still holds no full address: a recipient is
-- keyed by HMAC-SHA256 of its normalized address under a server secret (RECIPIENT_HASH_SECRET,
-- @mailer/contract's RecipientHasher), beside its masked form. See docs/ledger.md.

-- Email states: "delivered" and "complained" join. An email's state after it was sent is the
-- summary of its recipients (ledger_email_summary below): any complained -> complained, else any
-- bounced -> bounced, else every recipient delivered -> delivered, else sent. Per recipient an
-- outcome never moves back, so the summary never does either and ledger_advances keeps holding.
-- "bounced" was reserved at rank 11 and no row holds it yet (nothing wrote it before this
-- migration), so no stored state_rank changes with the function. The TypeScript twins are
-- src/states.ts and @mailer/contract's email-state.ts; all three change together.
ALTER TABLE emails DROP CONSTRAINT emails_state_check;
ALTER TABLE emails ADD CONSTRAINT emails_state_check
  CHECK (state IN ('queued', 'sending', 'retrying', 'parked', 'suppressed', 'abandoned', 'sent', 'delivered',
                   'bounced', 'complained'));

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
  WHEN 'delivered' THEN 11
  WHEN 'bounced' THEN 12
  WHEN 'complained' THEN 13
END;

-- Each recipient's key under the current secret when the email was recorded, in the order of
-- "recipients" (to, cc, bcc). NULL on rows recorded before this migration or without a secret.
ALTER TABLE emails ADD COLUMN recipient_hashes bytea[];

-- Events name the provider's message id when they do not carry ours.
CREATE INDEX emails_by_provider_message_id ON emails (provider_message_id) WHERE provider_message_id IS NOT NULL;

-- A recipient's outcomes in the order they may follow one another; a later report never moves a
-- recipient back (a Delivery after a Bounce leaves it bounced; a Bounce after a Delivery wins).
-- "suppressed" (dropped at intake, never sent) ranks last: nothing can come after it.
CREATE FUNCTION ledger_outcome_rank(outcome text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE outcome
  WHEN 'delivery_delayed' THEN 1
  WHEN 'delivered' THEN 2
  WHEN 'bounced' THEN 3
  WHEN 'complained' THEN 4
  WHEN 'suppressed' THEN 5
END;

CREATE TABLE recipient_outcomes (
  email_id uuid NOT NULL REFERENCES emails (id) ON DELETE CASCADE,
  recipient_hash bytea NOT NULL,
  -- Masked (j***@example.com), as emails.recipients.
  masked text NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('delivery_delayed', 'delivered', 'bounced', 'complained', 'suppressed')),
  outcome_rank smallint GENERATED ALWAYS AS (ledger_outcome_rank(outcome)) STORED,
  bounce_kind text CHECK (bounce_kind IN ('hard', 'soft', 'undetermined')),
  provider_type text,
  provider_subtype text,
  -- The provider's diagnostic, addresses masked, at most 500 characters.
  diagnostic text CHECK (length(diagnostic) <= 500),
  provider text,
  provider_event_key text,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (email_id, recipient_hash)
);

-- The suppression list: one per deployment (the sending reputation is shared by every client).
CREATE TABLE suppressions (
  -- The recipient's key; key_id names the secret it was made with (RecipientHasher.keyId), so an
  -- old secret can be dropped once no entry holds its id.
  recipient_hash bytea PRIMARY KEY,
  -- What a page's cursor names instead of the key (the API never shows a key).
  id bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  key_id text NOT NULL,
  masked text NOT NULL,
  reason text NOT NULL CHECK (reason IN ('hard-bounce', 'complaint', 'recipient-rejected', 'unsubscribed', 'manual')),
  -- Where the entry came from first; a later report for a listed recipient keeps these.
  source_email_id uuid,
  source_provider text,
  source_event_key text,
  note text,
  -- An API key's name, or 'provider' for entries from provider events.
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- NULL: until removed. A recipient whose entry expired is not suppressed.
  expires_at timestamptz
);

-- Keyset paging, newest first, with and without a reason filter; and the per-secret count.
CREATE INDEX suppressions_by_created ON suppressions (created_at DESC, id DESC);
CREATE INDEX suppressions_by_reason ON suppressions (reason, created_at DESC, id DESC);
CREATE INDEX suppressions_by_key_id ON suppressions (key_id);

-- Every add and remove, kept when the entry goes.
CREATE TABLE suppression_history (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  recipient_hash bytea NOT NULL,
  masked text NOT NULL,
  action text NOT NULL CHECK (action IN ('add', 'remove')),
  reason text,
  note text,
  -- An API key's name, or 'provider'.
  done_by text,
  source_email_id uuid,
  source_provider text,
  source_event_key text,
  at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX suppression_history_by_recipient ON suppression_history (recipient_hash, seq);

-- Provider events applied, for dedupe (a retried SNS message or webhook is applied once); pruned
-- after the retention the caller gives (Ledger.pruneProviderEvents).
CREATE TABLE provider_events (
  provider text NOT NULL,
  event_key text NOT NULL,
  email_id uuid,
  received_at timestamptz NOT NULL DEFAULT now(),
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, event_key)
);

CREATE INDEX provider_events_by_received ON provider_events (received_at);

-- Moves a suppression entry found under an earlier key (old_hash) to the current one, with its
-- history; an entry already under the current key wins and the old one is dropped. Called when a
-- lookup that writes anyway (an event, an add, a remove) matched under an earlier secret.
CREATE FUNCTION ledger_rekey_suppression(old_hash bytea, new_hash bytea, new_key_id text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF old_hash = new_hash THEN
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM suppressions WHERE recipient_hash = new_hash) THEN
    DELETE FROM suppressions WHERE recipient_hash = old_hash;
  ELSE
    UPDATE suppressions SET recipient_hash = new_hash, key_id = new_key_id WHERE recipient_hash = old_hash;
  END IF;
  UPDATE suppression_history SET recipient_hash = new_hash WHERE recipient_hash = old_hash;
END;
$$;

-- Records accepted emails (rows as the producer records them, with "recipient_keys": per
-- recipient, its candidate keys as hex, current first; absent without a secret) as queued, and
-- answers per email (by id) which recipients, as positions from 0 in "recipients", are on the
-- suppression list under any candidate. An email whose every recipient is suppressed is recorded
-- "suppressed" (it is never queued); each suppressed recipient gets a "suppressed" outcome. Ids
-- already recorded are left as they are (a takeover records the same ids again); the answer is
-- given for them too, from the list as it is now. Rows are inserted in id order, as elsewhere.
CREATE FUNCTION ledger_insert_accepted(rows jsonb)
RETURNS TABLE (id uuid, suppressed integer[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH x AS (
    SELECT r.id, r.client, r.accepted_at, r.recipient_count,
      ARRAY(SELECT jsonb_array_elements_text(r.recipients)) AS recipients, r.tags, r.metadata,
      r.recipient_keys
    FROM jsonb_to_recordset(rows) AS r(id uuid, client text, accepted_at timestamptz, recipient_count integer,
      recipients jsonb, tags jsonb, metadata jsonb, recipient_keys jsonb)
  ), k AS (
    -- Each recipient's candidates, and its position in the recipients.
    SELECT x.id, (rk.n - 1)::integer AS pos, rk.n,
      ARRAY(SELECT decode(c, 'hex') FROM jsonb_array_elements_text(rk.keys) AS c) AS candidates
    FROM x CROSS JOIN LATERAL jsonb_array_elements(x.recipient_keys) WITH ORDINALITY AS rk(keys, n)
    WHERE jsonb_typeof(x.recipient_keys) = 'array'
  ), hit AS (
    -- On the list, unexpired, under any candidate key (one index probe per candidate).
    SELECT k.id, k.pos, k.candidates[1] AS hash FROM k
    WHERE EXISTS (SELECT 1 FROM suppressions AS s
      WHERE s.recipient_hash = ANY (k.candidates) AND (s.expires_at IS NULL OR s.expires_at > now()))
  ), per AS (
    SELECT x.*,
      ARRAY(SELECT k.candidates[1] FROM k WHERE k.id = x.id ORDER BY k.n) AS hashes,
      ARRAY(SELECT h.pos FROM hit AS h WHERE h.id = x.id ORDER BY h.pos) AS hits
    FROM x
  ), ins AS (
    INSERT INTO emails (id, client, state, accepted_at, recipient_count, recipients, recipient_hashes, tags, metadata)
    SELECT p.id, p.client,
      CASE WHEN p.recipient_count > 0 AND cardinality(p.hits) >= p.recipient_count THEN 'suppressed' ELSE 'queued' END,
      p.accepted_at, p.recipient_count, p.recipients,
      CASE WHEN jsonb_typeof(p.recipient_keys) = 'array' THEN p.hashes END, p.tags, p.metadata
    FROM per AS p ORDER BY p.id
    ON CONFLICT ON CONSTRAINT emails_pkey DO NOTHING
    RETURNING emails.id
  ), outcomes AS (
    INSERT INTO recipient_outcomes (email_id, recipient_hash, masked, outcome)
    SELECT DISTINCT ON (h.id, h.hash) h.id, h.hash, p.recipients[h.pos + 1], 'suppressed'
    FROM hit AS h JOIN per AS p ON p.id = h.id
    WHERE EXISTS (SELECT 1 FROM ins WHERE ins.id = h.id)
    ORDER BY h.id, h.hash, h.pos
    ON CONFLICT DO NOTHING
  )
  -- A data-modifying WITH runs to completion whether or not the answer reads it.
  SELECT p.id, p.hits FROM per AS p;
END;
$$;

-- The producer's record of accepted emails without a key (it was one statement in
-- src/deliveries.ts): the emails ("emails", ledger_insert_accepted's rows) and, for requests
-- holding a reservation, their ids under the key ("keys"). Answers per email its suppressed
-- recipients.
CREATE FUNCTION ledger_record_accepted(emails jsonb, keys jsonb)
RETURNS TABLE (id uuid, suppressed integer[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY SELECT a.id, a.suppressed FROM ledger_insert_accepted(emails) AS a;
  UPDATE idempotency_keys AS ik
  SET email_ids = ARRAY(SELECT jsonb_array_elements_text(x.email_ids)::uuid)
  FROM jsonb_to_recordset(keys) AS x(client text, key text, token uuid, email_ids jsonb)
  WHERE ik.client = x.client AND ik.key = x.key AND ik.owner = x.token;
END;
$$;

-- ledger_reserve_and_record (0007) again, recording through ledger_insert_accepted: each "new"
-- answer also names, per email of the request (in its order), the suppressed recipients
-- ("suppressed": one array of positions per email). The return type is the same; the body is
-- replaced.
CREATE OR REPLACE FUNCTION ledger_reserve_and_record(requests jsonb) RETURNS TABLE (i integer, result jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  k idempotency_keys%ROWTYPE;
  previous jsonb;
  -- Requests whose own rows are recorded, and the rows of takeovers under the earlier ids.
  own integer[] := '{}';
  taken jsonb := '[]'::jsonb;
  -- Per request answered "new": its answer and the ids its emails are recorded under, in order.
  answers jsonb := '[]'::jsonb;
  -- Every request's answer, given once the emails are recorded (a "new" one names their suppressed recipients).
  held jsonb := '[]'::jsonb;
  recorded jsonb;
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

  RETURN QUERY
  SELECT (a.item ->> 'i')::integer, CASE WHEN s.ids IS NULL THEN a.item -> 'result'
    ELSE (a.item -> 'result') || jsonb_build_object('suppressed',
      (SELECT coalesce(jsonb_agg(coalesce(recorded -> p.id, '[]'::jsonb) ORDER BY p.n), '[]'::jsonb)
       FROM jsonb_array_elements_text(s.ids) WITH ORDINALITY AS p(id, n)))
    END
  FROM jsonb_array_elements(held) AS a(item)
  LEFT JOIN LATERAL (
    SELECT x -> 'ids' AS ids FROM jsonb_array_elements(answers) AS x WHERE x -> 'i' = a.item -> 'i'
  ) AS s ON true;
END;
$$;

-- An email's summary of its recipients' outcomes: complained if any recipient complained, else
-- bounced if any bounced, else delivered when every recipient not suppressed at intake was
-- delivered, else sent. Rows recorded before this migration (no recipient_hashes) count
-- recipient_count recipients.
CREATE FUNCTION ledger_email_summary(email uuid) RETURNS text
LANGUAGE sql STABLE AS $$
  WITH e AS (
    SELECT em.recipient_hashes, em.recipient_count FROM emails AS em WHERE em.id = email
  ), o AS (
    SELECT ro.recipient_hash, ro.outcome FROM recipient_outcomes AS ro WHERE ro.email_id = email
  ), expected AS (
    SELECT CASE WHEN e.recipient_hashes IS NULL THEN e.recipient_count
      ELSE (SELECT count(DISTINCT h) FROM unnest(e.recipient_hashes) AS h
            WHERE NOT EXISTS (SELECT 1 FROM o WHERE o.recipient_hash = h AND o.outcome = 'suppressed'))
      END AS n
    FROM e
  )
  SELECT CASE
    WHEN EXISTS (SELECT 1 FROM o WHERE o.outcome = 'complained') THEN 'complained'
    WHEN EXISTS (SELECT 1 FROM o WHERE o.outcome = 'bounced') THEN 'bounced'
    WHEN (SELECT n FROM expected) > 0
      AND (SELECT count(*) FROM o WHERE o.outcome = 'delivered') >= (SELECT n FROM expected) THEN 'delivered'
    ELSE 'sent'
  END
$$;

-- Adds (or renews) one suppression entry for a recipient known by its candidate keys (current
-- first). An entry found under an earlier key is moved to the current one first. An unexpired
-- entry keeps its reason and first source; its expiry only ever grows (NULL: never). An expired
-- one is replaced. A history row is written when the list changed. Answers whether it did.
CREATE FUNCTION ledger_add_suppression(
  candidates bytea[], p_key_id text, p_masked text, p_reason text, p_note text, p_by text, p_expires timestamptz,
  p_source_email uuid, p_source_provider text, p_source_event text
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  found_hash bytea;
  s suppressions%ROWTYPE;
  changed boolean := false;
BEGIN
  SELECT recipient_hash INTO found_hash FROM suppressions
  WHERE recipient_hash = ANY (candidates) ORDER BY array_position(candidates, recipient_hash) LIMIT 1;
  IF found_hash IS NOT NULL AND found_hash <> candidates[1] THEN
    PERFORM ledger_rekey_suppression(found_hash, candidates[1], p_key_id);
  END IF;
  INSERT INTO suppressions AS x (recipient_hash, key_id, masked, reason, source_email_id, source_provider,
    source_event_key, note, created_by, expires_at)
  VALUES (candidates[1], p_key_id, p_masked, p_reason, p_source_email, p_source_provider, p_source_event, p_note, p_by,
    p_expires)
  ON CONFLICT (recipient_hash) DO NOTHING;
  IF FOUND THEN
    changed := true;
  ELSE
    SELECT * INTO s FROM suppressions WHERE recipient_hash = candidates[1] FOR UPDATE;
    IF s.expires_at IS NOT NULL AND s.expires_at <= now() THEN
      UPDATE suppressions AS x
      SET key_id = p_key_id, masked = p_masked, reason = p_reason, source_email_id = p_source_email,
          source_provider = p_source_provider, source_event_key = p_source_event, note = p_note, created_by = p_by,
          created_at = now(), expires_at = p_expires
      WHERE x.recipient_hash = candidates[1];
      changed := true;
    ELSIF s.expires_at IS NOT NULL AND (p_expires IS NULL OR p_expires > s.expires_at) THEN
      UPDATE suppressions AS x SET expires_at = p_expires WHERE x.recipient_hash = candidates[1];
      changed := true;
    END IF;
  END IF;
  IF changed THEN
    INSERT INTO suppression_history (recipient_hash, masked, action, reason, note, done_by, source_email_id,
      source_provider, source_event_key)
    VALUES (candidates[1], p_masked, 'add', p_reason, p_note, p_by, p_source_email, p_source_provider, p_source_event);
  END IF;
  RETURN changed;
END;
$$;

-- Applies provider events (one per item; see Ledger.applyProviderEvent), each on its own terms:
-- a duplicate (provider, event_key) changes nothing; an event whose email is unknown writes
-- nothing at all (its dedupe row neither, so a retry applies it). Otherwise every recipient's
-- outcome moves forward only, suppressions are added, and the email's state becomes its summary
-- (never backwards). "current_key_id" is the current secret's id (for new suppression entries).
-- Answers per item 'applied', 'duplicate' or 'email-unknown'.
CREATE FUNCTION ledger_apply_provider_events(events jsonb, current_key_id text) RETURNS TABLE (i integer, result jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  ev record;
  rc record;
  target uuid;
  e emails%ROWTYPE;
  hashes bytea[];
  chosen bytea;
  summary text;
BEGIN
  FOR ev IN
    SELECT x.* FROM jsonb_to_recordset(events) AS x(i integer, provider text, event_key text, email_id uuid,
      provider_message_id text, occurred_at timestamptz, received_at timestamptz, recipients jsonb, unsuppress jsonb)
    ORDER BY x.email_id, x.provider, x.event_key, x.i
  LOOP
    i := ev.i;
    target := NULL;
    IF ev.email_id IS NOT NULL THEN
      SELECT em.id INTO target FROM emails AS em WHERE em.id = ev.email_id;
    END IF;
    IF target IS NULL AND ev.provider_message_id IS NOT NULL THEN
      SELECT em.id INTO target FROM emails AS em
      WHERE em.provider_message_id = ev.provider_message_id AND em.provider = ev.provider
      ORDER BY em.accepted_at DESC LIMIT 1;
    END IF;
    IF target IS NULL THEN
      result := to_jsonb('email-unknown'::text);
      RETURN NEXT;
      CONTINUE;
    END IF;
    INSERT INTO provider_events (provider, event_key, email_id, received_at)
    VALUES (ev.provider, ev.event_key, target, coalesce(ev.received_at, now()))
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
      result := to_jsonb('duplicate'::text);
      RETURN NEXT;
      CONTINUE;
    END IF;
    SELECT * INTO e FROM emails AS em WHERE em.id = target FOR UPDATE;

    FOR rc IN
      SELECT y.*, ARRAY(SELECT decode(c, 'hex') FROM jsonb_array_elements_text(y.hashes) AS c) AS candidates
      FROM jsonb_to_recordset(ev.recipients) AS y(hashes jsonb, masked text, outcome text, bounce_kind text,
        provider_type text, provider_subtype text, diagnostic text, suppress jsonb)
    LOOP
      -- The key the email recorded this recipient under (it may be an earlier secret's); else the current one.
      SELECT h INTO chosen FROM unnest(rc.candidates) WITH ORDINALITY AS c(h, n)
      WHERE e.recipient_hashes IS NOT NULL AND h = ANY (e.recipient_hashes) ORDER BY c.n LIMIT 1;
      IF chosen IS NULL THEN
        chosen := rc.candidates[1];
      END IF;
      INSERT INTO recipient_outcomes AS o (email_id, recipient_hash, masked, outcome, bounce_kind, provider_type,
        provider_subtype, diagnostic, provider, provider_event_key, occurred_at)
      VALUES (target, chosen, rc.masked, rc.outcome, rc.bounce_kind, rc.provider_type, rc.provider_subtype,
        rc.diagnostic, ev.provider, ev.event_key, ev.occurred_at)
      ON CONFLICT (email_id, recipient_hash) DO UPDATE
      SET outcome = excluded.outcome, bounce_kind = excluded.bounce_kind, provider_type = excluded.provider_type,
          provider_subtype = excluded.provider_subtype, diagnostic = excluded.diagnostic,
          provider = excluded.provider, provider_event_key = excluded.provider_event_key,
          occurred_at = excluded.occurred_at, updated_at = now()
      -- Forward only; within "bounced", a hard bounce replaces a soft or undetermined one.
      WHERE excluded.outcome_rank > o.outcome_rank
        OR (excluded.outcome = 'bounced' AND o.outcome = 'bounced' AND excluded.bounce_kind = 'hard'
            AND o.bounce_kind IS DISTINCT FROM 'hard');
      IF rc.suppress IS NOT NULL AND jsonb_typeof(rc.suppress) = 'object' THEN
        PERFORM ledger_add_suppression(rc.candidates, current_key_id, rc.masked, rc.suppress ->> 'reason', NULL, 'provider',
          (rc.suppress ->> 'expires_at')::timestamptz, target, ev.provider, ev.event_key);
      END IF;
    END LOOP;

    FOR rc IN
      SELECT y.masked, ARRAY(SELECT decode(c, 'hex') FROM jsonb_array_elements_text(y.hashes) AS c) AS candidates
      FROM jsonb_to_recordset(coalesce(ev.unsuppress, '[]'::jsonb)) AS y(hashes jsonb, masked text)
    LOOP
      WITH gone AS (
        DELETE FROM suppressions AS s WHERE s.recipient_hash = ANY (rc.candidates) RETURNING s.recipient_hash
      )
      INSERT INTO suppression_history (recipient_hash, masked, action, reason, note, done_by, source_email_id,
        source_provider, source_event_key)
      SELECT rc.candidates[1], rc.masked, 'remove', NULL, 'reactivated by the provider', 'provider', target,
        ev.provider, ev.event_key
      FROM (SELECT 1 FROM gone LIMIT 1) AS g;
      UPDATE suppression_history SET recipient_hash = rc.candidates[1]
      WHERE recipient_hash = ANY (rc.candidates[2:]);
    END LOOP;

    summary := ledger_email_summary(target);
    IF summary <> 'sent'
      AND ledger_advances(e.state_rank, e.attempt, ledger_state_rank(summary), e.attempt) THEN
      UPDATE emails SET state = summary, updated_at = now() WHERE id = target;
    END IF;
    result := to_jsonb('applied'::text);
    RETURN NEXT;
  END LOOP;
END;
$$;
