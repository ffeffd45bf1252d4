import { DEFAULT_DELIVERY_LIMIT, DEFAULT_RETRY_DELAYS_MS, DEFAULT_WEBHOOK_RETRY_DELAYS_MS } from '@mailer/contract';
import { deprecatedKeysIn } from '@mailer/config';
import { ConfigError, configKeys, loadConfig } from './config';

/** The problems `loadConfig` reports for `env`; fails the test if it does not throw a ConfigError. */
function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig({ RECIPIENT_HASH_SECRET, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected loadConfig to throw a ConfigError');
}

const RECIPIENT_HASH_SECRET = 's'.repeat(32);

const durationProblem = (range: string) => `must be a duration such as 500ms, 10s, 1m or 2h, ${range}`;

describe('loadConfig', () => {
  it('when nothing is set, then the consumer captures to .capture with its documented defaults', () => {
    expect(loadConfig({ RECIPIENT_HASH_SECRET })).toEqual({
      providers: ['capture'],
      captureDir: '.capture',
      prefetch: 300,
      maxHeldBytes: 64 * 1024 * 1024,
      maxAttempts: 6,
      maxAgeMs: 24 * 3_600_000,
      sendWaitTimeoutMs: 600_000,
      circuitFailureThreshold: 5,
      circuitCoolDownMs: 30_000,
      sesRegion: '',
      sesEndpoint: '',
      sesConfigurationSet: '',
      sesTimeoutMs: 30_000,
      sesRatePerSecond: Number.POSITIVE_INFINITY,
      postmarkServerToken: '',
      postmarkMessageStream: 'outbound',
      postmarkApiHost: '',
      postmarkTimeoutMs: 30_000,
      postmarkRatePerSecond: Number.POSITIVE_INFINITY,
      postmarkMaxConnections: 300,
      smtpHost: '',
      smtpPort: 587,
      smtpSecure: false,
      smtpUser: '',
      smtpPassword: '',
      smtpMaxConnections: 5,
      smtpTimeoutMs: 30_000,
      smtpRatePerSecond: Number.POSITIVE_INFINITY,
      httpPort: 3001,
      httpHost: '0.0.0.0',
      inDoubt: 'resend',
      autoRelease: false,
      autoReleaseRate: 10,
      autoReleaseIntervalMs: 300_000,
      autoReleaseMax: 3,
      shutdownTimeoutMs: 20_000,
      feedbackPrefetch: 50,
      feedbackMaxTries: 60,
      providerEventRetentionMs: 7 * 24 * 3_600_000,
      webhooks: 'on',
      webhookPrefetch: 50,
      webhookMaxInFlightPerEndpoint: 4,
      webhookTimeoutMs: 15_000,
      webhookDisableAfterMs: 5 * 24 * 3_600_000,
      webhookSecretsKey: '',
      webhookAllowNetworks: [],
      webhookAllowHttp: false,
      ledger: 'on',
      migrateOnStart: false,
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/mailer',
      databasePoolSize: 8,
      events: 'on',
      eventsRelay: 'on',
      eventsRelayBatch: 500,
      eventsRetentionMs: 604_800_000,
      recipientHashSecret: RECIPIENT_HASH_SECRET,
      recipientHashPreviousSecrets: [],
      amqpUrl: 'amqp://guest:guest@127.0.0.1:5672',
      amqpPrefix: 'mailer',
      retryDelaysMs: DEFAULT_RETRY_DELAYS_MS,
      webhookRetryDelaysMs: DEFAULT_WEBHOOK_RETRY_DELAYS_MS,
      deliveryLimit: DEFAULT_DELIVERY_LIMIT,
      logLevel: 'info',
    });
  });

  it('when every provider is named with its settings, then each value is read from the environment', () => {
    const config = loadConfig({
      RECIPIENT_HASH_SECRET,
      PROVIDERS: 'ses, postmark,smtp',
      SES_REGION: 'eu-west-1',
      SES_TIMEOUT: '5s',
      SES_RATE_PER_SECOND: '14',
      POSTMARK_SERVER_TOKEN: 'token',
      POSTMARK_TIMEOUT: '1500ms',
      SMTP_HOST: 'smtp.example.com',
      SMTP_PORT: '465',
      SMTP_SECURE: 'true',
      SMTP_TIMEOUT: '2m',
      MAX_AGE: '72h',
      CIRCUIT_COOL_DOWN: '1s',
      SHUTDOWN_TIMEOUT: '0s',
      PREFETCH: '256',
    });

    expect(config).toMatchObject({
      providers: ['ses', 'postmark', 'smtp'],
      sesRegion: 'eu-west-1',
      sesTimeoutMs: 5000,
      sesRatePerSecond: 14,
      postmarkTimeoutMs: 1500,
      smtpPort: 465,
      smtpSecure: true,
      smtpTimeoutMs: 120_000,
      maxAgeMs: 72 * 3_600_000,
      circuitCoolDownMs: 1000,
      shutdownTimeoutMs: 0,
      prefetch: 256,
    });
  });

  it.each([
    ['SES_TIMEOUT', '10m'],
    ['POSTMARK_TIMEOUT', '1ms'],
    ['SMTP_TIMEOUT', '600s'],
    ['MAX_AGE', '720h'],
    ['CIRCUIT_COOL_DOWN', '1h'],
    ['AUTO_RELEASE_INTERVAL', '1s'],
    ['AUTO_RELEASE_INTERVAL', '24h'],
    ['SHUTDOWN_TIMEOUT', '10m'],
    ['SHUTDOWN_TIMEOUT', '0ms'],
    ['PROVIDER_EVENT_RETENTION', '2h'],
    ['PROVIDER_EVENT_RETENTION', '8760h'],
  ])('when the duration %s is at its bound %p, then it is accepted', (name, value) => {
    expect(() => loadConfig({ RECIPIENT_HASH_SECRET, [name]: value })).not.toThrow();
  });

  it.each([
    ['SES_TIMEOUT', '11m', durationProblem('from 1ms to 10m')],
    ['POSTMARK_TIMEOUT', '0s', durationProblem('from 1ms to 10m')],
    ['SMTP_TIMEOUT', '30000', durationProblem('from 1ms to 10m')],
    ['MAX_AGE', '721h', durationProblem('from 1ms to 720h')],
    ['CIRCUIT_COOL_DOWN', '61m', durationProblem('from 1ms to 1h')],
    ['SHUTDOWN_TIMEOUT', '20', durationProblem('at most 10m')],
    ['PREFETCH', '0', 'must be a whole number from 1 to 1000'],
    ['AUTO_RELEASE', 'yes', 'must be true or false'],
    ['AUTO_RELEASE_RATE', '0', 'must be a whole number from 1 to 1000'],
    ['AUTO_RELEASE_MAX', '101', 'must be a whole number from 1 to 100'],
    ['AUTO_RELEASE_INTERVAL', '999ms', durationProblem('from 1s to 24h')],
    ['SMTP_SECURE', 'yes', 'must be true or false'],
    ['FEEDBACK_PREFETCH', '0', 'must be a whole number from 1 to 1000'],
    ['FEEDBACK_MAX_TRIES', '10001', 'must be a whole number from 1 to 10000'],
    ['PROVIDER_EVENT_RETENTION', '119m', durationProblem('from 2h to 8760h')],
    ['PROVIDERS', 'ses,pigeon', 'names unknown providers (pigeon); use ses, postmark, smtp, capture'],
    ['PROVIDERS', 'capture,capture', 'names a provider twice'],
  ])('when %s is %p, then that one problem is reported', (name, value, problem) => {
    expect(problemsOf({ [name]: value })).toEqual([`${name} ${problem}`]);
  });

  it('when automatic release is turned on with a rate, then both are read', () => {
    expect(loadConfig({ RECIPIENT_HASH_SECRET, AUTO_RELEASE: 'true', AUTO_RELEASE_RATE: '25' })).toMatchObject({
      autoRelease: true,
      autoReleaseRate: 25,
    });
  });

  it('when providers are named without their required settings, then each missing one is reported together', () => {
    expect(problemsOf({ PROVIDERS: 'ses,postmark,smtp' })).toEqual([
      'SES_REGION is required when PROVIDERS names ses',
      'POSTMARK_SERVER_TOKEN is required when PROVIDERS names postmark',
      'SMTP_HOST is required when PROVIDERS names smtp',
    ]);
  });

  it('when the ledger is on and RECIPIENT_HASH_SECRET is empty, then the start-up problem names it', () => {
    expect(problemsOf({ RECIPIENT_HASH_SECRET: '' })).toEqual([
      expect.stringMatching(/^RECIPIENT_HASH_SECRET is required when LEDGER=on/),
    ]);
    expect(problemsOf({ RECIPIENT_HASH_SECRET: 'short' })).toEqual([
      'RECIPIENT_HASH_SECRET must have at least 32 characters',
    ]);
    expect(loadConfig({ LEDGER: 'off' }).recipientHashSecret).toBe('');
  });

  it('when the keys are listed, then every duration key is named without _MS and none is set under a former name', () => {
    expect(Object.values(configKeys).filter((key) => key.name.endsWith('_MS'))).toEqual([]);
    expect(deprecatedKeysIn(configKeys, { SHUTDOWN_TIMEOUT: '1s', POSTMARK_TIMEOUT: '1s' })).toEqual([]);
  });
});
