import {
  CALL_BUCKETS_SECONDS,
  Counter,
  Gauge,
  Histogram,
  createMetricsRegistry,
  ledgerLatencyHistogram,
  nowSeconds,
  type Registry,
} from '@mailer/service';
import type { DeliveryWorker, WorkerSettlement } from '../amqp/delivery-worker';
import type { CircuitState } from '../delivery/circuit-breaker';
import type { DeliveryOutcome, ProviderSlot } from '../delivery/failover';
import type { DeliveryLedger, InDoubtPolicy } from '../delivery/send-guard';
import { RelayMetrics } from '../events/relay-metrics';
import type { EventSettlement, EventWorker } from '../feedback/event-worker';
import type { EmailProvider } from '../providers/provider';
import { WebhookMetrics } from '../webhooks/webhook-metrics';

/** Circuit states as the `mailer_consumer_circuit_state` gauge reports them. */
export const CIRCUIT_STATE_VALUES: Readonly<Record<CircuitState, number>> = { closed: 0, 'half-open': 1, open: 2 };

/** Buckets for a provider call or a ledger query: milliseconds to the providers' timeouts. */
const CALL_BUCKETS = [...CALL_BUCKETS_SECONDS];
/** Buckets for accept-to-send: a queue that keeps up, then retries through the delay tiers. */
const ACCEPT_TO_SEND_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14_400, 86_400];

/**
 * The consumer's series (docs/metrics.md). Every label value comes from a closed set: provider
 * names from PROVIDERS, failure kinds, park reasons, retry tiers from RETRY_DELAYS, ledger methods.
 * Fed from the delivery outcome (see `HandleDeps.observe`), the worker's `settled` event and
 * wrappers around the providers and the ledger; none of them changes what they wrap.
 */
export class ConsumerMetrics {
  readonly registry: Registry;
  /** The events relay's series (src/events). */
  readonly relay: RelayMetrics;
  /** The webhook deliveries' series (fed by the webhook workers when they run). */
  readonly webhooks: WebhookMetrics;
  private readonly sent: Counter<'provider'>;
  private readonly failures: Counter<'provider' | 'kind'>;
  private readonly failovers: Counter<'from' | 'to'>;
  private readonly retries: Counter<'tier'>;
  private readonly parked: Counter<'reason'>;
  private readonly inDoubt: Counter<'policy'>;
  private readonly autoReleased: Counter<'trigger'>;
  private readonly providerLatency: Histogram<'provider' | 'outcome'>;
  private readonly acceptToSend: Histogram;
  private readonly ledgerLatency: Histogram<'operation' | 'outcome'>;
  private readonly prefetchLimit: Gauge;
  private readonly providerEvents: Counter<'provider' | 'outcome' | 'result'>;
  private readonly suppressionsAdded: Counter<'reason'>;
  private chain: readonly ProviderSlot[] = [];
  private worker: DeliveryWorker | undefined;

