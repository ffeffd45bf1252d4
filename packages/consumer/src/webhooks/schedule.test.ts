import { buildTopology } from '@mailer/contract';
import { classifyStatus, parseRetryAfter, retryTierFor } from './schedule';

const delays = [5_000, 300_000, 36_000_000, 36_000_000];
const tiers = buildTopology({
  prefix: 't',
  retryDelaysMs: [10_000],
  deliveryLimit: 5,
  webhookRetryDelaysMs: delays,
}).webhookRetryTiers;

describe('retryTierFor', () => {
  it.each([
    [1, 'retry.5s'],
    [2, 'retry.5m'],
    [3, 'retry.10h'],
    [4, 'retry.10h'],
  ])('when try %i failed, then the next try waits in the %s tier', (tryNumber, routingKey) => {
    expect(retryTierFor(tryNumber, delays, tiers)?.routingKey).toBe(routingKey);
  });

  it('when the schedule repeats a delay, then both retries share its one tier', () => {
    expect(tiers.map((tier) => tier.routingKey)).toEqual(['retry.5s', 'retry.5m', 'retry.10h']);
    expect(retryTierFor(3, delays, tiers)).toBe(retryTierFor(4, delays, tiers));
  });

  it('when the last try failed, then there is no tier (the delivery is parked)', () => {
    expect(retryTierFor(5, delays, tiers)).toBeUndefined();
    expect(retryTierFor(0, delays, tiers)).toBeUndefined();
  });

  it('when a Retry-After is longer than the scheduled delay, then the shortest tier covering it is chosen', () => {
    expect(retryTierFor(1, delays, tiers, 60_000)?.routingKey).toBe('retry.5m');
    expect(retryTierFor(1, delays, tiers, 400_000)?.routingKey).toBe('retry.10h');
  });

  it('when a Retry-After is shorter than the scheduled delay, or longer than every tier, then it changes nothing beyond the longest', () => {
    expect(retryTierFor(2, delays, tiers, 1_000)?.routingKey).toBe('retry.5m');
    expect(retryTierFor(1, delays, tiers, 100 * 3_600_000)?.routingKey).toBe('retry.10h');
  });
});

describe('parseRetryAfter', () => {
  const now = new Date('2026-12-08T00:00:00Z');

  it('when it is delta seconds or a future HTTP date, then it is read as milliseconds from now', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Tue, 08 Dec 2026 00:01:00 GMT', now)).toBe(60_000);
  });

  it('when it is absent, malformed, zero or in the past, then it is ignored', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('0', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter('Mon, 07 Dec 2026 00:00:00 GMT', now)).toBeUndefined();
  });
});

describe('classifyStatus', () => {
  it.each([200, 201, 204, 299])('when the answer is %i, then the try succeeded', (status) => {
    expect(classifyStatus(status)).toEqual({ kind: 'success', status });
  });

  it('when the answer is 410 Gone, then the endpoint is gone (disabled, no retry)', () => {
    expect(classifyStatus(410)).toEqual({ kind: 'gone', status: 410 });
  });

  it.each([100, 301, 302, 307, 400, 404, 429, 500, 503])(
    'when the answer is %i (redirects included, they are not followed), then the try failed',
    (status) => {
      expect(classifyStatus(status)).toEqual({ kind: 'failure', status });
    },
  );

  it('when no answer came, then the try failed', () => {
    expect(classifyStatus(null)).toEqual({ kind: 'failure', status: null });
  });
});
