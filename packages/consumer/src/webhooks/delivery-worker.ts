import { EventEmitter } from 'node:events';
import type { ConsumeMessage } from 'amqplib';
import {
  WEBHOOK_TEST_EVENT_TYPE,
  WEBHOOK_WAIT_ROUTING_KEY,
  WebhookDeliveryHeaders,
  type SigningEndpoint,
  type Topology,
  type WebhookDeliveryMessage,
  type WebhookDeliveryOutcome,
  type WebhookDeliveryReport,
  type WebhookDisabledReason,
  type WebhookStore,
  WEBHOOK_WAIT_DELAY_MS,
} from '@mailer/contract';
import type { BrokerConnection, ConfirmPublisher, Logger, OutgoingMessage } from '@mailer/amqp';
import { copiedProperties } from '@mailer/dead-letters';
import { Batcher, isUnavailable } from '@mailer/ledger';
import { LedgerBoundConsumer } from '../amqp/ledger-bound-consumer';
import type { Taken } from '../amqp/taken';
import { EndpointSlots } from './endpoint-slots';
import { LEDGER_RETRY_MS } from './fan-out-worker';
import { decodeDelivery } from './messages';
import { postWebhook, type PostOptions, type PostResult } from './post';
import { classifyStatus, parseRetryAfter, retryTierFor } from './schedule';
import { settle, undecodableCopy } from './settle';
import { signatureHeaders } from './signature';
import { TtlCache } from './ttl-cache';

/** How the delivery worker runs. */
export interface WebhookDeliveryWorkerOptions {
  /** The webhooks' own connection. */
  readonly broker: BrokerConnection;
  readonly publisher: ConfirmPublisher;
  readonly topology: Topology;
  /** Deliveries taken unacked at once (`WEBHOOK_PREFETCH`). */
  readonly prefetch: number;
  /** Requests in flight to one endpoint at most (`WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT`). */
  readonly maxInFlightPerEndpoint: number;
  /** The retry schedule (`WEBHOOK_RETRY_DELAYS`): one entry per retry, in order. */
  readonly retryDelaysMs: readonly number[];
  /** A failing endpoint is disabled once its failures span this long (`WEBHOOK_DISABLE_AFTER`). */
  readonly disableAfterMs: number;
  readonly store: Pick<WebhookStore, 'signingEndpoint' | 'recordDeliveries'>;
  /** Asked until it answers while the ledger is out of reach (meanwhile deliveries are kept unacked). */
  readonly ping: () => Promise<void>;
  /** Guard, timeout, user agent and connections of the POSTs. */
  readonly post: PostOptions;
  readonly logger: Logger;
  /** How long an endpoint and its secrets are kept; 2 s when absent. */
  readonly cacheMs?: number;
  readonly now?: () => Date;
  /** Told of each try's outcome and POST duration, and of each endpoint this worker disabled (metrics). */
  readonly observe?: {
    delivery(outcome: WebhookDeliveryOutcome, durationMs: number | null): void;
    disabled(reason: WebhookDisabledReason): void;
  };
}

/** What became of a delivery message. */
export type WebhookSettlement =
  | { readonly action: 'tried'; readonly report: WebhookDeliveryReport }
  /** Its endpoint had as many deliveries in flight as it may: sent to the wait queue. */
  | { readonly action: 'waited'; readonly deliveryId: string }
  | { readonly action: 'parked-undecodable'; readonly problem: string }
  | { readonly action: 'requeued' }
  | { readonly action: 'abandoned' };

/** Endpoints kept at once by the signing-endpoint cache. */
const CACHE_ENTRIES = 10_000;

/**
 * How long a delivery over its endpoint's bound may wait in the worker for a slot, and how long a
 * request may be in flight before its endpoint counts as slow (its next deliveries then go to the
 * wait queue at once): the wait queue's own delay.
 */
const HOLD_MS = WEBHOOK_WAIT_DELAY_MS;

