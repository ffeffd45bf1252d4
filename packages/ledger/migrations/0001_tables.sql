-- The ledger's tables: one row per accepted email, one per delivery try, one per idempotency key.

-- The order states move in. Delivered states (rank 10 and up) outrank every undelivered one,
-- whatever the attempt: a late failure report never hides a send. The TypeScript twin is
-- src/states.ts; both must change together.
CREATE FUNCTION ledger_state_rank(state text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE state
  WHEN 'queued' THEN 0
  WHEN 'sending' THEN 1
  WHEN 'retrying' THEN 2
  WHEN 'parked' THEN 3
  WHEN 'suppressed' THEN 4
  WHEN 'sent' THEN 10
  WHEN 'bounced' THEN 11
END;

-- Whether (new_rank, new_attempt) comes after (cur_rank, cur_attempt): a delivered state first,
-- then the attempt number, then the rank within one attempt.
CREATE FUNCTION ledger_advances(cur_rank smallint, cur_attempt integer, new_rank smallint, new_attempt integer)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (new_rank >= 10, new_attempt, new_rank) > (cur_rank >= 10, cur_attempt, cur_rank);

CREATE TABLE emails (
  id uuid PRIMARY KEY,
  -- The API key's name (never the key itself); every read is scoped by it.
  client text NOT NULL,
  state text NOT NULL DEFAULT 'queued'
    CHECK (state IN ('queued', 'sending', 'retrying', 'parked', 'suppressed', 'sent', 'bounced')),
  state_rank smallint GENERATED ALWAYS AS (ledger_state_rank(state)) STORED,
  -- The attempt the state belongs to; 0 until the first claim.
  attempt integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
  accepted_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  provider text,
  provider_message_id text,
  recipient_count integer NOT NULL CHECK (recipient_count >= 0),
  -- Masked (j***@example.com): the ledger never holds a full address or a body.
  recipients text[] NOT NULL,
  tags jsonb,
  metadata jsonb,
  -- An attempt was claimed and never finished (the worker died mid-send): it may have gone out.
  in_doubt boolean NOT NULL DEFAULT false
);

-- Keyset paging of one client's emails, newest first, with and without a state filter.
CREATE INDEX emails_by_client ON emails (client, accepted_at DESC, id DESC);
CREATE INDEX emails_by_client_state ON emails (client, state, accepted_at DESC, id DESC);
-- What an operator reviews.
CREATE INDEX emails_in_doubt ON emails (updated_at) WHERE in_doubt;

CREATE TABLE attempts (
  -- Orders the tries of one email; an attempt (delivery) may try several providers.
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email_id uuid NOT NULL REFERENCES emails (id) ON DELETE CASCADE,
  attempt integer NOT NULL CHECK (attempt >= 1),
  provider text,
  started_at timestamptz NOT NULL DEFAULT now(),
  -- NULL while the provider call is under way.
  finished_at timestamptz,
  outcome text
    CHECK (outcome IN ('sent', 'transient', 'provider-unavailable', 'recipient-rejected', 'in-doubt')),
  provider_message_id text,
  error text,
  -- The provider may have sent it (a timeout after the data was handed over, or an in-doubt claim).
  ambiguous boolean NOT NULL DEFAULT false,
  CHECK ((finished_at IS NULL) = (outcome IS NULL))
);

CREATE INDEX attempts_by_email ON attempts (email_id, seq);

CREATE TABLE idempotency_keys (
  client text NOT NULL,
  key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  request_hash text NOT NULL,
  state text NOT NULL CHECK (state IN ('in-flight', 'done')),
  -- Who holds the reservation: completing or releasing needs it, so a process whose
  -- reservation was taken over cannot overwrite the new holder's answer.
  owner uuid NOT NULL,
  -- The ids recorded under this key, handed to whoever takes a stale reservation over so the
  -- same emails are published again (and sent once) rather than new ones.
  email_ids uuid[] NOT NULL DEFAULT '{}',
  response_status smallint,
  response_body jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- When the current holder reserved it; an in-flight key older than the stale bound is taken over.
  locked_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (client, key),
  CHECK (state = 'in-flight' OR response_status IS NOT NULL)
);

CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
