import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import {
  InvalidWebhookCursorError,
  isLifecycleEventType,
  maskAddressesIn,
  MAX_WEBHOOK_DESCRIPTION_LENGTH,
  MAX_WEBHOOK_ERROR_LENGTH,
  MAX_WEBHOOK_PAGE_LIMIT,
  MAX_WEBHOOK_URL_LENGTH,
  type LifecycleEventType,
  type SigningEndpoint,
  type WebhookDeliveryOutcome,
  type WebhookDeliveryRecord,
  type WebhookDeliveryReport,
  type WebhookDisabledReason,
  type WebhookEndpointPatch,
  type WebhookEndpointRecord,
  type WebhookPage,
  type WebhookStore,
} from '@mailer/contract';
import { query, UUID } from './statements';
import type { Queryable } from './types';

/** The bytes of a Standard Webhooks secret (`whsec_` + base64 of them). */
const SECRET_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** The first byte of every stored ciphertext: the layout below, so a later one can be told apart. */
const FORMAT = 1;
const OUTCOMES: readonly WebhookDeliveryOutcome[] = ['succeeded', 'retrying', 'parked', 'skipped'];
const MAX_EVENT_TYPE_LENGTH = 64;

/** A new signing secret in the Standard Webhooks format. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(SECRET_BYTES).toString('base64')}`;
}

/**
 * Encrypts and decrypts signing secrets with AES-256-GCM under `WEBHOOK_SECRETS_KEY`: a random IV
 * per secret, the endpoint's id as associated data (a ciphertext moved to another endpoint fails).
 */
export class SecretBox {
  private readonly key: Buffer;

  /** @param base64Key 32 bytes in base64 (`WEBHOOK_SECRETS_KEY`, checked by @mailer/config). */
  constructor(base64Key: string) {
    this.key = Buffer.from(base64Key, 'base64');
    if (this.key.length !== 32) throw new RangeError('WEBHOOK_SECRETS_KEY must be 32 bytes in base64');
  }

