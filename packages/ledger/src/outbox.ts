import pg from 'pg';
import type {
  EmailState,
  LifecycleBounce,
  LifecycleEvent,
  LifecycleEventData,
  LifecycleEventType,
  OutboxStore,
} from '@mailer/contract';
import { classify } from './errors';
import { query } from './statements';

/** Thrown by {@link Outbox.eventsOf} for a cursor it did not hand out. */
export class InvalidOutboxCursorError extends Error {
  override readonly name = 'InvalidOutboxCursorError';
}

/** An outbox row (migration 0009) with what the relay joins from `emails`. */
interface OutboxRow {
  seq: string;
  id: string;
  type: LifecycleEventType;
  email_id: string;
  client: string;
  occurred_at: Date;
  state: EmailState;
  attempt: number;
  recipient: string | null;
  provider: string | null;
  provider_message_id: string | null;
  reason: string | null;
  bounce: LifecycleBounce | null;
  recipients: string[] | null;
  tags: Record<string, string> | null;
  metadata: Record<string, string | number | boolean | null> | null;
  /** `occurred_at` in microseconds since the epoch, exactly (a Date holds milliseconds only): for cursors. */
  at_us: string;
}

const EVENT_COLUMNS = `o.seq, o.id, o.type, o.email_id, o.client, o.occurred_at, o.state, o.attempt, o.recipient,
  o.provider, o.provider_message_id, o.reason, o.bounce, em.recipients, em.tags, em.metadata,
  (extract(epoch FROM o.occurred_at) * 1000000)::bigint::text AS at_us`;

/** A row as the event it tells of. */
export function eventOf(row: OutboxRow): LifecycleEvent {
  const perRecipient = row.recipient !== null;
  const data: LifecycleEventData = {
    email_id: row.email_id,
    client: row.client,
    state: row.state,
    attempt: row.attempt,
    ...(perRecipient ? { recipient: row.recipient ?? '' } : { recipients: row.recipients ?? [] }),
    provider: row.provider,
    provider_message_id: row.provider_message_id,
    ...(row.reason === null ? {} : { reason: row.reason }),
    ...(row.bounce === null ? {} : { bounce: row.bounce }),
    tags: row.tags,
    metadata: row.metadata,
  };
  return {
    id: row.id,
    type: row.type,
    timestamp: row.occurred_at.toISOString(),
    sequence: Number(row.seq),
    data,
  };
}

/**
 * The ledger's outbox ({@link OutboxStore}, docs/events.md): the rows the triggers of migration
 * 0009 write in the transaction of each state change, read by the relay and by replays.
 */
export class Outbox implements OutboxStore {
  constructor(private readonly pool: pg.Pool) {}