  constructor(options: { readonly registry?: Registry } = {}) {
    const registers = [(this.registry = options.registry ?? createMetricsRegistry('consumer'))];
    this.webhooks = new WebhookMetrics(this.registry);
    this.sent = new Counter({
      name: 'mailer_consumer_emails_sent_total',
      help: 'Emails a provider took, by provider.',
      labelNames: ['provider'],
      registers,
    });
    this.failures = new Counter({
      name: 'mailer_consumer_send_failures_total',
      help: 'Provider sends that failed, by provider and failure kind.',
      labelNames: ['provider', 'kind'],
      registers,
    });
    this.failovers = new Counter({
      name: 'mailer_consumer_failovers_total',
      help: 'Times an attempt moved on to the next provider after one failed, by from and to provider.',
      labelNames: ['from', 'to'],
      registers,
    });
    this.retries = new Counter({
      name: 'mailer_consumer_retries_total',
      help: 'Emails sent to a retry delay tier (copy confirmed, original acked), by tier.',
      labelNames: ['tier'],
      registers,
    });
    this.parked = new Counter({
      name: 'mailer_consumer_parked_total',
      help: 'Emails parked in the dead-letter queue (copy confirmed, original acked), by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.autoReleased = new Counter({
      name: 'mailer_consumer_auto_released_total',
      help: 'Parked emails sent back by automatic release (AUTO_RELEASE), copy confirmed, by trigger.',
      labelNames: ['trigger'],
      registers,
    });
    this.inDoubt = new Counter({
      name: 'mailer_consumer_in_doubt_total',
      help: 'Claims that found an earlier try claimed and never finished (it may have been sent), by IN_DOUBT policy.',
      labelNames: ['policy'],
      registers,
    });
    this.providerLatency = new Histogram({
      name: 'mailer_consumer_provider_send_duration_seconds',
      help: 'Duration of one provider send call, by provider and outcome (sent or the failure kind).',
      labelNames: ['provider', 'outcome'],
      buckets: CALL_BUCKETS,
      registers,
    });
    this.acceptToSend = new Histogram({
      name: 'mailer_consumer_accept_to_send_seconds',
      help: 'Time from the producer accepting an email to a provider taking it.',
      buckets: ACCEPT_TO_SEND_BUCKETS,
      registers,
    });
    this.providerEvents = new Counter({
      name: 'mailer_provider_events_applied_total',
      help: 'Provider events the event worker settled, by provider, outcome and result (applied, duplicate, retried, parked, ignored).',
      labelNames: ['provider', 'outcome', 'result'],
      registers,
    });
    this.suppressionsAdded = new Counter({
      name: 'mailer_suppressions_added_total',
      help: 'Suppressions provider events added to the list, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.ledgerLatency = ledgerLatencyHistogram(registers);
    this.relay = new RelayMetrics(this.registry);
    // A gauge's collect() gets the gauge as `this`; these read the worker and chain watched since.
    const watchedWorker = (): DeliveryWorker | undefined => this.worker;
    const watchedChain = (): readonly ProviderSlot[] => this.chain;
    this.prefetchLimit = new Gauge({
      name: 'mailer_consumer_prefetch_limit',
      help: 'PREFETCH: the most messages taken unsettled at once.',
      registers,
    });
    // Read at each scrape: nothing is done per message for these two.
    new Gauge({
      name: 'mailer_consumer_unsettled_messages',
      help: 'Messages taken from the work queue and not yet settled (prefetch in use), held ones included.',
      registers,
      collect() {
        const worker = watchedWorker();
        this.set(worker === undefined ? 0 : worker.busy + worker.holding + worker.waitingForLedger);
      },
    });
    new Gauge({
      name: 'mailer_consumer_circuit_state',
      help: 'Circuit state per provider: 0 closed, 1 half-open (probing), 2 open.',
      labelNames: ['provider'],
      registers,
      collect() {
        for (const slot of watchedChain())
          this.set({ provider: slot.provider.name }, CIRCUIT_STATE_VALUES[slot.circuit.state]);
      },
    });
  }

  /** Reports the circuits of this chain (read at each scrape). */
  watchChain(chain: readonly ProviderSlot[]): void {
    this.chain = chain;
  }

  /** Counts retries and parks as the worker settles them, and reads its unsettled messages at each scrape. */
  watchWorker(worker: DeliveryWorker, prefetch: number): void {
    this.worker = worker;
    this.prefetchLimit.set(prefetch);
    worker.on('settled', (settlement) => this.settled(settlement));
  }

  /** Counts the provider events the event worker settles, and the suppressions they add. */
  watchEvents(worker: EventWorker): void {
    worker.on('settled', (settlement) => this.eventSettled(settlement));
  }

  private eventSettled(settlement: EventSettlement): void {
    if (settlement.action === 'requeued' || settlement.action === 'abandoned') return;
    const { provider, outcome } = settlement.facts;
    const result =
      settlement.action === 'ack' ? settlement.result : settlement.action === 'retry' ? 'retried' : 'parked';
    this.providerEvents.inc({ provider, outcome, result });
    if (settlement.action !== 'ack') return;
    for (const reason of settlement.suppressions) this.suppressionsAdded.inc({ reason });
  }

  private settled(settlement: WorkerSettlement): void {
    if (settlement.action === 'retry') this.retries.inc({ tier: settlement.tier.routingKey });
    else if (settlement.action === 'park') this.parked.inc({ reason: settlement.reason });
  }

  /** Parked emails automatic release sent back, by what set it off. */
  observeAutoRelease(trigger: string, count: number): void {
    if (count > 0) this.autoReleased.inc({ trigger }, count);
  }

  /** One delivery attempt's outcome across the chain (`HandleDeps.observe`). */
  observeDelivery(outcome: DeliveryOutcome, acceptedAt: Date): void {
    let failed: string | undefined;
    for (const attempt of outcome.tried) {
      if (attempt.outcome === 'skipped-open-circuit') continue;
      // A provider sending again to the recipients it did not refuse is no failover.
      if (failed !== undefined && failed !== attempt.provider)
        this.failovers.inc({ from: failed, to: attempt.provider });
      if (attempt.outcome === 'sent') break;
      this.failures.inc({ provider: attempt.provider, kind: attempt.outcome });
      failed = attempt.provider;
    }
    if (outcome.kind === 'sent') {
      this.sent.inc({ provider: outcome.provider });
      this.acceptToSend.observe(Math.max(0, (Date.now() - acceptedAt.getTime()) / 1000));
    }
  }

  /** The provider with each send timed; everything else is the provider's own. */
  instrumentProvider(provider: EmailProvider): EmailProvider {
    const latency = this.providerLatency;
    const name = provider.name;
    return {
      name,
      send: async (email, signal, options) => {
        const start = nowSeconds();
        try {
          const receipt = await provider.send(email, signal, options);
          latency.observe({ provider: name, outcome: 'sent' }, nowSeconds() - start);
          return receipt;
        } catch (error) {
          const kind = (error as { kind?: unknown }).kind;
          latency.observe(
            { provider: name, outcome: typeof kind === 'string' ? kind : 'abandoned' },
            nowSeconds() - start,
          );
          throw error;
        }
      },
      ...(provider.close === undefined ? {} : { close: () => provider.close?.() ?? Promise.resolve() }),
    };
  }

  /** The ledger with each call timed, and claims that find a try in doubt counted. */
  instrumentLedger(ledger: DeliveryLedger, policy: InDoubtPolicy): DeliveryLedger {
    const time = async <T>(operation: string, call: () => Promise<T>): Promise<T> => {
      const start = nowSeconds();
      try {
        const result = await call();
        this.ledgerLatency.observe({ operation, outcome: 'ok' }, nowSeconds() - start);
        return result;
      } catch (error) {
        this.ledgerLatency.observe({ operation, outcome: 'error' }, nowSeconds() - start);
        throw error;
      }
    };
    return {
      claimAttempt: async (claim) => {
        const answer = await time('claim_attempt', () => ledger.claimAttempt(claim));
        if (answer.outcome === 'in-doubt') this.inDoubt.inc({ policy });
        return answer;
      },
      recordAccepted: (emails) => time('record_accepted', () => ledger.recordAccepted(emails)),
      recordSent: (report) => time('record_sent', () => ledger.recordSent(report)),
      recordFailure: (report) => time('record_failure', () => ledger.recordFailure(report)),
      suppressedAmong: (lists) => time('suppressed_among', () => ledger.suppressedAmong(lists)),
      recordSuppressedAtSend: (report) => time('record_suppressed', () => ledger.recordSuppressedAtSend(report)),
      ping: () => time('ping', () => ledger.ping()),
    };
  }
}
