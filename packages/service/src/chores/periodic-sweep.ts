import type { Logger } from '../log/logger';

/** What {@link PeriodicSweep} needs: one chore over up to `limit` rows, resolving with how many it did. */
export interface PeriodicSweepOptions {
  /** What the chore does, for logs: `purge expired idempotency keys`. */
  readonly task: string;
  /** What a round did, for logs: `expired idempotency keys purged`. */
  readonly result: string;
  readonly sweep: (limit: number) => Promise<number>;
  readonly logger: Logger;
  /** Log rounds that did something at info (worth an operator's eye) rather than debug. */
  readonly announce?: boolean;
  /** How often to look (default a minute). */
  readonly everyMs?: number;
  /** Rows per statement (default 1000); a full round is followed by another, up to `maxRounds`. */
  readonly limit?: number;
  readonly maxRounds?: number;
}

/**
 * A ledger chore done now and then rather than on each request: deleting expired
 * `Idempotency-Key`s, marking stale `queued` emails `abandoned` (producer), pruning old provider
 * event keys (consumer). With several processes each does it; the statements skip rows another is
 * working on. A failure (PostgreSQL out of reach) is
 * logged once per run of failures and tried again at the next tick.
 */
export class PeriodicSweep {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failing = false;

  constructor(private readonly options: PeriodicSweepOptions) {}

  /** Starts the ticks; they never keep the process alive. */
  start(): this {
    this.timer ??= setInterval(() => void this.tick(), this.options.everyMs ?? 60_000).unref();
    return this;
  }

  /** One sweep: rounds of `limit` until one is not full. Resolves with the rows done. */
  async tick(): Promise<number> {
    if (this.running !== undefined) return 0;
    let done = 0;
    const { logger, task, result } = this.options;
    const work = (async () => {
      const limit = this.options.limit ?? 1000;
      try {
        for (let round = 0; round < (this.options.maxRounds ?? 10); round++) {
          const n = await this.options.sweep(limit);
          done += n;
          if (n < limit) break;
        }
        if (this.failing) logger.info(`${result} again`);
        this.failing = false;
        if (done > 0 && this.options.announce === true) logger.info(result, { rows: done });
        else if (done > 0) logger.debug(result, { rows: done });
      } catch (error) {
        if (!this.failing) {
          logger.warn(`could not ${task}; trying again later`, {
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
    return done;
  }

  /** Stops the ticks and waits for one under way. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
