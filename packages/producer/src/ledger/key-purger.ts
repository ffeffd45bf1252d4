import type { Logger } from '@mailer/service';

/** What {@link KeyPurger} needs: delete up to `limit` expired keys, resolving with how many went. */
export interface KeyPurgerOptions {
  readonly purge: (limit: number) => Promise<number>;
  readonly logger: Logger;
  /** How often to look (default a minute). */
  readonly everyMs?: number;
  /** Keys per statement (default 1000); a full round is followed by another, up to `maxRounds`. */
  readonly limit?: number;
  readonly maxRounds?: number;
}

/**
 * Deletes expired `Idempotency-Key`s now and then, so the table holds about a TTL's worth of keys.
 * An expired key is reserved afresh anyway: this only keeps the table small. With several
 * producers each purges; the statement skips rows another is deleting. A failure (PostgreSQL out
 * of reach) is logged once per run of failures and tried again at the next tick.
 */
export class KeyPurger {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failing = false;

  constructor(private readonly options: KeyPurgerOptions) {}

  /** Starts the ticks; they never keep the process alive. */
  start(): this {
    this.timer ??= setInterval(() => void this.tick(), this.options.everyMs ?? 60_000).unref();
    return this;
  }

  /** One purge: rounds of `limit` until one is not full. Resolves with the keys deleted. */
  async tick(): Promise<number> {
    if (this.running !== undefined) return 0;
    let deleted = 0;
    const work = (async () => {
      const limit = this.options.limit ?? 1000;
      try {
        for (let round = 0; round < (this.options.maxRounds ?? 10); round++) {
          const n = await this.options.purge(limit);
          deleted += n;
          if (n < limit) break;
        }
        if (this.failing) this.options.logger.info('expired idempotency keys purged again');
        this.failing = false;
        if (deleted > 0) this.options.logger.debug('expired idempotency keys purged', { deleted });
      } catch (error) {
        if (!this.failing) {
          this.options.logger.warn('could not purge expired idempotency keys; trying again later', {
            error: error instanceof Error ? error.message : String(error),
          });
        }
        this.failing = true;
      }
    })();
    this.running = work;
    try {
      await work;
    } finally {
      this.running = undefined;
    }
    return deleted;
  }

  /** Stops the ticks and waits for one under way. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