/**
 * Sends webhook deliveries (docs/events.md, "Webhook deliveries"): consumes the deliveries queue
 * with manual acks, signs each with the endpoint's current secrets and POSTs it through the SSRF
 * guard; then acks, or first publishes (confirmed) the retry copy to the tier of the schedule or
 * the park copy to the dead exchange. Every try is recorded in the ledger, in batches. At most
 * `maxInFlightPerEndpoint` requests go to one endpoint at once; a delivery over the bound waits for
 * a slot in the worker while the endpoint keeps up, and in the wait queue (no try counted) once it
 * does not ({@link EndpointSlots}), so a slow endpoint holds only its own deliveries.
 */
export class WebhookDeliveryWorker extends EventEmitter<{ settled: [WebhookSettlement] }> {
  private readonly consumer: LedgerBoundConsumer;
  private readonly slots: EndpointSlots;
  private readonly signing: TtlCache<SigningEndpoint | undefined>;
  private readonly recorder: Batcher<WebhookDeliveryReport, undefined>;

  constructor(private readonly options: WebhookDeliveryWorkerOptions) {
    super();
    const { topology, prefetch, logger, store } = options;
    this.signing = new TtlCache(options.cacheMs ?? 2_000, CACHE_ENTRIES);
    this.slots = new EndpointSlots(options.maxInFlightPerEndpoint, HOLD_MS);
    // One batch at a time: the tries that end while it is written go in the next one, so the
    // ledger gets a few statements of many rows instead of one per try (PostgreSQL's share of
    // a delivery's cost; docs/benchmarks.md).
    this.recorder = new Batcher({
      maxItems: 500,
      maxConcurrent: 1,
      run: async (reports) => {
        const disabled = await store.recordDeliveries(reports, { disableAfterMs: options.disableAfterMs });
        for (const { endpointId, reason } of disabled) {
          this.signing.delete(endpointId);
          options.observe?.disabled(reason);
          logger.warn('webhook endpoint disabled', { endpoint_id: endpointId, reason });
        }
        return reports.map(() => undefined);
      },
    });
    // While the ledger is out of reach deliveries are kept unacked (nothing is sent unrecorded, no
    // delivery limit is spent) and consuming pauses until it answers.
    this.consumer = new LedgerBoundConsumer({
      broker: options.broker,
      topology,
      queue: topology.webhookDeliveriesQueue.name,
      prefetch,
      logger,
      ping: options.ping,
      retryMs: LEDGER_RETRY_MS,
      subject: 'webhook deliveries',
      process: (taken) => this.process(taken),
      abandoned: (taken) => this.finish(taken, { action: 'abandoned' }),
    });
  }

  start(): void {
    this.consumer.start();
  }

  /** Deliveries being handled now. */
  get busy(): number {
    return this.consumer.busy;
  }

  /** Stops taking deliveries and waits up to `timeoutMs` for those in flight; the rest come back. */
  async stop(timeoutMs: number): Promise<void> {
    await this.consumer.stop(timeoutMs);
  }

  private finish(taken: Taken, settlement: WebhookSettlement): void {
    this.consumer.release(taken);
    this.emit('settled', settlement);
  }

  private async process(taken: Taken): Promise<void> {
    const { logger, topology } = this.options;
    const decoded = decodeDelivery(taken.message.content);
    if ('problem' in decoded) {
      await this.carryOut(taken, undecodableCopy(topology, taken.message, decoded.problem), {
        action: 'parked-undecodable',
        problem: decoded.problem,
      });
      logger.warn('undecodable webhook delivery parked', { problem: decoded.problem });
      return;
    }
    const { delivery } = decoded;
    const release = await this.slots.acquire(delivery.endpoint_id, taken.closed);
    if (release === undefined) {
      if (taken.closed.aborted) {
        this.requeue(taken);
        return;
      }
      await this.carryOut(
        taken,
        {
          exchange: topology.webhooksExchange.name,
          routingKey: WEBHOOK_WAIT_ROUTING_KEY,
          body: taken.message.content,
          messageId: delivery.delivery_id,
          properties: copiedProperties(taken.message.properties, taken.message.properties.headers ?? {}),
        },
        { action: 'waited', deliveryId: delivery.delivery_id },
      );
      return;
    }
    try {
      await this.deliver(taken, delivery, release);
    } finally {
      release();
    }
  }

