import {
  ConfigError,
  DEFAULT_LISTEN_HOST,
  boolean,
  duration,
  fail,
  integer,
  listenHost,
  loadKeys,
  ok,
  recipientSecretProblems,
  sharedKeys,
  text,
  type Env,
  type Key,
  type Parsed,
} from '@mailer/config';
import { PROVIDER_NAMES, type ProviderName } from '@mailer/contract';
import { ledgerKeys } from '@mailer/ledger';
import type { InDoubtPolicy } from './delivery/send-guard';

export { ConfigError };

function parseProviders(raw: string): Parsed<ProviderName[]> {
  if (raw.trim() === '') return ok(['capture']);
  const names = raw.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(PROVIDER_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0)
    return fail(`names unknown providers (${unknown.join(', ')}); use ${PROVIDER_NAMES.join(', ')}`);
  if (new Set(names).size !== names.length) return fail('names a provider twice');
  return ok(names as ProviderName[]);
}

const optional = (raw: string): Parsed<string> => ok(raw);

/** A rate in sends per second; 0 means no limit. */
const rate = (raw: string): Parsed<number> => {
  const parsed = integer(0, 100_000)(raw);
  return parsed.ok ? ok(parsed.value === 0 ? Number.POSITIVE_INFINITY : parsed.value) : parsed;
};

const perProvider = (name: string, label: string) => ({
  timeoutMs: {
    name: `${name}_TIMEOUT`,
    description: `How long one ${label} send may take on the wire (from when it has a connection) before it counts as a transient failure; ambiguous only once the message was handed over.`,
    default: '30s',
    parse: duration('1ms', '10m'),
  },
  ratePerSecond: {
    name: `${name}_RATE_PER_SECOND`,
    description: `Most ${label} sends per second (0: no limit).${name === 'SES' ? " Set it to the account's maximum send rate." : ''}`,
    default: '0',
    parse: rate,
  },
});

const ses = perProvider('SES', 'SES');
const postmark = perProvider('POSTMARK', 'Postmark');
const smtp = perProvider('SMTP', 'SMTP');

