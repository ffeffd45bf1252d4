/**
 * What set a release off. `circuit-closed`: a provider's circuit closed again; `sending`: a send
 * succeeded since the last look; `probe`: nothing is known to work, so one parked email is sent
 * back to find out.
 */
export type ReleaseTrigger = 'circuit-closed' | 'sending' | 'probe';

/** What one release did. */
export interface ReleaseRun {
  readonly released: number;
  /** Releasable mail may still be parked (the run was bounded). */
  readonly more: boolean;
}

export interface ReleaseScheduleOptions {
  /** Sends releasable parked emails back: every one (`limit` undefined), or at most `limit`. */
  readonly release: (trigger: ReleaseTrigger, limit: number | undefined) => Promise<ReleaseRun>;
  /** How often to look while releasable mail may be parked. */
  readonly intervalMs: number;
  /** A release failed; it is tried again at the next trigger. Must not throw. */
  readonly onError: (error: unknown, trigger: ReleaseTrigger) => void;
}

/**
 * When automatic release runs. Pure but for its timer: the consumer tells it what happens (a
 * circuit closed again, an email sent, a releasable email parked) and it decides.
 *
 * - A circuit closing again releases everything releasable at once.
 * - Every `intervalMs`, if releasable mail may be parked: everything when a send succeeded since
 *   the last look, else one email, the oldest, as a probe (with nothing sent, no circuit would
 *   ever be tried again; the probe's send closes one if the provider is back).
 * - It looks only while releasable mail may be parked: at start (unknown), after this consumer
 *   parked some, after a bounded run (a probe) and after a failed one. A run that released
 *   everything clears it.
 * - One run at a time; a trigger during a run runs once more after it.
 */
export class ReleaseSchedule {
  private pending = true;
  private sentSinceLook = false;
  private running: Promise<void> | undefined;
  private queued: ReleaseTrigger | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: ReleaseScheduleOptions) {}

  start(): void {
    this.timer ??= setInterval(() => this.look(), this.options.intervalMs);
    this.timer.unref();
  }

  /** A releasable email was parked by this consumer. */
  parked(): void {
    this.pending = true;
  }

  /** An email was sent. */
  sent(): void {
    this.sentSinceLook = true;
  }

  /** A provider's circuit closed again. */
  circuitClosed(): void {
    this.run('circuit-closed');
  }

  /** The periodic look (the timer calls it). */
  look(): void {
    if (!this.pending) return;
    const trigger = this.sentSinceLook ? 'sending' : 'probe';
    this.sentSinceLook = false;
    this.run(trigger);
  }

  /** The run under way, if any (for tests and shutdown). */
  get idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** No more runs; resolves when the one under way has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  private run(trigger: ReleaseTrigger): void {
    if (this.stopped) return;
    if (this.running !== undefined) {
      if (this.queued === undefined || this.queued === 'probe') this.queued = trigger;
      return;
    }
    const limit = trigger === 'probe' ? 1 : undefined;
    this.running = (async () => {
      try {
        const { more } = await this.options.release(trigger, limit);
        this.pending = more;
      } catch (error) {
        this.pending = true;
        this.options.onError(error, trigger);
      }
    })().finally(() => {
      this.running = undefined;
      const next = this.queued;
      this.queued = undefined;
      if (next !== undefined) this.run(next);
    });
  }
}
