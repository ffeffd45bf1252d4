import type { Logger } from '@mailer/amqp';
import {
  isLedgerUnavailable,
  type DeliveryLedger,
  type FailureRecord,
  type SentRecord,
  type SuppressionRecord,
} from '../delivery/send-guard';
import type { Kept } from './taken';

/** How often an unreachable ledger is asked again: from `initial`, doubling to `max`. */
export interface LedgerRetryMs {
  readonly initial: number;
  readonly max: number;
}

/** What the ledger gate needs. */
export interface LedgerGateOptions<H extends Kept> {
  /** Absent (`LEDGER=off`): nothing is recorded and the gate never closes. */
  readonly ledger: DeliveryLedger | undefined;
  readonly retryMs: LedgerRetryMs;
  readonly logger: Logger;
  /** Hands a kept message back once the ledger answers. */
  readonly resume: (held: H) => void;
  /** Called whenever whether the worker may consume may have changed. */
  readonly changed: () => void;
}

/**
 * The worker's link to the ledger, and the one reason to pause it owns: while the ledger cannot be
 * reached the worker takes no messages, messages whose claim failed are kept unacked and unsent,
 * and records of sends that went out wait. The ledger is asked with `ping()`, from
 * `retryMs.initial` doubling to `retryMs.max`, until it answers; then the records are written,
 * the kept messages handed back and consuming resumes.
 */
export class LedgerGate<H extends Kept> {
  private down = false;
  private poll: NodeJS.Timeout | undefined;
  private readonly waiters: ((answered: boolean) => void)[] = [];
  private held: H[] = [];
  /** Set once the worker stopped waiting: nothing more is recorded. */
  private closed = false;

  constructor(private readonly options: LedgerGateOptions<H>) {}

  /** Messages kept until the ledger answers. */
  get waiting(): number {
    return this.held.length;
  }

  /** Whether the worker must take no messages: the ledger is unreachable, or messages wait for it. */
  get paused(): boolean {
    return this.down || this.held.length > 0;
  }

  /** Keeps a message unacked and unsent until the ledger answers. */
  keep(held: H): void {
    this.held.push(held);
    this.markDown();
    this.options.changed();
  }

  /**
   * Writes a record, asking again (after `ping()` answers) while the ledger cannot be reached.
   * Resolves true once written, or when the ledger refused it for another reason (logged: the
   * message is acked all the same, since what it records has happened); false when the gate was
   * closed first, so the message must stay unacked.
   */
  async record(record: SentRecord | FailureRecord | SuppressionRecord): Promise<boolean> {
    const ledger = this.options.ledger;
    if (ledger === undefined) return true;
    for (;;) {
      if (this.closed) return false;
      try {
        if ('kind' in record) await ledger.recordFailure(record);
        else if ('emailSuppressed' in record) await ledger.recordSuppressedAtSend(record);
        else await ledger.recordSent(record);
        return true;
      } catch (error) {
        if (!isLedgerUnavailable(error)) {
          this.options.logger.error('the ledger refused a record; acking all the same', {
            email_id: record.id,
            attempt: record.attempt,
            error: error instanceof Error ? error.message : String(error),
          });
          return true;
        }
        this.markDown(error);
        if (!(await this.answers())) return false;
      }
    }
  }

  /** Writes a failed try once, if there is a ledger, and lets any error go. */
  async recordOnce(failure: FailureRecord): Promise<void> {
    await this.options.ledger?.recordFailure(failure).catch(() => undefined);
  }

  /** Lets go of the messages whose channel closed (the broker delivers them again) and returns them. */
  drop(): H[] {
    const dropped = this.held.filter(({ taken }) => taken.closed.aborted);
    this.held = this.held.filter(({ taken }) => !taken.closed.aborted);
    return dropped;
  }

  /** Lets go of every message kept (the worker stops: they stay unacked) and hands none back. */
  clear(): void {
    this.held = [];
  }

  /** Stops asking the ledger; records still waiting give up (their messages stay unacked). */
  close(): void {
    this.closed = true;
    clearTimeout(this.poll);
    this.poll = undefined;
    for (const wake of this.waiters.splice(0)) wake(false);
  }

  /** Pauses consuming and starts asking the ledger until it answers. */
  private markDown(error?: unknown): void {
    if (this.down || this.closed || this.options.ledger === undefined) return;
    this.down = true;
    this.options.logger.warn('ledger unavailable; nothing is sent until it answers', {
      ...(error instanceof Error ? { error: error.message } : {}),
    });
    this.options.changed();
    this.pollIn(this.options.retryMs.initial);
  }

  private pollIn(inMs: number): void {
    const ledger = this.options.ledger;
    if (ledger === undefined || this.closed) return;
    this.poll = setTimeout(() => {
      this.poll = undefined;
      ledger.ping().then(
        () => this.back(),
        () => this.pollIn(Math.min(inMs * 2, this.options.retryMs.max)),
      );
    }, inMs);
  }

  /** Resolves true once the ledger answers again, false if the gate is closed first. */
  private answers(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (!this.down) return Promise.resolve(true);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The ledger answers again: finish the waiting records, hand the kept messages back, consume again. */
  private back(): void {
    if (this.closed) return;
    this.down = false;
    this.options.logger.info('ledger available again; consuming resumes');
    for (const wake of this.waiters.splice(0)) wake(true);
    const batch = this.held;
    this.held = [];
    for (const held of batch) this.options.resume(held);
    this.options.changed();
  }
}