/** The keys, in the order docs/configuration.md lists them. */
export const configKeys = {
  providers: {
    name: 'PROVIDERS',
    description:
      'Providers to fail over between, in order, e.g. `ses,postmark,smtp`. Empty: `capture` (writes .eml files, sends nothing).',
    default: '',
    parse: parseProviders,
  },
  captureDir: {
    name: 'CAPTURE_DIR',
    description: 'Folder the capture provider writes `<id>.eml` files to.',
    default: '.capture',
    parse: text((raw) => raw.length > 0, 'must not be empty'),
  },
  prefetch: {
    name: 'PREFETCH',
    description: 'Messages taken at once, so sends in flight at once.',
    default: '300',
    parse: integer(1, 1000),
  },
  maxHeldBytes: {
    name: 'MAX_HELD_BYTES',
    description:
      'Bytes of message bodies taken and not yet settled; at the bound the consumer takes no more until some are settled (a larger message is still taken, alone).',
    default: String(64 * 1024 * 1024),
    parse: integer(1024, 4 * 1024 * 1024 * 1024),
  },
  maxAttempts: {
    name: 'MAX_ATTEMPTS',
    description: 'Delivery attempts (each through the whole provider chain) before an email is parked.',
    default: '6',
    parse: integer(1, 100),
  },
  maxAgeMs: {
    name: 'MAX_AGE',
    description: 'Age since the first attempt after which an email is parked instead of retried.',
    default: '24h',
    parse: duration('1ms', '720h'),
  },
  sendWaitTimeoutMs: {
    name: 'SEND_WAIT_TIMEOUT',
    description:
      "How long a send may wait for its provider's rate limit and one of its connections; past it, the try fails as transient, nothing sent, never ambiguous, and the next provider is tried. The provider's timeout starts once the send has a connection.",
    default: '10m',
    parse: duration('1ms', '25m'),
  },
  circuitFailureThreshold: {
    name: 'CIRCUIT_FAILURE_THRESHOLD',
    description: 'Transient failures in a row that open a provider circuit.',
    default: '5',
    parse: integer(1, 1000),
  },
  circuitCoolDownMs: {
    name: 'CIRCUIT_COOL_DOWN',
    description: 'How long an open circuit rests before one probe send.',
    default: '30s',
    parse: duration('1ms', '1h'),
  },
  sesRegion: {
    name: 'SES_REGION',
    description: 'AWS region of SES (required with ses).',
    default: '',
    parse: optional,
  },
  sesEndpoint: {
    name: 'SES_ENDPOINT',
    description:
      'SES endpoint URL instead of AWS (e.g. a local emulator). Credentials come from the AWS default chain.',
    default: '',
    parse: optional,
  },
  sesConfigurationSet: {
    name: 'SES_CONFIGURATION_SET',
    description: 'SES configuration set to send with.',
    default: '',
    parse: optional,
  },
  sesTimeoutMs: ses.timeoutMs,
  sesRatePerSecond: ses.ratePerSecond,
  postmarkServerToken: {
    name: 'POSTMARK_SERVER_TOKEN',
    description: 'Postmark server API token (required with postmark).',
    default: '',
    parse: optional,
  },
  postmarkMessageStream: {
    name: 'POSTMARK_MESSAGE_STREAM',
    description: 'Postmark message stream.',
    default: 'outbound',
    parse: text((raw) => raw.length > 0, 'must not be empty'),
  },
  postmarkApiHost: {
    name: 'POSTMARK_API_HOST',
    description: 'host:port of a Postmark-compatible API over plain HTTP (tests); empty: Postmark over HTTPS.',
    default: '',
    parse: optional,
  },
  postmarkMaxConnections: {
    name: 'POSTMARK_MAX_CONNECTIONS',
    description:
      'Postmark requests in flight at once; further sends wait in the consumer, where a lost broker channel drops them.',
    default: '300',
    parse: integer(1, 1000),
  },
  postmarkTimeoutMs: postmark.timeoutMs,
  postmarkRatePerSecond: postmark.ratePerSecond,
  smtpHost: { name: 'SMTP_HOST', description: 'SMTP server (required with smtp).', default: '', parse: optional },
  smtpPort: { name: 'SMTP_PORT', description: 'SMTP port.', default: '587', parse: integer(1, 65535) },
  smtpSecure: {
    name: 'SMTP_SECURE',
    description: 'true: TLS from the start (port 465); false: STARTTLS when offered.',
    default: 'false',
    parse: boolean,
  },
  smtpUser: { name: 'SMTP_USER', description: 'SMTP user name (empty: no AUTH).', default: '', parse: optional },
  smtpPassword: { name: 'SMTP_PASSWORD', description: 'SMTP password.', default: '', parse: optional },
  smtpMaxConnections: {
    name: 'SMTP_MAX_CONNECTIONS',
    description: 'Pooled SMTP connections.',
    default: '5',
    parse: integer(1, 100),
  },
  smtpTimeoutMs: smtp.timeoutMs,
  smtpRatePerSecond: smtp.ratePerSecond,
  httpPort: {
    name: 'HTTP_PORT',
    description: 'Port of the small HTTP server for `/metrics`, `/healthz` and `/readyz` (0: any free port).',
    default: '3001',
    parse: integer(0, 65535),
  },
  httpHost: {
    name: 'HTTP_HOST',
    description: 'Interface the HTTP port listens on (the same default as the producer’s `HOST`).',
    default: DEFAULT_LISTEN_HOST,
    parse: listenHost,
  },
  inDoubt: {
    name: 'IN_DOUBT',
    description:
      'A redelivered email whose last try was claimed and never finished (it may have been sent): resend it (it may arrive twice) or park it for an operator.',
    default: 'resend',
    parse: (raw: string): Parsed<InDoubtPolicy> =>
      raw === 'resend' || raw === 'park' ? ok(raw) : fail('must be resend or park'),
  },
  autoRelease: {
    name: 'AUTO_RELEASE',
    description:
      'Send parked emails back by itself once a provider works again: only those parked after max-attempts or max-age with a last failure provider-unavailable or transient.',
    default: 'false',
    parse: boolean,
  },
  autoReleaseRate: {
    name: 'AUTO_RELEASE_RATE',
    description: 'Automatic release: emails sent back per second at most.',
    default: '10',
    parse: integer(1, 1000),
  },
  autoReleaseIntervalMs: {
    name: 'AUTO_RELEASE_INTERVAL',
    description:
      'Automatic release: how often to look while releasable emails may be parked (one is sent back as a probe when nothing was sent since).',
    default: '5m',
    parse: duration('1s', '24h'),
  },
  autoReleaseMax: {
    name: 'AUTO_RELEASE_MAX',
    description: 'Automatic release: times one email is sent back at most (probes not counted); then it stays parked.',
    default: '3',
    parse: integer(1, 100),
  },
  shutdownTimeoutMs: {
    name: 'SHUTDOWN_TIMEOUT',
    description:
      'On SIGTERM, how long sends in flight get to finish before the consumer closes anyway; it exits at most 5s later.',
    default: '20s',
    parse: duration('0s', '10m'),
  },
  feedbackPrefetch: {
    name: 'FEEDBACK_PREFETCH',
    description: 'Provider events the event worker takes unacknowledged at once (on a connection of its own).',
    default: '50',
    parse: integer(1, 1000),
  },
  feedbackMaxTries: {
    name: 'FEEDBACK_MAX_TRIES',
    description:
      'Times a provider event may find its email not in the ledger (each followed by a 60 s wait) before it is parked.',
    default: '60',
    parse: integer(1, 10_000),
  },
  providerEventRetentionMs: {
    name: 'PROVIDER_EVENT_RETENTION',
    description:
      'How long the keys of applied provider events are kept to drop repeats; longer than any provider retries.',
    default: '168h',
    parse: duration('2h', '8760h'),
  },
  eventsRelay: {
    name: 'EVENTS_RELAY',
    description: "on: this consumer runs a relay publishing the ledger's outbox to the events exchange (LEDGER=on).",
    default: 'on',
    parse: (raw: string): Parsed<'on' | 'off'> => (raw === 'on' || raw === 'off' ? ok(raw) : fail('must be on or off')),
  },
  eventsRelayBatch: {
    name: 'EVENTS_RELAY_BATCH',
    description: 'Outbox rows the relay publishes and marks published in one transaction.',
    default: '500',
    parse: integer(1, 10_000),
  },
  eventsRetentionMs: {
    name: 'EVENTS_RETENTION',
    description: 'How long published events stay in the outbox (for replays) before they are pruned.',
    default: '168h',
    parse: duration('1m', '8760h'),
  },
  webhooks: {
    name: 'WEBHOOKS',
    description:
      'Whether this consumer delivers webhooks (docs/events.md); they also need LEDGER=on and WEBHOOK_SECRETS_KEY.',
    default: 'on',
    parse: (raw: string): Parsed<'on' | 'off'> => (raw === 'on' || raw === 'off' ? ok(raw) : fail('must be on or off')),
  },
  webhookPrefetch: {
    name: 'WEBHOOK_PREFETCH',
    description: 'Webhook events and deliveries each taken unacknowledged at once (on a connection of their own).',
    default: '50',
    parse: integer(1, 1000),
  },
  webhookMaxInFlightPerEndpoint: {
    name: 'WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT',
    description: 'Requests in flight to one webhook endpoint at once; further deliveries to it wait in the wait queue.',
    default: '4',
    parse: integer(1, 1000),
  },
  webhookTimeoutMs: {
    name: 'WEBHOOK_TIMEOUT',
    description: 'How long one webhook POST may take, from the request to the end of the answer; then it failed.',
    default: '15s',
    parse: duration('1ms', '5m'),
  },
  webhookDisableAfterMs: {
    name: 'WEBHOOK_DISABLE_AFTER',
    description: 'An endpoint whose deliveries failed, without a success, for this long is disabled.',
    default: '120h',
    parse: duration('1ms', '8760h'),
  },
  webhookSecretsKey: sharedKeys.webhookSecretsKey,
  webhookAllowNetworks: sharedKeys.webhookAllowNetworks,
  webhookAllowHttp: sharedKeys.webhookAllowHttp,
  ledger: ledgerKeys.ledger,
  events: ledgerKeys.events,
  migrateOnStart: ledgerKeys.migrateOnStart,
  databaseUrl: ledgerKeys.databaseUrl,
  databasePoolSize: ledgerKeys.databasePoolSize,
  recipientHashSecret: sharedKeys.recipientHashSecret,
  recipientHashPreviousSecrets: sharedKeys.recipientHashPreviousSecrets,
  amqpUrl: sharedKeys.amqpUrl,
  amqpPrefix: sharedKeys.amqpPrefix,
  retryDelaysMs: sharedKeys.retryDelaysMs,
  webhookRetryDelaysMs: sharedKeys.webhookRetryDelaysMs,
  deliveryLimit: sharedKeys.deliveryLimit,
  logLevel: sharedKeys.logLevel,
} satisfies Record<string, Key<unknown>>;

/** The consumer's configuration. */
export type ConsumerConfig = ReturnType<typeof loadConfig>;

/** Reads and checks the configuration; throws {@link ConfigError} naming every problem. */
export function loadConfig(env: Env) {
  const config = loadKeys(configKeys, env);
  const problems: string[] = recipientSecretProblems(config);
  const uses = (name: ProviderName) => config.providers.includes(name);
  if (uses('ses') && config.sesRegion === '') problems.push('SES_REGION is required when PROVIDERS names ses');
  if (uses('postmark') && config.postmarkServerToken === '') {
    problems.push('POSTMARK_SERVER_TOKEN is required when PROVIDERS names postmark');
  }
  if (uses('smtp') && config.smtpHost === '') problems.push('SMTP_HOST is required when PROVIDERS names smtp');
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
