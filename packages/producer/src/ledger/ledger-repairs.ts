import type { Logger } from '@mailer/service';
import { LedgerOutageError, type EmailLedger, type LedgerRepair } from '../domain/email-ledger';

/** What {@link LedgerRepairs} needs. */
export interface LedgerRepairsOptions {
  readonly ledger: Pick<EmailLedger, 'discardUnpublished' | 'releaseKey'>;
  readonly logger: Logger;
  /** Repairs kept at most; past it the oldest is dropped with a warning (default 10,000). */
  readonly maxPending?: number;
  /** First wait before trying again, doubled after each failed round up to `maxDelayMs` (default 250 ms). */
  readonly firstDelayMs?: number;
  /** Longest wait between rounds (default 5 s). */
  readonly maxDelayMs?: number;
}

/**
 * The ledger writes that undo what a refused request left behind, kept until the ledger answers
 * again. A request answered 503 may have left rows in the ledger although nothing was published:
 * its `INSERT` committed but the answer was lost (PostgreSQL crashed or went silent), or the broker
 * refused the publish while the ledger was out of reach. Those rows would show as `queued` for
 * ever, and the `Idempotency-Key` would stay taken until it goes stale, so the caller's retry got
 * 409 for a minute. Each repair is tried again, first after `firstDelayMs`, then at growing
 * intervals up to `maxDelayMs`, until the ledger answers: rows still `queued` with no try are
 * deleted (`discardUnpublished` never touches an email a consumer has claimed) and the key is
 * released for the caller's retry to take over at once. The list lives in memory: a producer that
 * stops before the ledger comes back leaves them, and the key goes stale as before.
 */
export class LedgerRepairs {
  private readonly pending: LedgerRepair[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private delayMs: number;
  private stopped = false;

  constructor(private readonly options: LedgerRepairsOptions) {
    this.delayMs = options.firstDelayMs ?? 250;
  }

  /** Repairs not done yet. */
  get size(): number {
    return this.pending.length;
  }

  /** Keeps a repair and makes sure a round is due. */
  add(repair: LedgerRepair): void {
    if (this.stopped || (repair.discard.length === 0 && repair.release === undefined)) return;
    const max = this.options.maxPending ?? 10_000;
    if (this.pending.length >= max) {
      this.pending.shift();
      this.options.logger.warn('ledger repairs full; dropped the oldest (its key goes stale instead)', { max });
    }
    if (this.pending.length === 0) {
      this.options.logger.warn('ledger out of reach after a refused request; will undo its records when it answers');
    }
    this.pending.push(repair);
    this.schedule();
  }

  /** One round: every pending repair, in order, until the ledger fails. Resolves with those done. */
  async round(): Promise<number> {
    if (this.running !== undefined) return 0;
    let done = 0;
    const work = (async () => {
      while (this.pending.length > 0) {
        const repair = this.pending[0] as LedgerRepair;
        try {
          await this.apply(repair);
        } catch (error) {
          if (error instanceof LedgerOutageError) return;
          this.options.logger.error('a ledger repair failed; dropped', {
            error: error instanceof Error ? error.message : String(error),
          });
        }
        this.pending.shift();
        done += 1;
      }
    })();
    this.running = work;
    try {
      await work;
    } finally {
      this.running = undefined;
    }
    if (done > 0 && this.pending.length === 0) {
      this.options.logger.info('ledger repairs done', { repairs: done });
    }
    return done;
  }

  /** Stops the rounds and waits for one under way; repairs left are dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async apply(repair: LedgerRepair): Promise<void> {
    // First the rows, then the key: a retry that takes the key over must not find them.
    if (repair.discard.length > 0) await this.options.ledger.discardUnpublished(repair.discard);
    // false means it was taken over meanwhile (it went stale), which is what releasing was for.
    if (repair.release !== undefined) await this.options.ledger.releaseKey(repair.release);
  }

  private schedule(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.round().then((done) => {
        if (this.pending.length === 0) {
          this.delayMs = this.options.firstDelayMs ?? 250;
          return;
        }
        // Progress resets the wait; a round that did nothing waits longer.
        this.delayMs =
          done > 0 ? (this.options.firstDelayMs ?? 250) : Math.min(this.delayMs * 2, this.options.maxDelayMs ?? 5000);
        this.schedule();
      });
    }, this.delayMs).unref();
  }
}
