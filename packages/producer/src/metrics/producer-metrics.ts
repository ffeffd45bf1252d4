import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ProviderReputation } from '@mailer/contract';
import {
  CALL_BUCKETS_SECONDS,
  Counter,
  Gauge,
  Histogram,
  createMetricsRegistry,
  ledgerLatencyHistogram,
  metricsHandler,
  nowSeconds,
  timeMethods,
  type Registry,
} from '@mailer/service';
import type { EmailLedger } from '../domain/email-ledger';
import type { EmailPublisher } from '../domain/publisher';

const CALL_BUCKETS = [...CALL_BUCKETS_SECONDS];
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** The EmailLedger calls timed, by name. */
const LEDGER_OPERATIONS = [
  'reserveKeyAndRecord',
  'recordAccepted',
  'completeKey',
  'releaseKey',
  'discardUnpublished',
  'getEmail',
  'listEmails',
] as const satisfies readonly (keyof EmailLedger)[];

/** `completeKey` → `complete_key`: the ledger operation labels both services use. */
const OPERATION_LABELS: ReadonlyMap<string, string> = new Map(
  LEDGER_OPERATIONS.map((name) => [name, name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)]),
);

/**
 * The producer's series (docs/metrics.md): HTTP requests by route template and status, publish
 * latency and failures by reason, ledger latency by operation. Route labels are the templates
 * Express matched (`/v1/emails/:id`), never the raw path, so ids cannot multiply series.
 */
export class ProducerMetrics {
  readonly registry: Registry;
  private readonly requests: Histogram<'method' | 'route' | 'status'>;
  private readonly publishLatency: Histogram<'outcome'>;
  private readonly publishFailures: Counter<'reason'>;
  private readonly ledgerLatency: Histogram<'operation' | 'outcome'>;
  private readonly providerEvents: Counter<'provider' | 'type' | 'result'>;
  private readonly suppressedAtIntake: Counter;
  private readonly reputationRecipients: Gauge<'provider'>;
  private readonly hardBounceRatio: Gauge<'provider'>;
  private readonly complaintRatio: Gauge<'provider'>;

  constructor(options: { readonly registry?: Registry } = {}) {
    const registers = [(this.registry = options.registry ?? createMetricsRegistry('producer'))];
    this.requests = new Histogram({
      name: 'mailer_http_request_duration_seconds',
      help: 'HTTP requests answered, by method, route template and status code.',
      labelNames: ['method', 'route', 'status'],
      buckets: CALL_BUCKETS,
      registers,
    });
    this.publishLatency = new Histogram({
      name: 'mailer_producer_publish_duration_seconds',
      help: 'Time from publishing an email to the broker confirming it (or the publish failing), by outcome.',
      labelNames: ['outcome'],
      buckets: CALL_BUCKETS,
      registers,
    });
    this.publishFailures = new Counter({
      name: 'mailer_producer_publish_failures_total',
      help: 'Publishes the broker did not confirm, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.ledgerLatency = ledgerLatencyHistogram(registers);
    this.providerEvents = new Counter({
      name: 'mailer_provider_events_received_total',
      help: 'Provider events received, by provider, event type and result (queued, ignored, refused, failed).',
      labelNames: ['provider', 'type', 'result'],
      registers,
    });
    this.suppressedAtIntake = new Counter({
      name: 'mailer_intake_suppressed_recipients_total',
      help: 'Recipients left out of accepted emails because they are on the suppression list (suppression hits at intake).',
      registers,
    });
    this.reputationRecipients = new Gauge({
      name: 'mailer_provider_reputation_recipients',
      help: 'Recipients of the emails accepted in the last 24 h that each provider took (the ratios are over these).',
      labelNames: ['provider'],
      registers,
    });
    this.hardBounceRatio = new Gauge({
      name: 'mailer_provider_hard_bounce_ratio',
      help: 'Share of those recipients that hard-bounced so far, by provider.',
      labelNames: ['provider'],
      registers,
    });
    this.complaintRatio = new Gauge({
      name: 'mailer_provider_complaint_ratio',
      help: 'Share of those recipients that complained so far, by provider.',
      labelNames: ['provider'],
      registers,
    });
    this.handler = metricsHandler(this.registry);
  }

  /**
   * Sets the reputation gauges from one read of the ledger (`ReputationWatch`): a provider with no
   * recipient in the window has no ratio, and one gone from the window drops out.
   */
  observeReputation(rows: readonly ProviderReputation[]): void {
    for (const gauge of [this.reputationRecipients, this.hardBounceRatio, this.complaintRatio]) gauge.reset();
    for (const row of rows) {
      const labels = { provider: row.provider };
      this.reputationRecipients.set(labels, row.recipients);
      if (row.recipients === 0) continue;
      this.hardBounceRatio.set(labels, row.hardBounced / row.recipients);
      this.complaintRatio.set(labels, row.complained / row.recipients);
    }
  }

  /** `GET /metrics`. */
  readonly handler: RequestHandler;

  /** Times each request and labels it, once answered, with the route template Express matched. */
  readonly middleware: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    const start = nowSeconds();
    res.once('finish', () => {
      const template = (req.route as { path?: unknown } | undefined)?.path;
      this.requests.observe(
        {
          method: METHODS.has(req.method) ? req.method : 'OTHER',
          route: typeof template === 'string' ? `${req.baseUrl}${template}` : 'unmatched',
          status: String(res.statusCode),
        },
        nowSeconds() - start,
      );
    });
    next();
  };

  /** Counts recipients an accepted email left out as suppressed. */
  readonly countSuppressedAtIntake = (recipients: number): void => {
    this.suppressedAtIntake.inc(recipients);
  };

  /** Counts one provider event received; `type` comes from a closed list (see the routes). */
  readonly countProviderEvent = (provider: string, type: string, result: string): void => {
    this.providerEvents.inc({ provider, type, result });
  };

  /** The publisher with each publish timed and each failure counted by its `PublishError` reason. */
  instrumentPublisher(publisher: EmailPublisher): EmailPublisher {
    return {
      publish: async (email) => {
        const start = nowSeconds();
        try {
          await publisher.publish(email);
          this.publishLatency.observe({ outcome: 'confirmed' }, nowSeconds() - start);
        } catch (error) {
          this.publishLatency.observe({ outcome: 'failed' }, nowSeconds() - start);
          const reason = (error as { reason?: unknown }).reason;
          this.publishFailures.inc({ reason: typeof reason === 'string' ? reason : 'error' });
          throw error;
        }
      },
    };
  }

  /** The ledger with each call timed; its other members (`readiness()`) are its own. */
  instrumentLedger<T extends EmailLedger>(ledger: T): T {
    return timeMethods(ledger, LEDGER_OPERATIONS, (method, seconds, failed) =>
      this.ledgerLatency.observe(
        { operation: OPERATION_LABELS.get(method) ?? method, outcome: failed ? 'error' : 'ok' },
        seconds,
      ),
    );
  }
}
