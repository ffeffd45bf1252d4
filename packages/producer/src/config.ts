import { DEFAULT_DELIVERY_LIMIT, DEFAULT_RETRY_DELAYS_MS, delayName, parseDuration } from '@mailer/contract';
import { parseApiKeys, type ApiKey } from './domain/api-keys';
import { fail, ok, type Parsed } from './parsed';

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

/** Every problem found in the environment, reported together. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** One documented configuration key: its default and how to read it. */
interface Key<T> {
  readonly name: string;
  readonly description: string;
  readonly default?: string;
  readonly parse: (raw: string) => Parsed<T>;
}

const integer =
  (min: number, max: number) =>
  (raw: string): Parsed<number> => {
    const value = Number(raw);
    return /^\d+$/.test(raw) && value >= min && value <= max
      ? ok(value)
      : fail(`must be a whole number from ${min} to ${max}`);
  };

const text =
  (valid: (raw: string) => boolean, problem: string) =>
  (raw: string): Parsed<string> =>
    valid(raw) ? ok(raw) : fail(problem);

function isAmqpUrl(raw: string): boolean {
  try {
    const url = new URL(raw);
    return (url.protocol === 'amqp:' || url.protocol === 'amqps:') && url.hostname !== '';
  } catch {
    return false;
  }
}

const logLevels = ['error', 'warn', 'info', 'debug'];

/** The keys, in README order. */
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
  amqpUrl: {
    name: 'AMQP_URL',
    description: 'RabbitMQ URL (amqp:// or amqps://).',
    default: 'amqp://guest:guest@127.0.0.1:5672',
    parse: text(isAmqpUrl, 'must be an amqp:// or amqps:// URL with a host'),
  },
  amqpPrefix: {
    name: 'AMQP_PREFIX',
    description: 'Prefix of every exchange and queue name.',
    default: 'mailer',
    parse: text((raw) => /^[A-Za-z0-9_.-]{1,100}$/.test(raw), 'must be 1-100 of A-Z a-z 0-9 _ . -'),
  },
  retryDelays: {
    name: 'RETRY_DELAYS',
    description: 'Delay of each retry tier, shortest first (each tier is a queue). Same value in both services.',
    default: DEFAULT_RETRY_DELAYS_MS.map(delayName).join(','),
    parse: (raw): Parsed<number[]> => {
      const delays = raw.split(',').map(parseDuration);
      if (delays.some((d) => d === undefined)) {
        return fail('must be a comma-separated list of durations such as 10s,1m,2h');
      }
      const ms = delays as number[];
      return ms.every((d, i) => i === 0 || d > (ms[i - 1] ?? 0))
        ? ok(ms)
        : fail('must list the delays in increasing order');
    },
  },
  deliveryLimit: {
    name: 'DELIVERY_LIMIT',
    description: 'Deliveries of one message before the work queue dead-letters it. Same value in both services.',
    default: String(DEFAULT_DELIVERY_LIMIT),
    parse: integer(1, 1000),
  },
  apiKeys: {
    name: 'API_KEYS',
    description: 'JSON list of callers: `[{"name","key_sha256","senders"}]` (see "Callers and API keys").',
    parse: parseApiKeys,
  },
  publishTimeoutMs: {
    name: 'PUBLISH_TIMEOUT_MS',
    description: 'How long to wait for the broker to confirm a publish before answering 503.',
    default: '5000',
    parse: integer(100, 120_000),
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
    name: 'SHUTDOWN_TIMEOUT_MS',
    description: 'On SIGTERM, how long in-flight requests get to finish before connections are cut.',
    default: '10000',
    parse: integer(0, 600_000),
  },
  logLevel: {
    name: 'LOG_LEVEL',
    description: `One of ${logLevels.join(', ')}.`,
    default: 'info',
    parse: text((raw) => logLevels.includes(raw), `must be one of ${logLevels.join(', ')}`),
  },
} satisfies Record<string, Key<unknown>>;

type Keys = typeof configKeys;
type Values = { [K in keyof Keys]: ReturnType<Keys[K]['parse']> extends Parsed<infer T> ? T : never };

/** Reads and checks the configuration; throws {@link ConfigError} naming every problem. */
export function loadConfig(env: Env): ProducerConfig {
  const problems: string[] = [];
  const values: Partial<Record<keyof Keys, unknown>> = {};
  for (const [field, key] of Object.entries(configKeys) as [keyof Keys, Key<unknown>][]) {
    const raw = env[key.name] ?? key.default;
    if (raw === undefined) {
      problems.push(`${key.name} is required: ${key.description}`);
      continue;
    }
    const result = key.parse(raw);
    if (result.ok) values[field] = result.value;
    else problems.push(`${key.name} ${result.problem}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const v = values as Values;
  return {
    port: v.port,
    host: v.host,
    amqpUrl: v.amqpUrl,
    amqpPrefix: v.amqpPrefix,
    retryDelaysMs: v.retryDelays,
    deliveryLimit: v.deliveryLimit,
    apiKeys: v.apiKeys,
    publishTimeoutMs: v.publishTimeoutMs,
    maxInflightPublishes: v.maxInflightPublishes,
    maxBodyBytes: v.maxBodyBytes,
    shutdownTimeoutMs: v.shutdownTimeoutMs,
    logLevel: v.logLevel,
  };
}
