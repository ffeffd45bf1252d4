import { Counter, Gauge, Histogram, type Registry } from '@mailer/service';
import type { WebhookDeliveryOutcome, WebhookDisabledReason } from '@mailer/contract';

/** Buckets for one delivery's POST: milliseconds to the 15 s timeout and past it. */
const DELIVERY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60];

/** What the endpoints-by-state gauge reads (the store's `endpointCounts`). */
export type EndpointCounts = () => Promise<{ readonly enabled: number; readonly disabled: number }>;

/**
 * The webhook deliveries' series (docs/metrics.md). Registered with the consumer's other series
 * whether or not webhooks run, so a dashboard finds them at zero.
 */
export class WebhookMetrics {
  private readonly deliveries: Counter<'outcome'>;
  private readonly duration: Histogram;
  private readonly disabled: Counter<'reason'>;
  private counts: EndpointCounts | undefined;

  constructor(registry: Registry) {
    const registers = [registry];
    this.deliveries = new Counter({
      name: 'mailer_webhook_deliveries_total',
      help: 'Webhook delivery tries by outcome (succeeded, retrying, parked, skipped).',
      labelNames: ['outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'mailer_webhook_delivery_duration_seconds',
      help: 'One webhook POST, from the request to the end of the answer (or the failure).',
      buckets: DELIVERY_BUCKETS,
      registers,
    });
    this.disabled = new Counter({
      name: 'mailer_webhook_endpoints_disabled_total',
      help: 'Webhook endpoints the delivery workers disabled, by reason (failing, gone).',
      labelNames: ['reason'],
      registers,
    });
    // A gauge's collect() gets the gauge as `this`; it reads the counts watched since.
    const watchedCounts = (): EndpointCounts | undefined => this.counts;
    new Gauge({
      name: 'mailer_webhook_endpoints',
      help: 'Webhook endpoints of every client by state (enabled, disabled), read from the ledger at each scrape.',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = watchedCounts();
        if (counts === undefined) return;
        try {
          const { enabled, disabled } = await counts();
          this.set({ state: 'enabled' }, enabled);
          this.set({ state: 'disabled' }, disabled);
        } catch {
          // The ledger is out of reach: the last figures stay (a scrape must not fail for it).
        }
      },
    });
  }

  /** The gauge reads endpoint counts from here (set when webhooks run). */
  watchEndpoints(counts: EndpointCounts): void {
    this.counts = counts;
  }

  observeDelivery(outcome: WebhookDeliveryOutcome, durationMs: number | null): void {
    this.deliveries.inc({ outcome });
    if (durationMs !== null) this.duration.observe(durationMs / 1000);
  }

  observeDisabled(reason: WebhookDisabledReason): void {
    this.disabled.inc({ reason });
  }
}
