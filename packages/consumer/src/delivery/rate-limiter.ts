import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Spaces sends to one provider at most `perSecond` a second (SES accounts have a maximum send
 * rate), as a token bucket holding up to one second of sends. Waiters are served in order; one
 * whose signal aborts (its message was abandoned) leaves without a token.
 */
export class RateLimiter {
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = perSecond;
    this.last = now();
  }

  /** False when there is no limit: {@link acquire} then resolves at once, whatever its signal. */
  get limited(): boolean {
    return Number.isFinite(this.perSecond);
  }

  /** Waits for a token; resolves at once while under the rate. Rejects if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (!this.limited) return Promise.resolve();
    const turn = this.queue.then(() => this.take(signal));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      // An abandoned waiter takes no token, even when one is there: its send will not happen.
      signal?.throwIfAborted();
      const now = this.now();
      this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.last) / 1000) * this.perSecond);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await sleep(Math.ceil(((1 - this.tokens) / this.perSecond) * 1000), undefined, { signal });
    }
  }
}