  seal(secret: string, endpointId: string): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(endpointId, 'utf8'));
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([FORMAT]), iv, body, cipher.getAuthTag()]);
  }

  /** @throws Error when the ciphertext was made under another key or for another endpoint. */
  open(sealed: Buffer, endpointId: string): string {
    if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== FORMAT) {
      throw new Error(`webhook endpoint ${endpointId}: its stored secret is not in a format this code knows`);
    }
    const iv = sealed.subarray(1, 1 + IV_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', this.key, iv);
    decipher.setAAD(Buffer.from(endpointId, 'utf8'));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([
        decipher.update(sealed.subarray(1 + IV_BYTES, sealed.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch (error) {
      throw new Error(
        `webhook endpoint ${endpointId}: its secret does not decrypt (was WEBHOOK_SECRETS_KEY changed?)`,
        { cause: error },
      );
    }
  }
}

/** What a delivery error keeps: addresses and anything secret-looking masked, bounded. */
export function maskedDeliveryError(error: string): string {
  return maskAddressesIn(error)
    .replace(/whsec_[A-Za-z0-9+/=]*/g, 'whsec_***')
    .slice(0, MAX_WEBHOOK_ERROR_LENGTH);
}

const endpointColumns = `e.id::text AS id, e.client, e.url, e.event_types, e.description, e.created_at, e.updated_at,
  e.disabled_at, e.disabled_reason, e.failing_since,
  CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret_expires_at END AS previous_expires_at,
  (extract(epoch FROM e.created_at) * 1000000)::bigint::text AS cursor_at`;

const signingColumns = `${endpointColumns}, e.secret_encrypted,
  CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret_encrypted END AS previous_encrypted`;

const deliveryColumns = `d.id::text AS id, d.endpoint_id::text AS endpoint_id, d.event_id::text AS event_id, d.event_type,
  d.email_id::text AS email_id, d.tries, d.outcome, d.status, d.error, d.duration_ms, d.created_at, d.updated_at,
  (extract(epoch FROM d.created_at) * 1000000)::bigint::text AS cursor_at`;

interface EndpointRow {
  id: string;
  client: string;
  url: string;
  event_types: string[];
  description: string | null;
  created_at: Date;
  updated_at: Date;
  disabled_at: Date | null;
  disabled_reason: WebhookDisabledReason | null;
  failing_since: Date | null;
  previous_expires_at: Date | null;
  cursor_at: string;
}

interface SigningRow extends EndpointRow {
  secret_encrypted: Buffer;
  previous_encrypted: Buffer | null;
}

interface DeliveryRow {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  email_id: string | null;
  tries: number;
  outcome: WebhookDeliveryOutcome;
  status: number | null;
  error: string | null;
  duration_ms: number | null;
  created_at: Date;
  updated_at: Date;
  cursor_at: string;
}

/**
 * The ledger's webhook tables (`webhook_endpoints`, `webhook_deliveries`; migration 0010): the
 * {@link WebhookStore} the producer's API, the consumer's delivery workers and the CLI use. Every
 * call is one statement. Secrets leave only decrypted in memory, on create and rotate (to show
 * once) and to the signer.
 */
export class Webhooks implements WebhookStore {
  private readonly box: SecretBox;

  constructor(
    private readonly db: Queryable,
    /** `WEBHOOK_SECRETS_KEY`. */
    secretsKey: string,
  ) {
    this.box = new SecretBox(secretsKey);
  }

  async createEndpoint(input: {
    readonly client: string;
    readonly url: string;
    readonly eventTypes: readonly LifecycleEventType[];
    readonly description: string | null;
  }): Promise<{ readonly endpoint: WebhookEndpointRecord; readonly secret: string }> {
    checkFields(input);
    const id = randomUUID();
    const secret = newWebhookSecret();
    const rows = await query<EndpointRow>(
      this.db,
      'registering a webhook endpoint',
      `INSERT INTO webhook_endpoints AS e (id, client, url, event_types, description, secret_encrypted)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${endpointColumns}`,
      [id, input.client, input.url, [...new Set(input.eventTypes)], input.description, this.box.seal(secret, id)],
    );
    return { endpoint: toEndpoint(one(rows)), secret };
  }

  async listEndpoints(
    client: string,
    page: { readonly limit: number; readonly cursor?: string },
  ): Promise<WebhookPage<WebhookEndpointRecord>> {
    return this.endpointPage(client, page);
  }

  async listAllEndpoints(page: {
    readonly limit: number;
    readonly cursor?: string;
  }): Promise<WebhookPage<WebhookEndpointRecord>> {
    return this.endpointPage(undefined, page);
  }

  async getEndpoint(client: string, id: string): Promise<WebhookEndpointRecord | undefined> {
    if (!UUID.test(id)) return undefined;
    const rows = await query<EndpointRow>(
      this.db,
      'reading a webhook endpoint',
      `SELECT ${endpointColumns} FROM webhook_endpoints AS e WHERE e.id = $1 AND e.client = $2`,
      [id, client],
    );
    return rows[0] === undefined ? undefined : toEndpoint(rows[0]);
  }

  async endpointById(id: string): Promise<WebhookEndpointRecord | undefined> {
    if (!UUID.test(id)) return undefined;
    const rows = await query<EndpointRow>(
      this.db,
      'reading a webhook endpoint',
      `SELECT ${endpointColumns} FROM webhook_endpoints AS e WHERE e.id = $1`,
      [id],
    );
    return rows[0] === undefined ? undefined : toEndpoint(rows[0]);
  }

  async updateEndpoint(
    client: string,
    id: string,
    patch: WebhookEndpointPatch,
  ): Promise<WebhookEndpointRecord | undefined> {
    if (!UUID.test(id)) return undefined;
    checkFields(patch);
    const rows = await query<EndpointRow>(
      this.db,
      'changing a webhook endpoint',
      // $3..$5: NULL keeps the field ($6 says whether the description was given, as it may be set to NULL).
      `UPDATE webhook_endpoints AS e SET
         url = coalesce($3, e.url),
         event_types = coalesce($4, e.event_types),
         description = CASE WHEN $6 THEN $5 ELSE e.description END,
         disabled_at = CASE WHEN $7::boolean IS NULL THEN e.disabled_at
           WHEN $7 THEN NULL ELSE coalesce(e.disabled_at, now()) END,
         disabled_reason = CASE WHEN $7::boolean IS NULL THEN e.disabled_reason
           WHEN $7 THEN NULL ELSE coalesce(e.disabled_reason, 'manual') END,
         failing_since = CASE WHEN $7 THEN NULL ELSE e.failing_since END,
         updated_at = now()
       WHERE e.id = $1 AND e.client = $2
       RETURNING ${endpointColumns}`,
      [
        id,
        client,
        patch.url ?? null,
        patch.eventTypes === undefined ? null : [...new Set(patch.eventTypes)],
        patch.description ?? null,
        patch.description !== undefined,
        patch.enabled ?? null,
      ],
    );
    return rows[0] === undefined ? undefined : toEndpoint(rows[0]);
  }

  async deleteEndpoint(client: string, id: string): Promise<boolean> {
    if (!UUID.test(id)) return false;
    const rows = await query<{ id: string }>(
      this.db,
      'deleting a webhook endpoint',
      'DELETE FROM webhook_endpoints WHERE id = $1 AND client = $2 RETURNING id',
      [id, client],
    );
    return rows.length > 0;
  }

  async rotateSecret(
    client: string,
    id: string,
    overlapMs: number,
  ): Promise<{ readonly endpoint: WebhookEndpointRecord; readonly secret: string } | undefined> {
    if (!UUID.test(id)) return undefined;
    if (!Number.isInteger(overlapMs) || overlapMs < 0) throw new RangeError('overlapMs must be a whole number ≥ 0');
    const secret = newWebhookSecret();
    // The current ciphertext moves as it is (same endpoint id, same associated data). A secret
    // still in its overlap from an earlier rotation stops signing now: two at most.
    const rows = await query<EndpointRow>(
      this.db,
      "rotating a webhook endpoint's secret",
      `UPDATE webhook_endpoints AS e SET
         previous_secret_encrypted = e.secret_encrypted,
         previous_secret_expires_at = now() + $4::bigint * interval '1 millisecond',
         secret_encrypted = $3,
         updated_at = now()
       WHERE e.id = $1 AND e.client = $2
       RETURNING ${endpointColumns}`,
      [id, client, this.box.seal(secret, id), overlapMs],
    );
    return rows[0] === undefined ? undefined : { endpoint: toEndpoint(rows[0]), secret };
  }

  async endpointsFor(client: string, eventType: LifecycleEventType): Promise<readonly SigningEndpoint[]> {
    const rows = await query<SigningRow>(
      this.db,
      'finding webhook endpoints for an event',
      `SELECT ${signingColumns} FROM webhook_endpoints AS e
       WHERE e.client = $1 AND e.disabled_at IS NULL AND (e.event_types = '{}' OR $2 = ANY (e.event_types))
       ORDER BY e.created_at, e.id`,
      [client, eventType],
    );
    return rows.map((row) => this.toSigning(row));
  }

  async signingEndpoint(id: string): Promise<SigningEndpoint | undefined> {
    if (!UUID.test(id)) return undefined;
    const rows = await query<SigningRow>(
      this.db,
      'reading a webhook endpoint',
      `SELECT ${signingColumns} FROM webhook_endpoints AS e WHERE e.id = $1`,
      [id],
    );
    return rows[0] === undefined ? undefined : this.toSigning(rows[0]);
  }

  /**
   * One statement: keeps each delivery's latest try (a late report of an earlier try changes
   * nothing), then moves each endpoint's failure run in the order of the tries' times. A success
   * ends the run unless a failure already recorded came after it; the first failure after it
   * starts one; a failure later than `disableAfterMs` after the run's start, or any 410, disables
   * an enabled endpoint. Reports of deleted endpoints are dropped. Endpoints are locked in id
   * order, so concurrent calls wait for each other rather than deadlock. Reports the tables cannot
   * hold (ids that are not UUIDs, an unknown outcome) are dropped.
   */
  async recordDeliveries(
    reports: readonly WebhookDeliveryReport[],
    options: { readonly disableAfterMs: number },
  ): Promise<readonly { readonly endpointId: string; readonly reason: WebhookDisabledReason }[]> {
    if (reports.length === 0) return [];
    if (!Number.isInteger(options.disableAfterMs) || options.disableAfterMs < 0) {
      throw new RangeError('disableAfterMs must be a whole number ≥ 0');
    }
    // A report the tables cannot hold (an id that is not a UUID, an unknown outcome, no time) is
    // dropped rather than failing the batch of good ones with it: no worker sends such a report.
    const items = reports.filter(recordable).map((r) => ({
      delivery_id: r.deliveryId,
      endpoint_id: r.endpointId,
      event_id: r.eventId,
      event_type: r.eventType.slice(0, MAX_EVENT_TYPE_LENGTH),
      email_id: r.emailId,
      try: r.try,
      outcome: r.outcome,
      status: r.status !== null && Number.isInteger(r.status) && r.status >= 100 && r.status <= 599 ? r.status : null,
      error: r.error === null ? null : maskedDeliveryError(r.error),
      duration_ms: r.durationMs === null ? null : Math.max(0, Math.min(2 ** 31 - 1, Math.round(r.durationMs))),
      at: r.at.toISOString(),
    }));
    if (items.length === 0) return [];
    const rows = await query<{ id: string; reason: WebhookDisabledReason }>(
      this.db,
      'recording webhook deliveries',
      `WITH input AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(delivery_id uuid, endpoint_id uuid, event_id uuid,
           event_type text, email_id uuid, try integer, outcome text, status smallint, error text,
           duration_ms integer, at timestamptz)
       ),
       latest AS (
         SELECT DISTINCT ON (delivery_id) *, min(at) OVER (PARTITION BY delivery_id) AS first_at
         FROM input ORDER BY delivery_id, try DESC, at DESC
       ),
       recorded AS (
         INSERT INTO webhook_deliveries AS d (id, endpoint_id, event_id, event_type, email_id, tries, outcome, status,
           error, duration_ms, created_at, updated_at)
         SELECT l.delivery_id, l.endpoint_id, l.event_id, l.event_type, l.email_id, l.try, l.outcome, l.status,
           l.error, l.duration_ms, l.first_at, l.at
         FROM latest AS l WHERE EXISTS (SELECT 1 FROM webhook_endpoints AS e WHERE e.id = l.endpoint_id)
         -- The latest try by its time wins. A replay starts its schedule again at try 1 (mailer
         -- webhooks replay): its try then counts on from the record's, so a replayed success
         -- after a park shows as the delivery's outcome.
         ON CONFLICT (id) DO UPDATE SET
           tries = CASE WHEN excluded.tries > d.tries THEN excluded.tries ELSE d.tries + 1 END,
           outcome = excluded.outcome, status = excluded.status,
           error = excluded.error, duration_ms = excluded.duration_ms, updated_at = excluded.updated_at
         WHERE excluded.updated_at > d.updated_at
           OR (excluded.updated_at = d.updated_at AND excluded.tries > d.tries)
         RETURNING 1
       ),
       runs AS (
         SELECT endpoint_id,
           max(at) FILTER (WHERE outcome = 'succeeded') AS last_success,
           array_agg(at) FILTER (WHERE outcome IN ('retrying', 'parked')) AS failures,
           coalesce(bool_or(status = 410), false) AS gone
         FROM input GROUP BY endpoint_id
       ),
       locked AS (
         SELECT e.id, e.failing_since, e.disabled_at FROM webhook_endpoints AS e
         WHERE e.id IN (SELECT endpoint_id FROM runs) ORDER BY e.id FOR UPDATE
       ),
       ended AS (
         SELECT k.id, k.failing_since, k.disabled_at, r.gone, r.failures,
           CASE WHEN k.failing_since IS NULL OR r.last_success >= k.failing_since THEN r.last_success END AS success
         FROM locked AS k JOIN runs AS r ON r.endpoint_id = k.id
       ),
       after AS (
         SELECT n.*, f.first_failure, f.last_failure FROM ended AS n,
           LATERAL (SELECT min(t) AS first_failure, max(t) AS last_failure FROM unnest(n.failures) AS t
                    WHERE n.success IS NULL OR t > n.success) AS f
       ),
       next AS (
         SELECT a.id, a.disabled_at, a.gone, a.last_failure,
           CASE WHEN a.first_failure IS NOT NULL AND a.success IS NULL THEN least(a.failing_since, a.first_failure)
             WHEN a.first_failure IS NOT NULL THEN a.first_failure
             WHEN a.success IS NOT NULL THEN NULL
             ELSE a.failing_since END AS failing_since
         FROM after AS a
       ),
       verdict AS (
         SELECT n.*, CASE WHEN n.disabled_at IS NOT NULL THEN NULL
             WHEN n.gone THEN 'gone'
             WHEN n.last_failure - n.failing_since > $2::bigint * interval '1 millisecond' THEN 'failing' END AS disable
         FROM next AS n
       ),
       changed AS (
         UPDATE webhook_endpoints AS e SET
           failing_since = v.failing_since,
           disabled_at = CASE WHEN v.disable IS NULL THEN e.disabled_at ELSE now() END,
           disabled_reason = coalesce(v.disable, e.disabled_reason),
           updated_at = CASE WHEN v.disable IS NULL THEN e.updated_at ELSE now() END
         FROM verdict AS v
         -- Only endpoints whose run or state changes: a success on a healthy endpoint writes nothing.
         WHERE e.id = v.id AND (v.disable IS NOT NULL OR v.failing_since IS DISTINCT FROM e.failing_since)
         RETURNING e.id::text AS id, v.disable AS reason
       )
       -- "recorded" runs although nothing reads it: PostgreSQL runs every data-modifying WITH.
       SELECT id, reason FROM changed WHERE reason IS NOT NULL`,
      [JSON.stringify(items), options.disableAfterMs],
    );
    return rows.map((row) => ({ endpointId: row.id, reason: row.reason }));
  }

  async listDeliveries(
    endpointId: string,
    page: {
      readonly limit: number;
      readonly cursor?: string;
      readonly since?: Date;
      readonly eventTypes?: readonly string[];
      readonly outcomes?: readonly WebhookDeliveryOutcome[];
    },
  ): Promise<WebhookPage<WebhookDeliveryRecord>> {
    checkLimit(page.limit);
    const cursor = page.cursor === undefined ? undefined : readCursor(page.cursor);
    if (!UUID.test(endpointId)) return { items: [], next: null };
    const values: unknown[] = [endpointId];
    const where = ['d.endpoint_id = $1'];
    if (page.since !== undefined) {
      if (Number.isNaN(page.since.getTime())) throw new RangeError('since is not a valid time');
      values.push(page.since.toISOString());
      where.push(`d.created_at >= $${values.length}`);
    }
    if (page.eventTypes !== undefined && page.eventTypes.length > 0) {
      values.push([...page.eventTypes]);
      where.push(`d.event_type = ANY ($${values.length}::text[])`);
    }
    if (page.outcomes !== undefined && page.outcomes.length > 0) {
      values.push([...page.outcomes]);
      where.push(`d.outcome = ANY ($${values.length}::text[])`);
    }
    if (cursor !== undefined) {
      values.push(cursor[0], cursor[1]);
      where.push(`(d.created_at, d.id) < (${microsAt(values.length - 1)}, $${values.length}::uuid)`);
    }
    values.push(page.limit + 1);
    const rows = await query<DeliveryRow>(
      this.db,
      'listing webhook deliveries',
      `SELECT ${deliveryColumns} FROM webhook_deliveries AS d WHERE ${where.join(' AND ')}
       ORDER BY d.created_at DESC, d.id DESC LIMIT $${values.length}`,
      values,
    );
    return pageOf(rows, page.limit, toDelivery);
  }

  async endpointCounts(): Promise<{ readonly enabled: number; readonly disabled: number }> {
    const rows = await query<{ enabled: string; disabled: string }>(
      this.db,
      'counting webhook endpoints',
      `SELECT count(*) FILTER (WHERE disabled_at IS NULL)::text AS enabled,
         count(*) FILTER (WHERE disabled_at IS NOT NULL)::text AS disabled
       FROM webhook_endpoints`,
    );
    return { enabled: Number(rows[0]?.enabled ?? 0), disabled: Number(rows[0]?.disabled ?? 0) };
  }

  private async endpointPage(
    client: string | undefined,
    page: { readonly limit: number; readonly cursor?: string },
  ): Promise<WebhookPage<WebhookEndpointRecord>> {
    checkLimit(page.limit);
    const cursor = page.cursor === undefined ? undefined : readCursor(page.cursor);
    const values: unknown[] = [];
    const where: string[] = [];
    if (client !== undefined) {
      values.push(client);
      where.push(`e.client = $${values.length}`);
    }
    if (cursor !== undefined) {
      values.push(cursor[0], cursor[1]);
      where.push(`(e.created_at, e.id) < (${microsAt(values.length - 1)}, $${values.length}::uuid)`);
    }
    values.push(page.limit + 1);
    const rows = await query<EndpointRow>(
      this.db,
      'listing webhook endpoints',
      `SELECT ${endpointColumns} FROM webhook_endpoints AS e
       ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
       ORDER BY e.created_at DESC, e.id DESC LIMIT $${values.length}`,
      values,
    );
    return pageOf(rows, page.limit, toEndpoint);
  }

  private toSigning(row: SigningRow): SigningEndpoint {
    const secrets = [this.box.open(row.secret_encrypted, row.id)];
    if (row.previous_encrypted !== null) secrets.push(this.box.open(row.previous_encrypted, row.id));
    return { endpoint: toEndpoint(row), secrets };
  }
}

/** Whether the tables can hold `r`. */
function recordable(r: WebhookDeliveryReport): boolean {
  const ids = [r.deliveryId, r.endpointId, r.eventId, ...(r.emailId === null ? [] : [r.emailId])];
  return (
    ids.every((id) => UUID.test(id)) &&
    OUTCOMES.includes(r.outcome) &&
    Number.isInteger(r.try) &&
    r.try >= 1 &&
    !Number.isNaN(r.at.getTime())
  );
}

function checkFields(fields: {
  readonly url?: string;
  readonly eventTypes?: readonly string[];
  readonly description?: string | null;
}): void {
  // Lengths in code points, as the API's schema counts them (ajv): a text the API took is taken here.
  const length = (text: string): number => Array.from(text).length;
  if (fields.url !== undefined && (fields.url.length === 0 || length(fields.url) > MAX_WEBHOOK_URL_LENGTH)) {
    throw new RangeError(`a webhook URL has 1 to ${MAX_WEBHOOK_URL_LENGTH} characters`);
  }
  if (fields.eventTypes !== undefined && !fields.eventTypes.every(isLifecycleEventType)) {
    throw new RangeError('unknown lifecycle event type');
  }
  if (
    fields.description !== undefined &&
    fields.description !== null &&
    length(fields.description) > MAX_WEBHOOK_DESCRIPTION_LENGTH
  ) {
    throw new RangeError(`a description has at most ${MAX_WEBHOOK_DESCRIPTION_LENGTH} characters`);
  }
}

function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_WEBHOOK_PAGE_LIMIT) {
    throw new RangeError(`limit must be a whole number from 1 to ${MAX_WEBHOOK_PAGE_LIMIT}`);
  }
}

/** SQL for the timestamp a cursor's microseconds (parameter `$n`) stand for. */
function microsAt(n: number): string {
  return `'epoch'::timestamptz + $${n}::bigint * interval '1 microsecond'`;
}

/** A cursor's (microseconds since the epoch, row id). */
function readCursor(cursor: string): [string, string] {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  // Microseconds since 1970, never negative and at most 17 digits (year 5138): any larger is no
  // cursor this API gave, and would be out of PostgreSQL's timestamp range.
  const match = /^(\d{1,17})\|([0-9a-f-]{36})$/.exec(text);
  if (match === null || !UUID.test(match[2] ?? '')) throw new InvalidWebhookCursorError('not a cursor this API gave');
  return [match[1] ?? '', match[2] ?? ''];
}

function pageOf<R extends { id: string; cursor_at: string }, T>(
  rows: readonly R[],
  limit: number,
  shape: (row: R) => T,
): WebhookPage<T> {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: page.map(shape),
    next:
      rows.length > limit && last !== undefined
        ? Buffer.from(`${last.cursor_at}|${last.id}`, 'utf8').toString('base64url')
        : null,
  };
}

function one<R>(rows: readonly R[]): R {
  const row = rows[0];
  if (row === undefined) throw new Error('the statement returned no row');
  return row;
}

function toEndpoint(row: EndpointRow): WebhookEndpointRecord {
  return {
    id: row.id,
    client: row.client,
    url: row.url,
    eventTypes: row.event_types.filter(isLifecycleEventType),
    description: row.description,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    disabledAt: row.disabled_at,
    disabledReason: row.disabled_reason,
    failingSince: row.failing_since,
    previousSecretExpiresAt: row.previous_expires_at,
  };
}

function toDelivery(row: DeliveryRow): WebhookDeliveryRecord {
  return {
    id: row.id,
    endpointId: row.endpoint_id,
    eventId: row.event_id,
    eventType: row.event_type,
    emailId: row.email_id,
    tries: row.tries,
    outcome: row.outcome,
    status: row.status,
    error: row.error,
    durationMs: row.duration_ms,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
