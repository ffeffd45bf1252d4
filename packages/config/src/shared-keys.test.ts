import {
  DEFAULT_DELIVERY_LIMIT,
  DEFAULT_RETRY_DELAYS_MS,
  DEFAULT_WEBHOOK_RETRY_DELAYS_MS,
  buildTopology,
  delayName,
} from '@mailer/contract';
import { loadKeys } from './keys';
import {
  parseAmqpUrls,
  parseDelays,
  parseNetworks,
  parseWebhookDelays,
  parseWebhookSecretsKey,
  parseRecipientSecret,
  parseRecipientSecrets,
  recipientSecretProblems,
  sharedKeys,
  topologyOf,
} from './shared-keys';

describe('sharedKeys', () => {
  it('when nothing is set, then both services get the same broker, topology and log defaults', () => {
    expect(loadKeys(sharedKeys, {})).toEqual({
      amqpUrl: 'amqp://guest:guest@127.0.0.1:5672',
      amqpPrefix: 'mailer',
      retryDelaysMs: DEFAULT_RETRY_DELAYS_MS,
      webhookRetryDelaysMs: DEFAULT_WEBHOOK_RETRY_DELAYS_MS,
      deliveryLimit: DEFAULT_DELIVERY_LIMIT,
      logLevel: 'info',
      recipientHashSecret: '',
      recipientHashPreviousSecrets: [],
      webhookSecretsKey: '',
      webhookAllowNetworks: [],
      webhookAllowHttp: false,
    });
  });
});

describe('recipient hash secrets', () => {
  const secret = 'k'.repeat(32);

  it('when a secret has fewer than 32 characters, then it is refused without being echoed', () => {
    expect(parseRecipientSecret('k'.repeat(31))).toEqual({ ok: false, problem: 'must have at least 32 characters' });
    expect(parseRecipientSecret(secret)).toEqual({ ok: true, value: secret });
    expect(parseRecipientSecret('')).toEqual({ ok: true, value: '' });
  });

  it('when previous secrets are listed, then each is trimmed and a short one is named by position', () => {
    expect(parseRecipientSecrets('')).toEqual({ ok: true, value: [] });
    expect(parseRecipientSecrets(` ${secret} ,${'m'.repeat(40)}`)).toEqual({
      ok: true,
      value: [secret, 'm'.repeat(40)],
    });
    expect(parseRecipientSecrets(`${secret},short-one`)).toEqual({
      ok: false,
      problem: 'entry 2 of 2 must have at least 32 characters',
    });
  });

  it('when the ledger is on, then the secret is required; with it off, it is not', () => {
    expect(recipientSecretProblems({ ledger: 'on', recipientHashSecret: '' })).toHaveLength(1);
    expect(recipientSecretProblems({ ledger: 'on', recipientHashSecret: secret })).toEqual([]);
    expect(recipientSecretProblems({ ledger: 'off', recipientHashSecret: '' })).toEqual([]);
  });
});

describe('parseDelays', () => {
  it('when the delays increase, then they are read as milliseconds', () => {
    expect(parseDelays('500ms,10s,1m,2h')).toEqual({ ok: true, value: [500, 10_000, 60_000, 7_200_000] });
  });

  it.each([
    ['10s,,1m', 'must be a comma-separated list of durations such as 10s,1m,2h'],
    ['0s', 'must be a comma-separated list of durations such as 10s,1m,2h'],
    ['1m,1m', 'must list the delays in increasing order'],
    ['1m,10s', 'must list the delays in increasing order'],
  ])('when the list is %p, then it is refused: %s', (raw, problem) => {
    expect(parseDelays(raw)).toEqual({ ok: false, problem });
  });

  it('when the default delays are named, then the names read back as the same delays', () => {
    expect(parseDelays(DEFAULT_RETRY_DELAYS_MS.map(delayName).join(','))).toEqual({
      ok: true,
      value: DEFAULT_RETRY_DELAYS_MS,
    });
  });

  it.each([
    ['500ms', 500],
    [`${2 ** 32 - 1}ms`, 2 ** 32 - 1],
    ['10s', 10_000],
    ['1m', 60_000],
    ['2h', 7_200_000],
    ['90m', 5_400_000],
    [' 10s ', 10_000],
  ])('when the one delay is %p, then it is %p ms', (raw, ms) => {
    expect(parseDelays(raw)).toEqual({ ok: true, value: [ms] });
  });

  it.each([
    '',
    '10',
    's',
    '10 s',
    '1.5s',
    '-1s',
    '+1s',
    '0s',
    '0ms',
    '10S',
    '10d',
    '1e3ms',
    '10sec',
    `${'9'.repeat(20)}h`,
    '1200h',
    `${2 ** 32}ms`,
  ])('when the one delay is %p, then it is malformed or over the TTL limit of RabbitMQ', (raw) => {
    expect(parseDelays(raw)).toEqual({
      ok: false,
      problem: 'must be a comma-separated list of durations such as 10s,1m,2h',
    });
  });
});

