import type { Logger } from '@mailer/amqp';
import type { Kept } from './taken';

/**
 * Longest a message is kept unacked while no provider is usable. RabbitMQ closes the channel of a
 * consumer holding a delivery past its `consumer_timeout` (30 minutes by default); a message kept
 * longer than this goes the retry route instead.
 */
export const DEFAULT_MAX_HOLD_MS = 10 * 60_000;

/** What the provider hold needs. */
export interface ProviderHoldOptions<H extends Kept> {
  /** See {@link DEFAULT_MAX_HOLD_MS}. */
  readonly maxHoldMs: number;
  readonly logger: Logger;
  /** Hands a kept message back to be handled again; `done` is to be called once that handling ended. */
  readonly resume: (held: H, done: () => void) => void;
  /** Called whenever whether the worker may consume may have changed. */
  readonly changed: () => void;
}

/**
 * The messages kept unacked, unsent and uncounted while no provider is usable (every circuit
 * open), and the one reason to pause it owns: while it keeps any, or hands them back, the worker
 * takes no more, so the rest wait in the work queue without spending their delivery limit. They
 * are handed back when the first circuit lets a probe through; one of them gets the probe, the
 * others see it out and are kept again, until its result is in.
 */
export class ProviderHold<H extends Kept> {
  private held: H[] = [];
  /** Kept messages handed back and still being handled. */
  private rehandling = 0;
  private wake: { readonly timer: NodeJS.Timeout; readonly at: number } | undefined;

  constructor(private readonly options: ProviderHoldOptions<H>) {}

  /** Messages kept now. */
  get holding(): number {
    return this.held.length;
  }

  /** Whether the worker must take no messages: it keeps some, or some handed back are being handled. */
  get paused(): boolean {
    return this.held.length > 0 || this.rehandling > 0;
  }

  /** Whether a message may be kept (again), or has been kept for {@link ProviderHoldOptions.maxHoldMs} already. */
  mayKeep(taken: { heldSince?: number }): boolean {
    const now = Date.now();
    taken.heldSince ??= now;
    return now - taken.heldSince < this.options.maxHoldMs;
  }

  /** Keeps a message until a provider may be usable, in `resumeInMs`. */
  keep(held: H, resumeInMs: number): void {
    const first = !this.paused;
    this.held.push(held);
    this.scheduleWake(resumeInMs);
    if (first) {
      this.options.logger.warn('no provider is usable; holding messages until a circuit lets a probe through', {
        resume_in_ms: resumeInMs,
      });
    }
    this.options.changed();
  }

  /** Lets go of the messages whose channel closed (the broker delivers them again) and returns them. */
  drop(): H[] {
    const dropped = this.held.filter(({ taken }) => taken.closed.aborted);
    this.held = this.held.filter(({ taken }) => !taken.closed.aborted);
    if (this.held.length === 0) this.clearWake();
    return dropped;
  }

  /** Lets go of every message kept (the worker stops: they stay unacked) and hands none back. */
  clear(): void {
    this.clearWake();
    this.held = [];
  }

  private scheduleWake(inMs: number): void {
    const at = Date.now() + inMs;
    if (this.wake !== undefined && this.wake.at <= at) return;
    this.clearWake();
    this.wake = { timer: setTimeout(() => this.wakeUp(), inMs), at };
  }

  private clearWake(): void {
    if (this.wake !== undefined) clearTimeout(this.wake.timer);
    this.wake = undefined;
  }

  /** Hands every kept message back. Consuming resumes once a round ends with nothing kept. */
  private wakeUp(): void {
    this.wake = undefined;
    const batch = this.held;
    this.held = [];
    this.rehandling += batch.length;
    for (const held of batch) {
      this.options.resume(held, () => {
        this.rehandling -= 1;
        this.options.changed();
      });
    }
  }
}
