import { LIFECYCLE_EVENT_TYPES, type LifecycleEvent, type OutboxStore } from '@mailer/contract';
import { Counter, Gauge, type Registry } from '@mailer/service';

/** How long one reading of the outbox lag serves scrapes: both gauges come from one query. */
const LAG_READ_TTL_MS = 1_000;

/**
 * The relay's series (docs/metrics.md): events published by type (a closed set), and the outbox
 * lag read from the ledger at each scrape (at most once a second), so it shows even while no relay
 * runs here. Returns the callback for {@link EventsRelayOptions.onPublished}.
 */
export function relayMetrics(
  registry: Registry,
  outbox: Pick<OutboxStore, 'lag'>,
): (events: readonly LifecycleEvent[]) => void {
  const registers = [registry];
  const published = new Counter({
    name: 'mailer_events_published_total',
    help: 'Lifecycle events the relay published to the events exchange (confirmed), by type.',
    labelNames: ['type'],
    registers,
  });
  for (const type of LIFECYCLE_EVENT_TYPES) published.inc({ type }, 0);
  let read: { at: number; lag: Promise<{ unpublished: number; oldestAgeMs: number | null }> } | undefined;
  const lag = () => {
    if (read === undefined || Date.now() - read.at > LAG_READ_TTL_MS) {
      read = { at: Date.now(), lag: outbox.lag() };
      // A failed read (the ledger down) leaves the gauges as they were; the next scrape reads again.
      read.lag.catch(() => (read = undefined));
    }
    return read.lag;
  };
  new Gauge({
    name: 'mailer_outbox_lag_seconds',
    help: 'Age of the oldest outbox event not yet published (0 when none waits).',
    registers,
    async collect() {
      const now = await lag().catch(() => undefined);
      if (now !== undefined) this.set((now.oldestAgeMs ?? 0) / 1000);
    },
  });
  new Gauge({
    name: 'mailer_outbox_unpublished_events',
    help: 'Outbox events not yet published.',
    registers,
    async collect() {
      const now = await lag().catch(() => undefined);
      if (now !== undefined) this.set(now.unpublished);
    },
  });
  return (events) => {
    for (const event of events) published.inc({ type: event.type });
  };
}
