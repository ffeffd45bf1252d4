import { LIFECYCLE_EVENT_TYPES, type LifecycleEvent, type OutboxStore } from '@mailer/contract';
import { Counter, Gauge, type Registry } from '@mailer/service';

/** How long one reading of the outbox lag serves scrapes: both gauges come from one query. */
const LAG_READ_TTL_MS = 1_000;

type Lag = Awaited<ReturnType<OutboxStore['lag']>>;

/**
 * The relay's series (docs/metrics.md): events published by type (a closed set), and the outbox
 * lag, read from the ledger when Prometheus scrapes (at most once a second) once {@link watch}
 * names the outbox; without one (LEDGER=off, EVENTS_RELAY=off) the gauges stay at 0.
 */
export class RelayMetrics {
  private readonly published: Counter<'type'>;
  private outbox: Pick<OutboxStore, 'lag'> | undefined;
  private read: { at: number; lag: Promise<Lag> } | undefined;

  constructor(registry: Registry) {
    const registers = [registry];
    this.published = new Counter({
      name: 'mailer_events_published_total',
      help: 'Lifecycle events the relay published to the events exchange (confirmed), by type.',
      labelNames: ['type'],
      registers,
    });
    for (const type of LIFECYCLE_EVENT_TYPES) this.published.inc({ type }, 0);
    // A gauge's collect() gets the gauge as `this`.
    const lag = (): Promise<Lag | undefined> => this.lag();
    new Gauge({
      name: 'mailer_outbox_lag_seconds',
      help: 'Age of the oldest outbox event not yet published (0 when none waits).',
      registers,
      async collect() {
        const now = await lag();
        if (now !== undefined) this.set((now.oldestAgeMs ?? 0) / 1000);
      },
    });
    new Gauge({
      name: 'mailer_outbox_unpublished_events',
      help: 'Outbox events not yet published.',
      registers,
      async collect() {
        const now = await lag();
        if (now !== undefined) this.set(now.unpublished);
      },
    });
  }

  /** Reads the lag of `outbox` at each scrape from now on. */
  watch(outbox: Pick<OutboxStore, 'lag'>): void {
    this.outbox = outbox;
  }

  /** Counts a batch the broker confirmed. */
  observe(events: readonly LifecycleEvent[]): void {
    for (const event of events) this.published.inc({ type: event.type });
  }

  /** The lag, one query per second at most; undefined when unknown (the ledger down: the gauges keep their values). */
  private async lag(): Promise<Lag | undefined> {
    const outbox = this.outbox;
    if (outbox === undefined) return undefined;
    if (this.read === undefined || Date.now() - this.read.at > LAG_READ_TTL_MS) {
      this.read = { at: Date.now(), lag: outbox.lag() };
    }
    const read = this.read;
    try {
      return await read.lag;
    } catch {
      if (this.read === read) this.read = undefined;
      return undefined;
    }
  }
}
