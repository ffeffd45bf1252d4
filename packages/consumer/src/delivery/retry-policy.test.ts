import { buildTopology } from '@mailer/contract';
import { decideRetry, type RetryPolicyOptions } from './retry-policy';

const tiers = buildTopology({ prefix: 't', retryDelaysMs: [10_000, 60_000, 300_000], deliveryLimit: 5 }).retryTiers;
const policy: RetryPolicyOptions = { maxAttempts: 5, maxAgeMs: 3_600_000, tiers };
const start = new Date('2026-11-28T00:00:00Z');
const at = (ms: number) => new Date(start.getTime() + ms);

describe('decideRetry', () => {
  it.each([
    [1, '10s'],
    [2, '1m'],
    [3, '5m'],
    [4, '5m'],
  ])('when %i attempts have failed, then the next wait is the %s tier', (attempts, routingKey) => {
    expect(decideRetry(policy, attempts, start, start)).toEqual({
      action: 'retry',
      tier: expect.objectContaining({ routingKey }),
    });
  });

  it('when the maximum attempts are reached, then the email is parked', () => {
    expect(decideRetry(policy, 5, start, start)).toEqual({ action: 'park', reason: 'max-attempts' });
  });

  it('when waiting another tier would pass the maximum age, then the email is parked', () => {
    expect(decideRetry(policy, 3, start, at(3_600_000 - 299_999))).toEqual({ action: 'park', reason: 'max-age' });
    expect(decideRetry(policy, 3, start, at(3_600_000 - 300_000))).toMatchObject({ action: 'retry' });
  });
});