  /** Tries one delivery; `release` frees its endpoint's slot once the POST is answered (the bound is on requests). */
  private async deliver(taken: Taken, delivery: WebhookDeliveryMessage, release: () => void): Promise<void> {
    const { logger, topology, retryDelaysMs } = this.options;
    const now = () => this.options.now?.() ?? new Date();
    let signing: SigningEndpoint | undefined;
    try {
      signing = await this.signing.get(delivery.endpoint_id, () =>
        this.options.store.signingEndpoint(delivery.endpoint_id),
      );
    } catch (error) {
      if (isUnavailable(error) && !taken.closed.aborted && !this.consumer.isStopping) {
        this.consumer.keep(taken, error);
        return;
      }
      logger.warn('could not read a webhook endpoint; requeueing the delivery', {
        endpoint_id: delivery.endpoint_id,
        error: errorText(error),
      });
      await pause(1_000, taken.closed);
      this.requeue(taken);
      return;
    }
    const base = {
      deliveryId: delivery.delivery_id,
      endpointId: delivery.endpoint_id,
      eventId: delivery.event.id,
      eventType: delivery.event.type,
      emailId: delivery.event.type === WEBHOOK_TEST_EVENT_TYPE ? null : delivery.event.data.email_id,
      try: delivery.try,
    };
    if (signing === undefined || signing.endpoint.disabledAt !== null || signing.secrets.length === 0) {
      // A deleted endpoint's records went with it: the ledger keeps none for it.
      const report: WebhookDeliveryReport = {
        ...base,
        outcome: 'skipped',
        status: null,
        error: signing === undefined ? 'endpoint deleted' : 'endpoint disabled',
        durationMs: null,
        at: now(),
      };
      await this.record(report);
      settle(taken, 'ack', logger);
      this.finish(taken, { action: 'tried', report });
      return;
    }

    const body = JSON.stringify(delivery.event);
    const started = performance.now();
    const result = await postWebhook(
      signing.endpoint.url,
      body,
      { ...signatureHeaders(signing.secrets, delivery.event.id, body, now()) },
      this.options.post,
    );
    release();
    const durationMs = Math.round(performance.now() - started);
    const at = now();
    const { outcome, status, error, copy } = afterTry({ topology, retryDelaysMs }, delivery, taken.message, result, at);
    // The try is over: its copy is published however long the broker takes, so that a blocked
    // broker does not turn into the same POST again and again on redeliveries. Only a closed
    // channel (the delivery comes back) or a stop gives it up, with nothing recorded.
    if (copy !== undefined && !(await this.publishPatiently(copy, taken))) {
      this.requeue(taken);
      return;
    }
    const report: WebhookDeliveryReport = { ...base, outcome, status, error, durationMs, at };
    await this.record(report);
    settle(taken, 'ack', logger);
    this.finish(taken, { action: 'tried', report });
    logger.debug('webhook delivery tried', {
      delivery_id: delivery.delivery_id,
      endpoint_id: delivery.endpoint_id,
      try: delivery.try,
      outcome,
      status,
    });
  }

  /** Records a try (batched); a ledger failure is logged, never undoes what was sent. */
  private async record(report: WebhookDeliveryReport): Promise<void> {
    this.options.observe?.delivery(report.outcome, report.durationMs);
    try {
      await this.recorder.add(report);
    } catch (error) {
      this.options.logger.warn('could not record a webhook delivery try', {
        delivery_id: report.deliveryId,
        outcome: report.outcome,
        error: errorText(error),
      });
    }
  }

  /** Publishes `copy` (confirmed, however long the broker takes), then acks; requeues only when that is given up. */
  private async carryOut(taken: Taken, copy: OutgoingMessage, settlement: WebhookSettlement): Promise<void> {
    if (!(await this.publishPatiently(copy, taken))) {
      this.requeue(taken);
      return;
    }
    settle(taken, 'ack', this.options.logger);
    this.finish(taken, settlement);
  }

