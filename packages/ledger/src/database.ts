import pg from 'pg';
import { boolean, fail, integer, ok, text, type Key, type Parsed } from '@mailer/config';

/** The local server's `mailer` database: the default of `DATABASE_URL`. */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/mailer';

function isPostgresUrl(raw: string): boolean {
  try {
    const url = new URL(raw);
    return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.pathname.length > 1;
  } catch {
    return false;
  }
}

/** Keys every process that opens the ledger reads. */
export const ledgerKeys = {
  databaseUrl: {
    name: 'DATABASE_URL',
    description: 'PostgreSQL URL of the ledger (postgres://user:password@host:port/database).',
    default: DEFAULT_DATABASE_URL,
    parse: text(isPostgresUrl, 'must be a postgres:// or postgresql:// URL naming a database'),
  },
  databasePoolSize: {
    name: 'DATABASE_POOL_SIZE',
    description: 'Connections to the ledger each process keeps at most; batches run on them.',
    default: '8',
    parse: integer(1, 100),
  },
  ledger: {
    name: 'LEDGER',
    description:
      'on: every email is recorded in the ledger (idempotency keys, status, send-once). off: broker only, ' +
      'for benchmarks and for a deployment without PostgreSQL; idempotency keys and status are then refused.',
    default: 'on',
    parse: (raw: string): Parsed<'on' | 'off'> => (raw === 'on' || raw === 'off' ? ok(raw) : fail('must be on or off')),
  },
  events: {
    name: 'EVENTS',
    description:
      'on: every state change the ledger records writes a lifecycle event to its outbox (docs/events.md), which the ' +
      "consumer's relay publishes. off: no events are written (for operators who want none, and for benchmarks).",
    default: 'on',
    parse: (raw: string): Parsed<'on' | 'off'> => (raw === 'on' || raw === 'off' ? ok(raw) : fail('must be on or off')),
  },
  migrateOnStart: {
    name: 'MIGRATE_ON_START',
    description:
      'Create the database if absent and apply the migrations at start-up (development); otherwise run pnpm migrate.',
    default: 'false',
    parse: boolean,
  },
} satisfies Record<string, Key<unknown>>;

/** The database a URL names. */
export function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

/** `url` with its database replaced by `database`. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Creates the database `url` names unless it exists, connecting to the server's `postgres`
 * database to do so. Resolves with whether it was created.
 */
export async function ensureDatabase(url: string): Promise<boolean> {
  const name = databaseName(url);
  const admin = new pg.Client({ connectionString: withDatabase(url, 'postgres') });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount !== 0) return false;
    try {
      await admin.query(`CREATE DATABASE ${quoteIdentifier(name)}`);
    } catch (error) {
      // Another migrator created it between the look-up and here: duplicate_database, or, when the
      // two CREATEs race inside the catalog, a unique_violation on pg_database's name index.
      const code = (error as { code?: string }).code;
      if (code === '42P04' || code === '23505') return false;
      throw error;
    }
    return true;
  } finally {
    await admin.end();
  }
}

/** Options of {@link createPool}. */
export interface PoolOptions {
  readonly url: string;
  readonly max?: number;
  /** How long a caller waits for a pooled connection before the call fails as unavailable. */
  readonly connectTimeoutMs?: number;
  /**
   * The longest a statement may run, enforced by the server (`statement_timeout`) and by the
   * client (`query_timeout`, for a server that stopped answering): a call fails rather than
   * hanging while messages or requests wait on it. Default 10 s; 0 for none (migrations).
   */
  readonly statementTimeoutMs?: number;
  /**
   * `off`: the connections run with `mailer.events = off`, and the outbox's triggers (migration
   * 0009) write nothing. Default on.
   */
  readonly events?: 'on' | 'off';
  /** Called with errors of idle connections (the server restarting); without it they would crash the process. */
  readonly onError?: (error: Error) => void;
}

/**
 * A connection pool for the ledger, with an `'error'` listener on the pool (an idle connection
 * the server drops emits one; with no listener the process dies), a bounded wait for a
 * connection, bounded statements, TCP keep-alive, and `application_name` set so
 * `pg_stat_activity` shows who is connected.
 */
export function createPool(options: PoolOptions): pg.Pool {
  const statementTimeoutMs = options.statementTimeoutMs ?? 10_000;
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 8,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    ...(statementTimeoutMs === 0
      ? {}
      : { statement_timeout: statementTimeoutMs, query_timeout: statementTimeoutMs + 1_000 }),
    keepAlive: true,
    application_name: 'mailer-ledger',
    ...(options.events === 'off' ? { options: '-c mailer.events=off' } : {}),
  });
  pool.on('error', (error) => options.onError?.(error));
  return pool;
}
