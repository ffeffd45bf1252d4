import { DEFAULT_DELIVERY_LIMIT, DEFAULT_RETRY_DELAYS_MS } from '@mailer/contract';
import { loadKeys } from './keys';
import { parseAmqpUrls, parseDelays, sharedKeys } from './shared-keys';

describe('sharedKeys', () => {
  it('when nothing is set, then both services get the same broker, topology and log defaults', () => {
    expect(loadKeys(sharedKeys, {})).toEqual({
      amqpUrl: 'amqp://guest:guest@127.0.0.1:5672',
      amqpPrefix: 'mailer',
      retryDelays: DEFAULT_RETRY_DELAYS_MS,
      deliveryLimit: DEFAULT_DELIVERY_LIMIT,
      logLevel: 'info',
    });
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