  /**
   * Publishes `copy` until the broker confirms it, waiting out a blocked or unreachable broker
   * (200 ms doubling to 5 s) with the delivery kept unacked: no delivery limit is spent and no
   * try is repeated. False once the delivery's channel closed (the broker delivers it again) or
   * the worker stops.
   */
  private async publishPatiently(copy: OutgoingMessage, taken: Taken): Promise<boolean> {
    let waitMs = 200;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.options.publisher.publish(copy);
        return true;
      } catch (error) {
        if (taken.closed.aborted || this.consumer.isStopping) return false;
        if (attempt === 1) {
          this.options.logger.warn(
            'could not publish a webhook delivery copy; trying again until the broker takes it',
            {
              delivery_id: copy.messageId,
              error: errorText(error),
            },
          );
        }
        await pause(waitMs, taken.closed);
        waitMs = Math.min(waitMs * 2, 5_000);
      }
    }
  }

  private requeue(taken: Taken): void {
    if (taken.closed.aborted) {
      this.finish(taken, { action: 'abandoned' });
      return;
    }
    settle(taken, 'requeue', this.options.logger);
    this.finish(taken, { action: 'requeued' });
  }
}

/** What a try came to: its outcome, what is recorded, and the copy to publish (retry or park) before the ack. */
export interface TryDecision {
  readonly outcome: Exclude<WebhookDeliveryOutcome, 'skipped'>;
  readonly status: number | null;
  readonly error: string | null;
  readonly copy: OutgoingMessage | undefined;
}

/**
 * Decides what follows a try: a 2xx succeeded (no copy); a 410 parks at once (the ledger disables
 * the endpoint); any other failure goes to the retry tier of its try, with `try + 1`, or is parked
 * after the last. Copies keep the delivery id as message id and say why in their headers.
 */
export function afterTry(
  settings: { readonly topology: Topology; readonly retryDelaysMs: readonly number[] },
  delivery: WebhookDeliveryMessage,
  original: Pick<ConsumeMessage, 'content' | 'properties'>,
  result: PostResult,
  at: Date,
): TryDecision {
  const { topology, retryDelaysMs } = settings;
  const { status, error } = statusAndError(result);
  const verdict = classifyStatus(status);
  if (verdict.kind === 'success') return { outcome: 'succeeded', status, error, copy: undefined };
  const retryAfterMs = result.kind === 'answer' ? parseRetryAfter(result.retryAfter, at) : undefined;
  const tier =
    verdict.kind === 'gone'
      ? undefined
      : retryTierFor(delivery.try, retryDelaysMs, topology.webhookRetryTiers, retryAfterMs);
  const headers = {
    ...(original.properties.headers ?? {}),
    [WebhookDeliveryHeaders.tries]: delivery.try,
    [WebhookDeliveryHeaders.lastTryAt]: at.toISOString(),
    ...(status === null ? {} : { [WebhookDeliveryHeaders.lastStatus]: status }),
    ...(error === null ? {} : { [WebhookDeliveryHeaders.lastError]: error }),
  };
  if (tier !== undefined) {
    const next: WebhookDeliveryMessage = { ...delivery, try: delivery.try + 1 };
    return {
      outcome: 'retrying',
      status,
      error,
      copy: {
        exchange: topology.webhooksExchange.name,
        routingKey: tier.routingKey,
        body: Buffer.from(JSON.stringify(next)),
        messageId: delivery.delivery_id,
        properties: copiedProperties(original.properties, headers),
      },
    };
  }
  return {
    outcome: 'parked',
    status,
    error,
    copy: {
      exchange: topology.webhooksDeadExchange.name,
      routingKey: '',
      body: original.content,
      messageId: delivery.delivery_id,
      properties: copiedProperties(original.properties, {
        ...headers,
        [WebhookDeliveryHeaders.parkedReason]: verdict.kind === 'gone' ? 'gone' : 'retries-exhausted',
      }),
    },
  };
}

/** The status and the short error a try is recorded with. */
export function statusAndError(result: PostResult): { readonly status: number | null; readonly error: string | null } {
  switch (result.kind) {
    case 'answer':
      if (result.status >= 200 && result.status <= 299) return { status: result.status, error: null };
      return { status: result.status, error: result.text === '' ? `HTTP ${result.status}` : result.text };
    case 'refused':
      return { status: null, error: `refused destination: ${result.reason}` };
    case 'error':
      return { status: null, error: result.error };
  }
}

/** Waits `ms`, or less when the channel closes. */
function pause(ms: number, closed: AbortSignal): Promise<void> {
  if (closed.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      closed.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    closed.addEventListener('abort', done);
  });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
