import {
  DEFAULT_DELIVERY_LIMIT,
  DEFAULT_RETRY_DELAYS_MS,
  DEFAULT_WEBHOOK_RETRY_DELAYS_MS,
  MAX_DELAY_MS,
  parseNetwork,
  type Network,
  buildTopology,
  delayName,
  type Topology,
} from '@mailer/contract';
import { boolean, integer, parseDurationMs, text, type Key } from './keys';
import { fail, ok, type Parsed } from './parsed';

function isAmqpUrl(raw: string): boolean {
  try {
    const url = new URL(raw);
    return (url.protocol === 'amqp:' || url.protocol === 'amqps:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/**
 * One URL, or a comma-separated list of them (the nodes of a cluster, tried in turn). A bad entry
 * is named by its position only: it may hold a password, and problems are printed at start-up.
 */
export function parseAmqpUrls(raw: string): Parsed<string> {
  const entries = raw.split(',').map((entry) => entry.trim());
  if (entries.length === 1) {
    return isAmqpUrl(raw) ? ok(raw) : fail('must be an amqp:// or amqps:// URL with a host');
  }
  const bad = entries.findIndex((entry) => !isAmqpUrl(entry));
  return bad === -1
    ? ok(entries.join(','))
    : fail(`entry ${bad + 1} of ${entries.length} must be an amqp:// or amqps:// URL with a host`);
}

/** One retry tier's delay: above zero, and a TTL RabbitMQ takes (at most {@link MAX_DELAY_MS}). */
function tierDelay(raw: string): number | undefined {
  const ms = parseDurationMs(raw.trim());
  return ms !== undefined && ms > 0 && ms <= MAX_DELAY_MS ? ms : undefined;
}

/** A comma-separated list of increasing durations (`10s,1m,2h`), in milliseconds. */
export function parseDelays(raw: string): Parsed<number[]> {
  const delays = raw.split(',').map(tierDelay);
  if (delays.some((d) => d === undefined)) {
    return fail('must be a comma-separated list of durations such as 10s,1m,2h');
  }
  const ms = delays as number[];
  return ms.every((d, i) => i === 0 || d > (ms[i - 1] ?? 0))
    ? ok(ms)
    : fail('must list the delays in increasing order');
}

/** A comma-separated list of non-decreasing durations (`5s,5m,10h,10h`): the webhook retry schedule. */
export function parseWebhookDelays(raw: string): Parsed<number[]> {
  const delays = raw.split(',').map(tierDelay);
  if (delays.some((d) => d === undefined)) {
    return fail('must be a comma-separated list of durations such as 5s,5m,30m');
  }
  const ms = delays as number[];
  return ms.every((d, i) => i === 0 || d >= (ms[i - 1] ?? 0))
    ? ok(ms)
    : fail('must list the delays in non-decreasing order');
}

/** A comma-separated list of networks in CIDR form (`127.0.0.0/8,::1/128`); empty for none. */
export function parseNetworks(raw: string): Parsed<Network[]> {
  if (raw.trim() === '') return ok([]);
  const entries = raw.split(',').map((entry) => entry.trim());
  const networks = entries.map(parseNetwork);
  const bad = networks.findIndex((network) => network === undefined);
  return bad === -1
    ? ok(networks as Network[])
    : fail(`entry ${bad + 1} of ${entries.length} must be a network such as 10.0.0.0/8 or fd00::/8`);
}

/**
 * The key webhook signing secrets are encrypted with in the ledger (AES-256-GCM): 32 random bytes,
 * base64 (e.g. openssl rand -base64 32); empty: webhooks are off. Never echoed in a problem.
 */
export function parseWebhookSecretsKey(raw: string): Parsed<string> {
  if (raw === '') return ok('');
  return /^[A-Za-z0-9+/]{43}=$/.test(raw) && Buffer.from(raw, 'base64').length === 32
    ? ok(raw)
    : fail('must be 32 random bytes in base64 (openssl rand -base64 32)');
}

/** The shortest recipient hash secret taken (`MIN_RECIPIENT_SECRET_LENGTH` of @mailer/contract). */
const MIN_SECRET_LENGTH = 32;

/** One recipient hash secret: empty (none set) or at least 32 characters. Never echoed in a problem. */
export function parseRecipientSecret(raw: string): Parsed<string> {
  return raw === '' || raw.length >= MIN_SECRET_LENGTH
    ? ok(raw)
    : fail(`must have at least ${MIN_SECRET_LENGTH} characters`);
}

/** A comma-separated list of earlier secrets, newest first; empty for none. Entries are named by position only. */
export function parseRecipientSecrets(raw: string): Parsed<string[]> {
  if (raw.trim() === '') return ok([]);
  const entries = raw.split(',').map((entry) => entry.trim());
  const bad = entries.findIndex((entry) => entry.length < MIN_SECRET_LENGTH);
  return bad === -1
    ? ok(entries)
    : fail(`entry ${bad + 1} of ${entries.length} must have at least ${MIN_SECRET_LENGTH} characters`);
}

/**
 * The start-up problem of a service with the ledger on and no recipient hash secret: the ledger
 * keys recipients (suppression list, per-recipient outcomes) with it and holds no address.
 */
export function recipientSecretProblems(values: {
  readonly ledger: 'on' | 'off';
  readonly recipientHashSecret: string;
}): string[] {
  return values.ledger === 'on' && values.recipientHashSecret === ''
    ? [
        `RECIPIENT_HASH_SECRET is required when LEDGER=on: a random secret of at least ${MIN_SECRET_LENGTH} ` +
          'characters, the same in every producer and consumer (e.g. openssl rand -base64 48)',
      ]
    : [];
}

const logLevels = ['error', 'warn', 'info', 'debug'];

/**
 * Where each service's HTTP server listens unless told otherwise (`HOST`, `HTTP_HOST`): every
 * interface, as a container needs to be reached.
 */
export const DEFAULT_LISTEN_HOST = '0.0.0.0';

/** Reads an interface to listen on: an address such as `127.0.0.1` or `::`, or a host name. */
export const listenHost = text((raw) => raw.length > 0, 'must not be empty');

/**
 * Keys both services read, by the same names and rules: the broker, the topology (which must be
 * identical on both sides, or a declare fails), logging, and the recipient hash secrets (the same
 * in every process, or one's keys would not find the other's entries).
 */
export const sharedKeys = {
  amqpUrl: {
    name: 'AMQP_URL',
    description: 'RabbitMQ URL (amqp:// or amqps://), or a comma-separated list of them, one per cluster node.',
    default: 'amqp://guest:guest@127.0.0.1:5672',
    parse: parseAmqpUrls,
  },
  amqpPrefix: {
    name: 'AMQP_PREFIX',
    description: 'Prefix of every exchange and queue name.',
    default: 'mailer',
    parse: text((raw) => /^[A-Za-z0-9_.-]{1,100}$/.test(raw), 'must be 1-100 of A-Z a-z 0-9 _ . -'),
  },
  retryDelaysMs: {
    name: 'RETRY_DELAYS',
    description: 'Delay of each retry tier, shortest first (each tier is a queue). Same value in both services.',
    default: DEFAULT_RETRY_DELAYS_MS.map(delayName).join(','),
    parse: parseDelays,
  },
  webhookRetryDelaysMs: {
    name: 'WEBHOOK_RETRY_DELAYS',
    description:
      'Delay before each retry of a webhook delivery, in order; a delivery is parked after the last (docs/events.md). ' +
      'Same value in both services.',
    default: DEFAULT_WEBHOOK_RETRY_DELAYS_MS.map(delayName).join(','),
    parse: parseWebhookDelays,
  },
  deliveryLimit: {
    name: 'DELIVERY_LIMIT',
    description: 'Deliveries of one message before the work queue dead-letters it. Same value in both services.',
    default: String(DEFAULT_DELIVERY_LIMIT),
    parse: integer(1, 1000),
  },
  logLevel: {
    name: 'LOG_LEVEL',
    description: `One of ${logLevels.join(', ')}.`,
    default: 'info',
    parse: text((raw) => logLevels.includes(raw), `must be one of ${logLevels.join(', ')}`),
  },
  recipientHashSecret: {
    name: 'RECIPIENT_HASH_SECRET',
    description:
      'Secret the ledger keys recipients with (HMAC-SHA256 of the normalized address; no address is stored): at ' +
      'least 32 characters, the same in every producer and consumer; required when LEDGER=on. To rotate, see ' +
      'docs/ledger.md.',
    default: '',
    parse: parseRecipientSecret,
  },
  recipientHashPreviousSecrets: {
    name: 'RECIPIENT_HASH_PREVIOUS_SECRETS',
    description:
      'Earlier values of RECIPIENT_HASH_SECRET, newest first, comma-separated: entries made under them still ' +
      'match and are rewritten under the current secret when next matched.',
    default: '',
    parse: parseRecipientSecrets,
  },
  webhookSecretsKey: {
    name: 'WEBHOOK_SECRETS_KEY',
    description:
      'Key the ledger encrypts webhook signing secrets with: 32 random bytes in base64 (openssl rand -base64 32), the ' +
      'same in every producer, consumer and CLI. Empty: webhooks are off (the API answers 503 and no delivery runs).',
    default: '',
    parse: parseWebhookSecretsKey,
  },
  webhookAllowNetworks: {
    name: 'WEBHOOK_ALLOW_NETWORKS',
    description:
      'Networks (CIDR, comma-separated) webhook endpoints may be in although private, loopback or link-local: an ' +
      'internal receiver, or tests on 127.0.0.0/8. Empty: only public addresses (docs/events.md, SSRF).',
    default: '',
    parse: parseNetworks,
  },
  webhookAllowHttp: {
    name: 'WEBHOOK_ALLOW_HTTP',
    description: 'Whether webhook endpoints may use http:// (plain text). false: https only.',
    default: 'false',
    parse: boolean,
  },
} satisfies Record<string, Key<unknown>>;

/** The shared keys the RabbitMQ topology is built from; equal values give equal topologies. */
export interface TopologyConfig {
  readonly amqpPrefix: string;
  readonly retryDelaysMs: readonly number[];
  readonly webhookRetryDelaysMs: readonly number[];
  readonly deliveryLimit: number;
}

/** The topology a process with this configuration declares: the same in both services and the CLI. */
export function topologyOf(config: TopologyConfig): Topology {
  return buildTopology({
    prefix: config.amqpPrefix,
    retryDelaysMs: config.retryDelaysMs,
    webhookRetryDelaysMs: config.webhookRetryDelaysMs,
    deliveryLimit: config.deliveryLimit,
  });
}
