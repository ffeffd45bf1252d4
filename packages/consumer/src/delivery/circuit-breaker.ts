/** When a provider's circuit opens and how long it rests. */
export interface CircuitOptions {
  /** Consecutive transient failures that open the circuit. */
  readonly failureThreshold: number;
  /** How long an open circuit stays open before one probe is let through. */
  readonly coolDownMs: number;
  readonly now?: () => number;
}

/** `closed`: sending; `open`: resting after failures; `half-open`: one probe in flight. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/**
 * A circuit per provider: opens after repeated failures (or at once when the provider says it
 * cannot send at all), lets one probe through after a cool-down, and closes by itself when the
 * probe succeeds. It heals without a restart. Pure: time comes from `now`.
 */
export class CircuitBreaker {
  private current: CircuitState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private readonly now: () => number;
  private readonly closeListeners: (() => void)[] = [];

  constructor(private readonly options: CircuitOptions) {
    this.now = options.now ?? Date.now;
  }

  get state(): CircuitState {
    return this.current;
  }

  /**
   * Whether a send may go to this provider now. After the cool-down the first caller gets the
   * probe (the circuit turns half-open); others are refused until the probe's result is in.
   */
  tryAcquire(): boolean {
    if (this.current === 'closed') return true;
    if (this.current === 'open' && this.now() - this.openedAt >= this.options.coolDownMs) {
      this.current = 'half-open';
      return true;
    }
    return false;
  }

  /**
   * How long until a send may go to this provider: 0 while closed (or once the cool-down is over),
   * the rest of the cool-down while open, and `undefined` while a probe is out (its result decides).
   */
  probeDueInMs(): number | undefined {
    if (this.current === 'closed') return 0;
    if (this.current === 'half-open') return undefined;
    return Math.max(0, this.openedAt + this.options.coolDownMs - this.now());
  }

  /**
   * The probe let through by {@link tryAcquire} was never sent (it was abandoned): the circuit is
   * open again with its cool-down over, so the next caller gets the probe.
   */
  cancelProbe(): void {
    if (this.current === 'half-open') this.current = 'open';
  }

  /**
   * Calls `listener` each time the circuit closes again (a success after it had opened), after
   * the state changed. Listeners must not throw.
   */
  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  /** The provider took an email, or refused it for a reason about the email alone: it works. */
  recordSuccess(): void {
    const reopened = this.current !== 'closed';
    this.current = 'closed';
    this.failures = 0;
    if (reopened) for (const listener of this.closeListeners) listener();
  }

  /** A transient failure: the circuit opens after `failureThreshold` in a row, or if it was probing. */
  recordFailure(): void {
    this.failures += 1;
    if (this.current === 'half-open' || this.failures >= this.options.failureThreshold) this.open();
  }

  /** The provider cannot send at all (bad credentials, sending paused): open now. */
  open(): void {
    this.current = 'open';
    this.openedAt = this.now();
  }
}
