import {
  ConfigError,
  DEFAULT_LISTEN_HOST,
  duration,
  formatDuration,
  formerMilliseconds,
  integer,
  listenHost,
  loadKeys,
  recipientSecretProblems,
  sharedKeys,
  type Env,
  type Key,
} from '@mailer/config';
import { ledgerKeys } from '@mailer/ledger';
import { parseApiKeys, type ApiKey } from './domain/api-keys';

export { ConfigError };

/** The producer's configuration, checked once at start-up. */
export interface ProducerConfig {
  readonly port: number;
  readonly host: string;
  readonly amqpUrl: string;
  readonly amqpPrefix: string;
  readonly retryDelaysMs: readonly number[];
  readonly deliveryLimit: number;
  readonly apiKeys: readonly ApiKey[];
  readonly publishTimeoutMs: number;
  readonly maxInflightPublishes: number;
  readonly maxBodyBytes: number;
  readonly shutdownTimeoutMs: number;
  readonly logLevel: string;
  /** `off`: broker only; idempotency keys and the status endpoints are refused. */
  readonly ledger: 'on' | 'off';
  readonly migrateOnStart: boolean;
  readonly databaseUrl: string;
  readonly databasePoolSize: number;
  readonly idempotencyKeyTtlMs: number;
  readonly idempotencyStaleAfterMs: number;
  readonly queuedAbandonAfterMs: number;
  /** Required (non-empty) with `LEDGER=on`. */
  readonly recipientHashSecret: string;
  readonly recipientHashPreviousSecrets: readonly string[];
}

/** The keys, in the order docs/configuration.md lists them. */
export const configKeys = {
  port: {
    name: 'PORT',
    description: 'HTTP port.',
    default: '3000',
    parse: integer(0, 65535),
  },
  host: {
    name: 'HOST',
    description: 'Interface to listen on.',
    default: DEFAULT_LISTEN_HOST,
    parse: listenHost,
  },
  amqpUrl: sharedKeys.amqpUrl,
  amqpPrefix: sharedKeys.amqpPrefix,
  retryDelaysMs: sharedKeys.retryDelaysMs,
  deliveryLimit: sharedKeys.deliveryLimit,
  apiKeys: {
    name: 'API_KEYS',
    description: 'JSON list of callers: `[{"name","key_sha256","senders"}]` (see "Callers and API keys").',
    parse: parseApiKeys,
  },
  publishTimeoutMs: {
    name: 'PUBLISH_TIMEOUT',
    description: 'How long to wait for the broker to confirm a publish before answering 503.',
    default: '5s',
    parse: duration('100ms', '2m'),
    formerly: formerMilliseconds('PUBLISH_TIMEOUT_MS', '100ms', '2m'),
  },
  maxInflightPublishes: {
    name: 'MAX_INFLIGHT_PUBLISHES',
    description: 'Publishes awaiting a confirm at once; more wait (within the publish timeout).',
    default: '1000',
    parse: integer(1, 100_000),
  },
  maxBodyBytes: {
    name: 'MAX_BODY_BYTES',
    description: 'Largest request body, single or batch; larger gets 413.',
    default: String(10 * 1024 * 1024),
    parse: integer(1024, 100 * 1024 * 1024),
  },
  shutdownTimeoutMs: {
    name: 'SHUTDOWN_TIMEOUT',
    description:
      'On SIGTERM, how long in-flight requests get to finish before connections are cut; the process exits at most 5s later.',
    default: '10s',
    parse: duration('0s', '10m'),
    formerly: formerMilliseconds('SHUTDOWN_TIMEOUT_MS', '0s', '10m'),
  },
  logLevel: sharedKeys.logLevel,
  ledger: ledgerKeys.ledger,
  migrateOnStart: ledgerKeys.migrateOnStart,
  databaseUrl: ledgerKeys.databaseUrl,
  databasePoolSize: ledgerKeys.databasePoolSize,
  recipientHashSecret: sharedKeys.recipientHashSecret,
  recipientHashPreviousSecrets: sharedKeys.recipientHashPreviousSecrets,
  idempotencyKeyTtlMs: {
    name: 'IDEMPOTENCY_KEY_TTL',
    description: 'How long an Idempotency-Key and its first answer are kept; a later request with it is new.',
    default: '24h',
    parse: duration('1m', '720h'),
  },
  idempotencyStaleAfterMs: {
    name: 'IDEMPOTENCY_STALE_AFTER',
    description:
      'How long a request holding an Idempotency-Key is waited for (409) before a retry takes the key over; ' +
      'must be greater than PUBLISH_TIMEOUT, and comfortably so (ledger writes come on top).',
    default: '1m',
    parse: duration('1ms', '1h'),
  },
  queuedAbandonAfterMs: {
    name: 'QUEUED_ABANDON_AFTER',
    description:
      'How long an email may stay queued with no try before it is marked abandoned (its request was answered 503 ' +
      'or never answered, and nothing took it from the queue); must exceed the longest wait in the work queue ' +
      'you expect, and IDEMPOTENCY_STALE_AFTER.',
    default: '2h',
    parse: duration('5m', '720h'),
  },
} satisfies Record<string, Key<unknown>>;

/** Reads and checks the configuration; throws {@link ConfigError} naming every problem. */
export function loadConfig(env: Env): ProducerConfig {
  const values = loadKeys(configKeys, env);
  const problems: string[] = recipientSecretProblems(values);
  // A holder still waiting for its confirm must not be taken over: its retry would publish again.
  if (values.idempotencyStaleAfterMs <= values.publishTimeoutMs) {
    problems.push(
      `IDEMPOTENCY_STALE_AFTER (${formatDuration(values.idempotencyStaleAfterMs)}) must be greater than ` +
        `PUBLISH_TIMEOUT (${formatDuration(values.publishTimeoutMs)})`,
    );
  }
  if (values.idempotencyKeyTtlMs <= values.idempotencyStaleAfterMs) {
    problems.push(
      `IDEMPOTENCY_KEY_TTL (${formatDuration(values.idempotencyKeyTtlMs)}) must be greater than ` +
        `IDEMPOTENCY_STALE_AFTER (${formatDuration(values.idempotencyStaleAfterMs)})`,
    );
  }
  // A takeover may still publish an email recorded up to IDEMPOTENCY_STALE_AFTER ago.
  if (values.queuedAbandonAfterMs <= values.idempotencyStaleAfterMs) {
    problems.push(
      `QUEUED_ABANDON_AFTER (${formatDuration(values.queuedAbandonAfterMs)}) must be greater than ` +
        `IDEMPOTENCY_STALE_AFTER (${formatDuration(values.idempotencyStaleAfterMs)})`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return values;
}
