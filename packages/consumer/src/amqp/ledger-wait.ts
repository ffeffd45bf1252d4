import type { Logger } from '@mailer/amqp';
import type { LedgerRetryMs } from './ledger-gate';
import type { Kept } from './taken';

/** What the ledger wait needs. */
export interface LedgerWaitOptions<H extends Kept> {
  /** Asks the ledger whether it answers (`Ledger.ping`). */
  readonly ping: () => Promise<void>;
  readonly retryMs: LedgerRetryMs;
  readonly logger: Logger;
  /** Hands a kept message back once the ledger answers. */
  readonly resume: (held: H) => void;
  /** Called whenever whether the worker may consume may have changed. */
  readonly changed: () => void;
  /** What waits, as the log lines name it; `provider events` when absent. */
  readonly subject?: string;
}

/**
 * The event worker's counterpart of the delivery worker's `LedgerGate` (which also writes the
 * delivery records, and this needs none): while the ledger cannot be reached the worker takes no
 * events, and those it has are kept unacked. The ledger is asked with `ping()`, from
 * `retryMs.initial` doubling to `retryMs.max`, until it answers; then the kept events are handed
 * back and consuming resumes. Nothing is requeued meanwhile, so an outage spends no event's
 * delivery limit.
 */
export class LedgerWait<H extends Kept> {
  private down = false;
  private poll: NodeJS.Timeout | undefined;
  private held: H[] = [];
  /** Set once the worker stopped: nothing is asked or handed back any more. */
  private closed = false;

  constructor(private readonly options: LedgerWaitOptions<H>) {}

  /** Events kept until the ledger answers. */
  get waiting(): number {
    return this.held.length;
  }

  /** Whether the worker must take no events: the ledger is unreachable, or events wait for it. */
  get paused(): boolean {
    return this.down || this.held.length > 0;
  }

  /** Keeps an event unacked until the ledger answers, and starts asking it if not already. */
  keep(held: H, error: unknown): void {
    this.held.push(held);
    if (!this.down && !this.closed) {
      this.down = true;
      this.options.logger.warn(
        `ledger unavailable; ${this.options.subject ?? 'provider events'} wait until it answers`,
        {
          ...(error instanceof Error ? { error: error.message } : {}),
        },
      );
      this.pollIn(this.options.retryMs.initial);
    }
    this.options.changed();
  }

  /** Lets go of the events whose channel closed (the broker delivers them again) and returns them. */
  drop(): H[] {
    const dropped = this.held.filter(({ taken }) => taken.closed.aborted);
    this.held = this.held.filter(({ taken }) => !taken.closed.aborted);
    return dropped;
  }

  /** Stops asking the ledger and lets go of every event kept (they stay unacked: the broker redelivers them). */
  close(): H[] {
    this.closed = true;
    clearTimeout(this.poll);
    this.poll = undefined;
    const kept = this.held;
    this.held = [];
    return kept;
  }

  private pollIn(inMs: number): void {
    if (this.closed) return;
    this.poll = setTimeout(() => {
      this.poll = undefined;
      this.options.ping().then(
        () => this.back(),
        () => this.pollIn(Math.min(inMs * 2, this.options.retryMs.max)),
      );
    }, inMs);
  }

  private back(): void {
    if (this.closed) return;
    this.down = false;
    this.options.logger.info(`ledger available again; ${this.options.subject ?? 'provider events'} resume`);
    const batch = this.held;
    this.held = [];
    for (const held of batch) this.options.resume(held);
    this.options.changed();
  }
}
