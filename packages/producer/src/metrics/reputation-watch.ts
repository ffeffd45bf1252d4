import type { ProviderReputation } from '@mailer/contract';
import type { Logger } from '@mailer/service';

/** What {@link ReputationWatch} needs. */
export interface ReputationWatchOptions {
  /** The ledger's `reputation`. */
  readonly read: (windowMs: number) => Promise<readonly ProviderReputation[]>;
  /** Where each read goes: `ProducerMetrics.observeReputation`. */
  readonly observe: (rows: readonly ProviderReputation[]) => void;
  readonly logger: Logger;
  /** The window the ratios are over (default 24 h, as the providers' own dashboards show). */
  readonly windowMs?: number;
  /** How often they are read again (default a minute). */
  readonly everyMs?: number;
}

/** The window of the reputation gauges. */
export const REPUTATION_WINDOW_MS = 24 * 60 * 60 * 1000;

/**
 * Reads each provider's recipients, hard bounces and complaints over the emails accepted in the
 * last 24 h from the ledger once a minute (not at each scrape: the read covers a day of emails)
 * and hands them to the reputation gauges, so the dashboard shows how close a provider is to its
 * review threshold (SES reviews an account past 5 % bounces or 0.1 % complaints, and may pause it
 * past 10 % or 0.5 %). A failed read leaves the last figures and is logged once per run of failures.
 */
export class ReputationWatch {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failing = false;

  constructor(private readonly options: ReputationWatchOptions) {}

  /** Reads now, then every `everyMs`; the ticks never keep the process alive. */
  start(): this {
    void this.refresh();
    this.timer ??= setInterval(() => void this.refresh(), this.options.everyMs ?? 60_000).unref();
    return this;
  }

  /** One read; resolves when the gauges hold it (or the read failed). */
  async refresh(): Promise<void> {
    if (this.running !== undefined) return this.running;
    this.running = (async () => {
      try {
        this.options.observe(await this.options.read(this.options.windowMs ?? REPUTATION_WINDOW_MS));
        if (this.failing) this.options.logger.info('provider reputation read again');
        this.failing = false;
      } catch (error) {
        if (!this.failing) {
          this.options.logger.warn('could not read provider reputation; keeping the last figures', {
            error: error instanceof Error ? error.message : String(error),
          });
        }
        this.failing = true;
      }
    })();
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
  }

  /** Stops the ticks and waits for a read under way. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
