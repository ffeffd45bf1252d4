import { DEFAULT_DELIVERY_LIMIT, DEFAULT_RETRY_DELAYS_MS, DEFAULT_WEBHOOK_RETRY_DELAYS_MS } from '@mailer/contract';
import { deprecatedKeysIn } from '@mailer/config';
import { ConfigError, configKeys, loadConfig } from './config';

const keyHash = 'ab'.repeat(32);
const API_KEYS = JSON.stringify([{ name: 'billing', key_sha256: keyHash, senders: ['Example.com'] }]);
const RECIPIENT_HASH_SECRET = 's'.repeat(32);

/** The problems `loadConfig` reports for `env`; fails the test if it does not throw a ConfigError. */
function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected loadConfig to throw a ConfigError');
}

describe('loadConfig', () => {
  it('when only API_KEYS is set, then every other key has its documented default', () => {
    const config = loadConfig({ API_KEYS, RECIPIENT_HASH_SECRET });

    expect(config).toEqual({
      port: 3000,
      host: '0.0.0.0',
      amqpUrl: 'amqp://guest:guest@127.0.0.1:5672',
      amqpPrefix: 'mailer',
      retryDelaysMs: DEFAULT_RETRY_DELAYS_MS,
      webhookRetryDelaysMs: DEFAULT_WEBHOOK_RETRY_DELAYS_MS,
      deliveryLimit: DEFAULT_DELIVERY_LIMIT,
      apiKeys: [{ name: 'billing', keyHash: Buffer.from(keyHash, 'hex'), senders: ['example.com'] }],
      publishTimeoutMs: 5000,
      maxInflightPublishes: 1000,
      maxBodyBytes: 10 * 1024 * 1024,
      shutdownTimeoutMs: 10_000,
      logLevel: 'info',
      ledger: 'on',
      migrateOnStart: false,
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/mailer',
      databasePoolSize: 8,
      idempotencyKeyTtlMs: 24 * 3_600_000,
      idempotencyStaleAfterMs: 60_000,
      queuedAbandonAfterMs: 2 * 3_600_000,
      recipientHashSecret: RECIPIENT_HASH_SECRET,
      recipientHashPreviousSecrets: [],
      snsTopicArns: [],
      snsCertDir: '',
      snsTrustedOrigins: [],
      postmarkWebhookUser: '',
      postmarkWebhookPassword: '',
      webhookSecretsKey: '',
      webhookAllowNetworks: [],
      webhookAllowHttp: false,
    });
  });

  it('when the ledger is on and RECIPIENT_HASH_SECRET is not set, then that one problem is reported', () => {
    expect(problemsOf({ API_KEYS })).toEqual([
      expect.stringMatching(/^RECIPIENT_HASH_SECRET is required when LEDGER=on/),
    ]);
    expect(loadConfig({ API_KEYS, LEDGER: 'off' }).recipientHashSecret).toBe('');
  });

  it('when previous recipient hash secrets are listed, then they are read in order', () => {
    const previous = ['p'.repeat(32), 'q'.repeat(40)];
    const config = loadConfig({ API_KEYS, RECIPIENT_HASH_SECRET, RECIPIENT_HASH_PREVIOUS_SECRETS: previous.join(',') });
    expect(config.recipientHashPreviousSecrets).toEqual(previous);
  });

  it('when the provider-event keys are set, then lists are split on commas and trimmed', () => {
    const config = loadConfig({
      API_KEYS,
      RECIPIENT_HASH_SECRET,
      SNS_TOPIC_ARNS: 'arn:aws:sns:us-east-1:123456789012:ses-events, arn:aws-cn:sns:cn-north-1:123456789012:b',
      SNS_CERT_DIR: '/etc/mailer/sns-certs',
      SNS_TRUSTED_ORIGINS: 'http://127.0.0.1:8080',
      POSTMARK_WEBHOOK_USER: 'postmark',
      POSTMARK_WEBHOOK_PASSWORD: '0123456789abcdef',
    });

    expect(config).toMatchObject({
      snsTopicArns: ['arn:aws:sns:us-east-1:123456789012:ses-events', 'arn:aws-cn:sns:cn-north-1:123456789012:b'],
      snsCertDir: '/etc/mailer/sns-certs',
      snsTrustedOrigins: ['http://127.0.0.1:8080'],
      postmarkWebhookUser: 'postmark',
      postmarkWebhookPassword: '0123456789abcdef',
    });
  });

  it.each([
    [{ SNS_TOPIC_ARNS: 'arn:aws:s3:::bucket' }, 'SNS_TOPIC_ARNS must be comma-separated SNS topic ARNs'],
    [{ SNS_TRUSTED_ORIGINS: 'http://127.0.0.1:8080/path' }, 'SNS_TRUSTED_ORIGINS must be comma-separated origins'],
    [{ POSTMARK_WEBHOOK_USER: 'postmark' }, 'must be set together'],
    [
      { POSTMARK_WEBHOOK_USER: 'a:b', POSTMARK_WEBHOOK_PASSWORD: '0123456789abcdef' },
      'POSTMARK_WEBHOOK_USER must not contain ":"',
    ],
    [{ POSTMARK_WEBHOOK_USER: 'postmark', POSTMARK_WEBHOOK_PASSWORD: 'short' }, 'at least 16 characters'],
  ])('when a provider-event key is wrong (%j), then the problem is named', (env, problem) => {
    expect(() => loadConfig({ API_KEYS, RECIPIENT_HASH_SECRET, ...env })).toThrow(problem);
  });

  it('when every key is set, then every value is read from the environment', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '127.0.0.1',
      AMQP_URL: 'amqps://user:pass@broker.internal:5671/vhost',
      AMQP_PREFIX: 'mail-2.test_x',
      RETRY_DELAYS: '500ms,10s,1m,2h',
      DELIVERY_LIMIT: '3',
      API_KEYS,
      PUBLISH_TIMEOUT: '250ms',
      MAX_INFLIGHT_PUBLISHES: '5',
      MAX_BODY_BYTES: '2048',
      SHUTDOWN_TIMEOUT: '0s',
      LOG_LEVEL: 'debug',
      LEDGER: 'off',
      MIGRATE_ON_START: 'true',
      DATABASE_URL: 'postgresql://mailer:secret@db.internal:5433/mail',
      DATABASE_POOL_SIZE: '20',
      IDEMPOTENCY_KEY_TTL: '48h',
      IDEMPOTENCY_STALE_AFTER: '30s',
      QUEUED_ABANDON_AFTER: '45m',
    });

    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      amqpUrl: 'amqps://user:pass@broker.internal:5671/vhost',
      amqpPrefix: 'mail-2.test_x',
      retryDelaysMs: [500, 10_000, 60_000, 7_200_000],
      deliveryLimit: 3,
      publishTimeoutMs: 250,
      maxInflightPublishes: 5,
      maxBodyBytes: 2048,
      shutdownTimeoutMs: 0,
      logLevel: 'debug',
      ledger: 'off',
      migrateOnStart: true,
      databaseUrl: 'postgresql://mailer:secret@db.internal:5433/mail',
      databasePoolSize: 20,
      idempotencyKeyTtlMs: 48 * 3_600_000,
      idempotencyStaleAfterMs: 30_000,
      queuedAbandonAfterMs: 45 * 60_000,
    });
  });

  it.each([
    ['PORT', '0'],
    ['PORT', '65535'],
    ['DELIVERY_LIMIT', '1'],
    ['DELIVERY_LIMIT', '1000'],
    ['PUBLISH_TIMEOUT', '100ms'],
    ['PUBLISH_TIMEOUT', '2m'],
    ['PUBLISH_TIMEOUT_MS', '100'],
    ['PUBLISH_TIMEOUT_MS', '120000'],
    ['MAX_INFLIGHT_PUBLISHES', '100000'],
    ['MAX_BODY_BYTES', '1024'],
    ['SHUTDOWN_TIMEOUT', '10m'],
    ['SHUTDOWN_TIMEOUT_MS', '600000'],
    ['RETRY_DELAYS', '1s'],
    ['IDEMPOTENCY_KEY_TTL', '720h'],
    ['IDEMPOTENCY_STALE_AFTER', '1h'],
    ['QUEUED_ABANDON_AFTER', '5m'],
    ['QUEUED_ABANDON_AFTER', '720h'],
  ])('when %s is at its bound %p, then it is accepted', (name, value) => {
    // A stale bound above the longest publish timeout, so only the key under test is at a bound.
    expect(() =>
      loadConfig({ API_KEYS, RECIPIENT_HASH_SECRET, IDEMPOTENCY_STALE_AFTER: '3m', [name]: value }),
    ).not.toThrow();
  });

  it.each([
    ['5s', '5s', 'IDEMPOTENCY_STALE_AFTER (5s) must be greater than PUBLISH_TIMEOUT (5s)'],
    ['5s', '4s', 'IDEMPOTENCY_STALE_AFTER (4s) must be greater than PUBLISH_TIMEOUT (5s)'],
    ['2m', '1m', 'IDEMPOTENCY_STALE_AFTER (1m) must be greater than PUBLISH_TIMEOUT (2m)'],
  ])(
    'when PUBLISH_TIMEOUT is %p and IDEMPOTENCY_STALE_AFTER %p, then the stale bound is refused',
    (publish, stale, problem) => {
      expect(
        problemsOf({ API_KEYS, RECIPIENT_HASH_SECRET, PUBLISH_TIMEOUT: publish, IDEMPOTENCY_STALE_AFTER: stale }),
      ).toEqual([problem]);
    },
  );

  it('when the stale bound is just above PUBLISH_TIMEOUT, then it is accepted', () => {
    const config = loadConfig({
      API_KEYS,
      RECIPIENT_HASH_SECRET,
      PUBLISH_TIMEOUT: '1s',
      IDEMPOTENCY_STALE_AFTER: '1001ms',
    });

    expect(config.idempotencyStaleAfterMs).toBe(1001);
  });

  it('when QUEUED_ABANDON_AFTER is not longer than the stale bound, then it is refused (a takeover may still publish)', () => {
    expect(
      problemsOf({ API_KEYS, RECIPIENT_HASH_SECRET, IDEMPOTENCY_STALE_AFTER: '10m', QUEUED_ABANDON_AFTER: '10m' }),
    ).toEqual(['QUEUED_ABANDON_AFTER (10m) must be greater than IDEMPOTENCY_STALE_AFTER (10m)']);
  });

  it('when the key TTL is not longer than the stale bound, then it is refused', () => {
    expect(
      problemsOf({ API_KEYS, RECIPIENT_HASH_SECRET, IDEMPOTENCY_KEY_TTL: '1h', IDEMPOTENCY_STALE_AFTER: '1h' }),
    ).toEqual(['IDEMPOTENCY_KEY_TTL (1h) must be greater than IDEMPOTENCY_STALE_AFTER (1h)']);
  });

  it.each([
    ['PORT', 'abc', 'must be a whole number from 0 to 65535'],
    ['PORT', '', 'must be a whole number from 0 to 65535'],
    ['PORT', '-1', 'must be a whole number from 0 to 65535'],
    ['PORT', '65536', 'must be a whole number from 0 to 65535'],
    ['PORT', '80.5', 'must be a whole number from 0 to 65535'],
    ['HOST', '', 'must not be empty'],
    ['PORT', '0x1F', 'must be a whole number from 0 to 65535'],
    ['MAX_BODY_BYTES', '1e6', 'must be a whole number from 1024 to 104857600'],
    ['DELIVERY_LIMIT', '0b11', 'must be a whole number from 1 to 1000'],
    ['AMQP_URL', 'http://127.0.0.1:5672', 'must be an amqp:// or amqps:// URL with a host'],
    ['AMQP_URL', 'amqp://', 'must be an amqp:// or amqps:// URL with a host'],
    ['AMQP_URL', 'amqp:// x', 'must be an amqp:// or amqps:// URL with a host'],
    ['RETRY_DELAYS', '10s,1200h', 'must be a comma-separated list of durations such as 10s,1m,2h'],
    ['AMQP_PREFIX', '', 'must be 1-100 of A-Z a-z 0-9 _ . -'],
    ['AMQP_PREFIX', 'has space', 'must be 1-100 of A-Z a-z 0-9 _ . -'],
    ['AMQP_PREFIX', 'p'.repeat(101), 'must be 1-100 of A-Z a-z 0-9 _ . -'],
    ['RETRY_DELAYS', 'ten seconds', 'must be a comma-separated list of durations such as 10s,1m,2h'],
    ['RETRY_DELAYS', '10s,,1m', 'must be a comma-separated list of durations such as 10s,1m,2h'],
    ['RETRY_DELAYS', '', 'must be a comma-separated list of durations such as 10s,1m,2h'],
    ['RETRY_DELAYS', '1m,10s', 'must list the delays in increasing order'],
    ['RETRY_DELAYS', '60s,1m', 'must list the delays in increasing order'],
    ['DELIVERY_LIMIT', '0', 'must be a whole number from 1 to 1000'],
    ['DELIVERY_LIMIT', '1001', 'must be a whole number from 1 to 1000'],
    ['PUBLISH_TIMEOUT', '99ms', 'must be a duration such as 500ms, 10s, 1m or 2h, from 100ms to 2m'],
    ['PUBLISH_TIMEOUT', '5000', 'must be a duration such as 500ms, 10s, 1m or 2h, from 100ms to 2m'],
    ['PUBLISH_TIMEOUT_MS', '99', 'must be a whole number from 100 to 120000'],
    ['PUBLISH_TIMEOUT_MS', '120001', 'must be a whole number from 100 to 120000'],
    ['PUBLISH_TIMEOUT_MS', '5s', 'must be a whole number from 100 to 120000'],
    ['MAX_INFLIGHT_PUBLISHES', '0', 'must be a whole number from 1 to 100000'],
    ['MAX_BODY_BYTES', '1023', 'must be a whole number from 1024 to 104857600'],
    ['SHUTDOWN_TIMEOUT', '11m', 'must be a duration such as 500ms, 10s, 1m or 2h, at most 10m'],
    ['SHUTDOWN_TIMEOUT_MS', '-1', 'must be a whole number from 0 to 600000'],
    ['LOG_LEVEL', 'verbose', 'must be one of error, warn, info, debug'],
    ['LOG_LEVEL', 'INFO', 'must be one of error, warn, info, debug'],
    ['API_KEYS', '[]', 'must be a non-empty JSON list of keys (there is no open relay)'],
    ['LEDGER', 'yes', 'must be on or off'],
    ['MIGRATE_ON_START', '1', 'must be true or false'],
    ['DATABASE_URL', 'mysql://db/mail', 'must be a postgres:// or postgresql:// URL naming a database'],
    ['DATABASE_POOL_SIZE', '0', 'must be a whole number from 1 to 100'],
    ['IDEMPOTENCY_KEY_TTL', '24', 'must be a duration such as 500ms, 10s, 1m or 2h, from 1m to 720h'],
    ['IDEMPOTENCY_KEY_TTL', '59s', 'must be a duration such as 500ms, 10s, 1m or 2h, from 1m to 720h'],
    ['IDEMPOTENCY_STALE_AFTER', '2h', 'must be a duration such as 500ms, 10s, 1m or 2h, from 1ms to 1h'],
  ])('when %s is %p, then that one problem is reported', (name, value, problem) => {
    expect(problemsOf({ API_KEYS, RECIPIENT_HASH_SECRET, [name]: value })).toEqual([`${name} ${problem}`]);
  });

  it.each([
    ['PUBLISH_TIMEOUT', 'PUBLISH_TIMEOUT_MS', 'publishTimeoutMs'],
    ['SHUTDOWN_TIMEOUT', 'SHUTDOWN_TIMEOUT_MS', 'shutdownTimeoutMs'],
  ] as const)(
    'when %s is set only under its former name %s, then the value is read as milliseconds with a warning',
    (name, former, field) => {
      const env = { API_KEYS, RECIPIENT_HASH_SECRET, [former]: '1500' };

      expect(loadConfig(env)[field]).toBe(1500);
      expect(deprecatedKeysIn(configKeys, env)).toEqual([
        {
          name: former,
          replacement: name,
          message: `${former} is deprecated and read for this release only; set ${name}=1500ms instead`,
        },
      ]);
    },
  );

  it('when a duration key is set under both names, then the new one wins and the former is reported as ignored', () => {
    const env = { API_KEYS, RECIPIENT_HASH_SECRET, SHUTDOWN_TIMEOUT: '3s', SHUTDOWN_TIMEOUT_MS: '500' };

    expect(loadConfig(env).shutdownTimeoutMs).toBe(3000);
    expect(deprecatedKeysIn(configKeys, env).map((d) => d.message)).toEqual([
      'SHUTDOWN_TIMEOUT_MS is ignored because SHUTDOWN_TIMEOUT is set; remove SHUTDOWN_TIMEOUT_MS',
    ]);
  });

  it('when the keys are listed, then every duration key is named without _MS', () => {
    expect(Object.values(configKeys).filter((key) => key.name.endsWith('_MS'))).toEqual([]);
  });

  it('when API_KEYS is not set, then it is required (there is no default)', () => {
    const problems = problemsOf({});

    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^API_KEYS is required: /);
  });

  it('when several keys are wrong, then one ConfigError reports them all together', () => {
    let thrown: unknown;
    try {
      loadConfig({ PORT: 'http', LOG_LEVEL: 'loud', RETRY_DELAYS: '2h,1h' });
    } catch (error) {
      thrown = error;
    }

    expect(thrown).toBeInstanceOf(ConfigError);
    const error = thrown as ConfigError;
    expect(error.name).toBe('ConfigError');
    expect(error.problems.map((problem) => problem.split(' ')[0])).toEqual([
      'PORT',
      'RETRY_DELAYS',
      'API_KEYS',
      'LOG_LEVEL',
    ]);
    for (const problem of error.problems) expect(error.message).toContain(problem);
  });
});
