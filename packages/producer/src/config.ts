import {
  ConfigError,
  fail,
  ok,
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
  type Parsed,
} from '@mailer/config';
import type { Network } from '@mailer/contract';
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
  readonly webhookRetryDelaysMs: readonly number[];
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
  /** SNS topics whose messages the SES events endpoint accepts; empty: the endpoint answers 404. */
  readonly snsTopicArns: readonly string[];
  /** Folder of SNS signing certificates; empty: fetched from AWS over https. */
  readonly snsCertDir: string;
  /** Origins a SubscribeURL may be on besides SNS's hosts (tests, private networks). */
  readonly snsTrustedOrigins: readonly string[];
  readonly postmarkWebhookUser: string;
  readonly postmarkWebhookPassword: string;
  /** Empty: webhooks are off (`/v1/webhooks` answers 503). */
  readonly webhookSecretsKey: string;
  /** Networks a registered webhook URL's IP address may be in although not public. */
  readonly webhookAllowNetworks: readonly Network[];
  readonly webhookAllowHttp: boolean;
}

const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;

/** A comma-separated list (spaces around entries ignored, empty entries dropped), each entry checked. */
function list(valid: (entry: string) => boolean, problem: string) {
  return (raw: string): Parsed<readonly string[]> => {
    const entries = raw
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '');
    const bad = entries.find((entry) => !valid(entry));
    return bad === undefined ? ok(entries) : fail(`${problem} (got "${bad.slice(0, 100)}")`);
  };
}

/** An origin as `URL.origin` writes it: `http://127.0.0.1:8080`, `https://confirm.internal`. */
function isOrigin(raw: string): boolean {
  try {
    const url = new URL(raw);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === raw;
  } catch {
    return false;
  }
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
  webhookRetryDelaysMs: sharedKeys.webhookRetryDelaysMs,
  deliveryLimit: sharedKeys.deliveryLimit,
  apiKeys: {
    name: 'API_KEYS',
    description: 'JSON list of callers: `[{"name","key_sha256","senders","scopes"?}]` (see "Callers and API keys").',
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
  webhookSecretsKey: sharedKeys.webhookSecretsKey,
  webhookAllowNetworks: sharedKeys.webhookAllowNetworks,
  webhookAllowHttp: sharedKeys.webhookAllowHttp,
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
  snsTopicArns: {
    name: 'SNS_TOPIC_ARNS',
    description:
      'Comma-separated SNS topic ARNs whose messages `POST /v1/providers/ses/events` accepts (and whose subscriptions ' +
      'it confirms); any other topic gets 403. Empty: the endpoint answers 404.',
    default: '',
    parse: list(
      (entry) => TOPIC_ARN.test(entry),
      'must be comma-separated SNS topic ARNs (arn:aws:sns:<region>:<account>:<name>)',
    ),
  },
  snsCertDir: {
    name: 'SNS_CERT_DIR',
    description:
      'Folder of SNS signing certificates, `<dir>/<host>/SimpleNotificationService-<hex>.pem`, for networks that cannot ' +
      'reach AWS and for tests. Empty: each certificate is fetched over https from its SNS host and cached for 24h.',
    default: '',
    parse: (raw: string): Parsed<string> => ok(raw),
  },
  snsTrustedOrigins: {
    name: 'SNS_TRUSTED_ORIGINS',
    description:
      'Comma-separated origins (`http://127.0.0.1:8080`) a SubscribeURL may be on besides SNS hosts: for tests and ' +
      'private networks only. Empty: SNS hosts only.',
    default: '',
    parse: list(isOrigin, 'must be comma-separated origins such as http://127.0.0.1:8080'),
  },
  postmarkWebhookUser: {
    name: 'POSTMARK_WEBHOOK_USER',
    description:
      'HTTP Basic user Postmark webhooks must send to `POST /v1/providers/postmark/events`. Empty (with the password): ' +
      'the endpoint answers 404.',
    default: '',
    parse: (raw: string): Parsed<string> => (raw.includes(':') ? fail('must not contain ":"') : ok(raw)),
  },
  postmarkWebhookPassword: {
    name: 'POSTMARK_WEBHOOK_PASSWORD',
    description: 'HTTP Basic password for Postmark webhooks; a long random string (at least 16 characters).',
    default: '',
    parse: (raw: string): Parsed<string> =>
      raw !== '' && raw.length < 16 ? fail('must be at least 16 characters') : ok(raw),
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
  if ((values.postmarkWebhookUser === '') !== (values.postmarkWebhookPassword === '')) {
    problems.push('POSTMARK_WEBHOOK_USER and POSTMARK_WEBHOOK_PASSWORD must be set together (or neither)');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return values;
}
