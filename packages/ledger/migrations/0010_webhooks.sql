-- Webhooks to callers (docs/events.md): the endpoints each client registered and the latest try of
-- each delivery. @mailer/ledger's Webhooks (src/webhooks.ts) is the only code that touches them.
-- Signing secrets are never stored readable: each is AES-256-GCM under WEBHOOK_SECRETS_KEY (a key
-- the database never sees), with the endpoint's id as associated data, so a ciphertext copied onto
-- another endpoint does not decrypt.

CREATE TABLE webhook_endpoints (
  id uuid PRIMARY KEY,
  -- The API key name that registered it: it gets that client's events only.
  client text NOT NULL,
  url text NOT NULL CHECK (length(url) <= 2048),
  -- Lifecycle event types it wants; empty: every type.
  event_types text[] NOT NULL DEFAULT '{}',
  description text CHECK (length(description) <= 200),
  -- Format byte 1, 12-byte IV, ciphertext, 16-byte tag.
  secret_encrypted bytea NOT NULL,
  -- The secret before the last rotation: it keeps signing until previous_secret_expires_at.
  previous_secret_encrypted bytea,
  previous_secret_expires_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz,
  disabled_reason text CHECK (disabled_reason IN ('failing', 'gone', 'manual')),
  -- The first failure of the current run of failed tries; NULL after a success.
  failing_since timestamptz,
  CHECK ((disabled_at IS NULL) = (disabled_reason IS NULL)),
  CHECK ((previous_secret_encrypted IS NULL) = (previous_secret_expires_at IS NULL))
);

-- A client's endpoints newest first (the API's list) and its fan-out (enabled ones of a client).
CREATE INDEX webhook_endpoints_by_client ON webhook_endpoints (client, created_at DESC, id DESC);
-- Every client's endpoints newest first (the CLI's list).
CREATE INDEX webhook_endpoints_by_created ON webhook_endpoints (created_at DESC, id DESC);

-- One row per (event, endpoint): the latest try of that delivery.
CREATE TABLE webhook_deliveries (
  -- The message's delivery_id.
  id uuid PRIMARY KEY,
  endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  event_id uuid NOT NULL,
  event_type text NOT NULL CHECK (length(event_type) <= 64),
  email_id uuid,
  tries integer NOT NULL CHECK (tries >= 1),
  outcome text NOT NULL CHECK (outcome IN ('succeeded', 'retrying', 'parked', 'skipped')),
  -- The HTTP status; NULL when no answer came.
  status smallint CHECK (status BETWEEN 100 AND 599),
  -- A short reason, addresses and secrets masked.
  error text CHECK (length(error) <= 300),
  duration_ms integer CHECK (duration_ms >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- An endpoint's deliveries newest first; `since` is a range on it, type and outcome filter the scan.
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
-- Replays of one event type (`mailer webhooks replay ID --event …`) need not scan every other type.
CREATE INDEX webhook_deliveries_by_endpoint_type ON webhook_deliveries (endpoint_id, event_type, created_at DESC);