  async publishBatch(limit: number, publish: (events: readonly LifecycleEvent[]) => Promise<void>): Promise<number> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw classify(error, 'publishing outbox events');
    }
    let broken = false;
    try {
      await client.query('BEGIN');
      // The rows are locked, not the emails: a state change goes on while its earlier events are
      // being published. SKIP LOCKED: another relay's batch is left to it.
      const { rows } = await client.query<OutboxRow>(
        `WITH batch AS (
          SELECT * FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED
        )
        SELECT ${EVENT_COLUMNS} FROM batch AS o LEFT JOIN emails AS em ON em.id = o.email_id ORDER BY o.seq`,
        [limit],
      );
      if (rows.length === 0) {
        await client.query('COMMIT');
        return 0;
      }
      await publish(rows.map(eventOf));
      await client.query('UPDATE outbox SET published_at = now() WHERE seq = ANY ($1::bigint[])', [
        rows.map((r) => r.seq),
      ]);
      await client.query('COMMIT');
      return rows.length;
    } catch (error) {
      // Nothing marked: the rows are free again for this relay or another.
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw classify(error, 'publishing outbox events');
    } finally {
      client.release(broken);
    }
  }

  async prunePublished(olderThanMs: number, limit: number): Promise<number> {
    const rows = await query<{ n: number }>(
      this.pool,
      'pruning published events',
      `WITH gone AS (
        DELETE FROM outbox WHERE seq IN (
          SELECT seq FROM outbox WHERE published_at < now() - $1 * interval '1 millisecond'
          ORDER BY published_at LIMIT $2
        ) RETURNING 1
      ) SELECT count(*)::integer AS n FROM gone`,
      [Math.round(olderThanMs), limit],
    );
    return rows[0]?.n ?? 0;
  }

  async lag(): Promise<{ readonly unpublished: number; readonly oldestAgeMs: number | null }> {
    const rows = await query<{ unpublished: number; oldest_age_ms: number | null }>(
      this.pool,
      'reading the outbox lag',
      `SELECT (SELECT count(*)::integer FROM outbox WHERE published_at IS NULL) AS unpublished,
        (SELECT (extract(epoch FROM clock_timestamp() - occurred_at) * 1000)::float8 FROM outbox
         WHERE published_at IS NULL ORDER BY seq LIMIT 1) AS oldest_age_ms`,
    );
    const row = rows[0];
    return { unpublished: row?.unpublished ?? 0, oldestAgeMs: row?.oldest_age_ms ?? null };
  }

  /** @throws InvalidOutboxCursorError for a cursor this method did not hand out. */
  async eventsOf(
    client: string,
    page: {
      readonly since: Date;
      readonly types?: readonly LifecycleEventType[];
      readonly limit: number;
      readonly cursor?: string;
    },
  ): Promise<{ readonly events: readonly LifecycleEvent[]; readonly next: string | null }> {
    const after = page.cursor === undefined ? null : cursorOf(page.cursor);
    const limit = Math.max(1, Math.min(1000, Math.floor(page.limit)));
    const rows = await query<OutboxRow>(
      this.pool,
      'reading outbox events',
      `SELECT ${EVENT_COLUMNS} FROM outbox AS o LEFT JOIN emails AS em ON em.id = o.email_id
      WHERE o.client = $1 AND o.occurred_at >= $2
        AND ($3::text[] IS NULL OR o.type = ANY ($3::text[]))
        AND ($4::bigint IS NULL
          OR (o.occurred_at, o.seq) > ('epoch'::timestamptz + $4::bigint * interval '1 microsecond', $5::bigint))
      ORDER BY o.occurred_at, o.seq LIMIT $6`,
      [
        client,
        page.since,
        page.types === undefined ? null : [...page.types],
        after?.atUs ?? null,
        after?.seq ?? null,
        limit + 1,
      ],
    );
    const shown = rows.slice(0, limit);
    const last = shown.at(-1);
    const next =
      rows.length > limit && last !== undefined ? Buffer.from(`${last.at_us}.${last.seq}`).toString('base64url') : null;
    return { events: shown.map(eventOf), next };
  }
}

function cursorOf(cursor: string): { atUs: string; seq: string } {
  const match = /^(-?\d{1,20})\.(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (match?.[1] === undefined || match[2] === undefined)
    throw new InvalidOutboxCursorError('not a cursor this API gave');
  return { atUs: match[1], seq: match[2] };
}

/** The channel the outbox's triggers notify once per statement that wrote events (migration 0009). */
export const OUTBOX_CHANNEL = 'mailer_outbox';

/** A LISTEN on {@link OUTBOX_CHANNEL}, from {@link listenForOutbox}. */
export interface OutboxListener {
  close(): Promise<void>;
}

/**
 * LISTENs on {@link OUTBOX_CHANNEL} on a connection of its own (outside the pool: a LISTEN holds
 * its session) and calls `onNotify` for each notification, and once each time the LISTEN is in
 * place (events written while it was not may be waiting). A lost connection is opened again
 * `retryMs` later; the relay's poll covers the gap.
 */
export function listenForOutbox(options: {
  readonly url: string;
  readonly onNotify: () => void;
  readonly retryMs: number;
  readonly logger: { debug(message: string, meta?: Record<string, unknown>): unknown };
}): OutboxListener {
  let closed = false;
  let current: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  const open = (): void => {
    if (closed) return;
    const client = new pg.Client({
      connectionString: options.url,
      keepAlive: true,
      application_name: 'mailer-events-relay',
    });
    current = client;
    let lost = false;
    const again = (error?: Error): void => {
      if (lost) return;
      lost = true;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      if (closed) return;
      if (error !== undefined) options.logger.debug('outbox LISTEN connection lost', { error: error.message });
      timer = setTimeout(open, options.retryMs);
      timer.unref();
    };
    client.on('error', again);
    client.on('end', () => again());
    client.on('notification', () => options.onNotify());
    client
      .connect()
      .then(() => client.query(`LISTEN ${OUTBOX_CHANNEL}`))
      .then(() => options.onNotify())
      .catch((error: unknown) => again(error instanceof Error ? error : new Error(String(error))));
  };
  open();
  return {
    close: async () => {
      closed = true;
      clearTimeout(timer);
      await current?.end().catch(() => undefined);
    },
  };
}
