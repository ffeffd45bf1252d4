import { RateLimiter } from './rate-limiter';

describe('RateLimiter', () => {
  it('when the rate is unlimited, then every acquire resolves at once', async () => {
    const limiter = new RateLimiter(Number.POSITIVE_INFINITY);

    await expect(Promise.all(Array.from({ length: 1000 }, () => limiter.acquire()))).resolves.toHaveLength(1000);
  });

  it('when under the rate, then a second of sends goes at once, and the next waits for a token', async () => {
    let now = 0;
    const limiter = new RateLimiter(5, () => now);
    for (let i = 0; i < 5; i += 1) await limiter.acquire();

    let sixth = false;
    const waiting = limiter.acquire().then(() => (sixth = true));
    await Promise.resolve();
    expect(sixth).toBe(false);

    // A fifth of a second later the bucket holds a token again.
    now = 200;
    await waiting;
    expect(sixth).toBe(true);
  });

  it('when a waiter is abandoned, then it rejects and takes no token from those behind it', async () => {
    let now = 0;
    const limiter = new RateLimiter(10, () => now);
    for (let i = 0; i < 10; i += 1) await limiter.acquire();
    const abandon = new AbortController();

    const abandoned = limiter.acquire(abandon.signal);
    const next = limiter.acquire();
    abandon.abort(new Error('channel closed'));
    await expect(abandoned).rejects.toThrow('channel closed');

    // One token comes back: it goes to the one behind.
    now = 100;
    await expect(next).resolves.toBeUndefined();
  });

  it('when the signal has already aborted, then acquire rejects and leaves the token for the next', async () => {
    // The clock stands still: a token spent by the abandoned waiter would never come back.
    const limiter = new RateLimiter(2, () => 0);

    await expect(limiter.acquire(AbortSignal.abort())).rejects.toThrow();
    await limiter.acquire();
    await expect(limiter.acquire()).resolves.toBeUndefined();
  });
});
