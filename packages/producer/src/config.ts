import {
  ConfigError,
  duration,
  formerMilliseconds,
  integer,
  loadKeys,
  sharedKeys,
  text,
  type Env,
  type Key,
} from '@mailer/config';
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
    default: '0.0.0.0',
    parse: text((raw) => raw.length > 0, 'must not be empty'),
  },
  amqpUrl: sharedKeys.amqpUrl,
  amqpPrefix: sharedKeys.amqpPrefix,
  retryDelays: sharedKeys.retryDelays,
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
} satisfies Record<string, Key<unknown>>;

/** Reads and checks the configuration; throws {@link ConfigError} naming every problem. */
export function loadConfig(env: Env): ProducerConfig {
  const { retryDelays, ...values } = loadKeys(configKeys, env);
  return { ...values, retryDelaysMs: retryDelays };
}