describe('parseAmqpUrls', () => {
  it('when one URL is given, then it is kept as it is', () => {
    expect(parseAmqpUrls('amqp://guest:guest@127.0.0.1:5672')).toEqual({
      ok: true,
      value: 'amqp://guest:guest@127.0.0.1:5672',
    });
  });

  it('when a list of node URLs is given, then it is kept with the spaces around entries dropped', () => {
    expect(parseAmqpUrls('amqp://a:5672, amqps://b:5671 ,amqp://c')).toEqual({
      ok: true,
      value: 'amqp://a:5672,amqps://b:5671,amqp://c',
    });
  });

  it.each([
    ['amqp://u:s3cret@a:5672,http://u:s3cret@b', 'entry 2 of 2 must be an amqp:// or amqps:// URL with a host'],
    ['amqp://a,,amqp://c', 'entry 2 of 3 must be an amqp:// or amqps:// URL with a host'],
    ['u:s3cret@a:5672,amqp://b', 'entry 1 of 2 must be an amqp:// or amqps:// URL with a host'],
    ['http://a', 'must be an amqp:// or amqps:// URL with a host'],
  ])('when the value is %p, then it is refused by position, without echoing it: %s', (raw, problem) => {
    const parsed = parseAmqpUrls(raw);
    expect(parsed).toEqual({ ok: false, problem });
    expect(JSON.stringify(parsed)).not.toContain('s3cret');
  });
});

describe('parseWebhookDelays', () => {
  it('when a delay repeats, then it is taken (10h,10h); when one is shorter than the one before, then it is refused', () => {
    expect(parseWebhookDelays('5s,5m,10h,10h')).toEqual({ ok: true, value: [5_000, 300_000, 36_000_000, 36_000_000] });
    expect(parseWebhookDelays('5m,5s').ok).toBe(false);
    expect(parseWebhookDelays('5s,soon').ok).toBe(false);
  });
});

describe('webhook keys', () => {
  it('when WEBHOOK_ALLOW_NETWORKS lists networks, then each is parsed; a bad entry is named by position only', () => {
    expect(parseNetworks('127.0.0.0/8, ::1/128')).toEqual({
      ok: true,
      value: [
        { address: '127.0.0.0', prefix: 8, type: 'ipv4' },
        { address: '::1', prefix: 128, type: 'ipv6' },
      ],
    });
    expect(parseNetworks('10.0.0.0/8,intranet')).toEqual({
      ok: false,
      problem: 'entry 2 of 2 must be a network such as 10.0.0.0/8 or fd00::/8',
    });
  });

  it('when WEBHOOK_SECRETS_KEY is not 32 bytes of base64, then it is refused without being echoed', () => {
    const good = Buffer.alloc(32, 7).toString('base64');
    expect(parseWebhookSecretsKey(good)).toEqual({ ok: true, value: good });
    expect(parseWebhookSecretsKey('')).toEqual({ ok: true, value: '' });
    const short = parseWebhookSecretsKey(Buffer.alloc(16, 7).toString('base64'));
    expect(short.ok).toBe(false);
    expect(JSON.stringify(short)).not.toContain(Buffer.alloc(16, 7).toString('base64'));
  });
});

describe('topologyOf', () => {
  it('when given the shared keys, then it builds the topology from the prefix, the delays and the limit', () => {
    const config = {
      amqpPrefix: 'test.x',
      retryDelaysMs: [1000, 60_000],
      webhookRetryDelaysMs: [500],
      deliveryLimit: 4,
    };

    expect(topologyOf(config)).toEqual(
      buildTopology({ prefix: 'test.x', retryDelaysMs: [1000, 60_000], webhookRetryDelaysMs: [500], deliveryLimit: 4 }),
    );
    expect(topologyOf(config).workQueue.arguments['x-delivery-limit']).toBe(4);
    expect(topologyOf(config).retryTiers.map((tier) => tier.queue.name)).toEqual([
      'test.x.retry.1s',
      'test.x.retry.1m',
    ]);
  });
});
