import { EventEmitter } from 'node:events';

import {
  WEBHOOK_DELIVERY_ROUTING_KEY,
  type LifecycleEvent,
  type SigningEndpoint,
  type Topology,
  type WebhookDeliveryMessage,
  type WebhookStore,
  deliveryIdOf,
} from '@mailer/contract';
import type { BrokerConnection, ConfirmPublisher, Logger } from '@mailer/amqp';
import { isUnavailable } from '@mailer/ledger';
import { LedgerBoundConsumer } from '../amqp/ledger-bound-consumer';
import type { Taken } from '../amqp/taken';
import { settle, undecodableCopy } from './settle';
import { decodeEvent } from './messages';
import { TtlCache } from './ttl-cache';

/** How the fan-out worker runs. */
export interface FanOutWorkerOptions {
  /** The webhooks' own connection. */
  readonly broker: BrokerConnection;
  readonly publisher: ConfirmPublisher;
  readonly topology: Topology;
  /** Events taken unacked at once (`WEBHOOK_PREFETCH`). */
  readonly prefetch: number;
  readonly store: Pick<WebhookStore, 'endpointsFor'>;
  readonly logger: Logger;
  /** How long the endpoints of one (client, type) are kept; 5 s when absent. */
  readonly cacheMs?: number;
  /** Asked until it answers while the ledger is out of reach (meanwhile events are kept unacked). */
  readonly ping: () => Promise<void>;
  /** Wait before an event is given back after a failure other than an unreachable ledger; 1 s when absent. */
  readonly requeueDelayMs?: number;
  readonly now?: () => Date;
}

/** What became of an event. */
export type FanOutSettlement =
  | { readonly action: 'fanned-out'; readonly deliveries: number }
  | { readonly action: 'parked'; readonly problem: string }
  | { readonly action: 'requeued' }
  | { readonly action: 'abandoned' };

/** How often an unreachable ledger is asked again: from 200 ms, doubling to 5 s (as the event worker). */
export const LEDGER_RETRY_MS = { initial: 200, max: 5_000 } as const;

/** (client, type) pairs whose endpoints are kept at once. */
const CACHE_ENTRIES = 1_000;

/**
 * Turns each lifecycle event into one delivery message per endpoint that wants it (docs/events.md,
 * "Webhook deliveries"). Consumes the webhook events queue with manual acks on the webhooks'
 * own connection; an event is acked only once every delivery of it is confirmed by the broker, so
 * a crash in between fans it out again, with the same delivery ids ({@link deliveryIdOf}).
 */
export class FanOutWorker extends EventEmitter<{ settled: [FanOutSettlement] }> {
  private readonly consumer: LedgerBoundConsumer;
  private readonly endpoints: TtlCache<readonly SigningEndpoint[]>;
  /** Pauses before a requeue, woken at stop. */
  private readonly pauses = new Set<() => void>();

  constructor(private readonly options: FanOutWorkerOptions) {
    super();
    const { topology, prefetch, logger } = options;
    this.endpoints = new TtlCache(options.cacheMs ?? 5_000, CACHE_ENTRIES);
    // While the ledger is out of reach events are kept unacked, so an outage spends no delivery limit.
    this.consumer = new LedgerBoundConsumer({
      broker: options.broker,
      topology,
      queue: topology.webhookEventsQueue.name,
      prefetch,
      logger,
      ping: options.ping,
      retryMs: LEDGER_RETRY_MS,
      subject: 'webhook events',
      process: (taken) => this.process(taken),
      abandoned: (taken) => this.finish(taken, { action: 'abandoned' }),
    });
  }

  start(): void {
    this.consumer.start();
  }

  get busy(): number {
    return this.consumer.busy;
  }

  async stop(timeoutMs: number): Promise<void> {
    // The consumer counts as stopping from here on: the requeue pauses woken now end at once.
    const stopped = this.consumer.stop(timeoutMs);
    for (const wake of this.pauses) wake();
    await stopped;
  }

  private finish(taken: Taken, settlement: FanOutSettlement): void {
    this.consumer.release(taken);
    this.emit('settled', settlement);
  }

  private async process(taken: Taken): Promise<void> {
    const { logger, publisher, topology } = this.options;
    const decoded = decodeEvent(taken.message.content);
    if ('problem' in decoded) {
      try {
        await publisher.publish(undecodableCopy(topology, taken.message, decoded.problem));
      } catch (error) {
        logger.warn('could not park an undecodable event; requeueing', { error: errorText(error) });
        await this.requeueLater(taken);
        return;
      }
      settle(taken, 'ack', logger);
      this.finish(taken, { action: 'parked', problem: decoded.problem });
      logger.warn('undecodable webhook event parked', { problem: decoded.problem });
      return;
    }
    const { event } = decoded;
    let endpoints: readonly SigningEndpoint[];
    try {
      endpoints = await this.endpoints.get(`${event.data.client}\n${event.type}`, () =>
        this.options.store.endpointsFor(event.data.client, event.type),
      );
    } catch (error) {
      if (isUnavailable(error) && !taken.closed.aborted && !this.consumer.isStopping) {
        this.consumer.keep(taken, error);
        return;
      }
      logger.warn('could not read the endpoints of an event; requeueing', {
        event_id: event.id,
        error: errorText(error),
      });
      await this.requeueLater(taken);
      return;
    }
    try {
      const firstTryAt = (this.options.now?.() ?? new Date()).toISOString();
      // Every publish settles before the event is acked or requeued; a requeued event fans out
      // again with the same delivery ids, so an endpoint may get a delivery twice, never none.
      const published = await Promise.allSettled(
        endpoints.map(({ endpoint }) =>
          publisher.publish(this.deliveryOf(event, endpoint.id, endpoint.client, firstTryAt)),
        ),
      );
      const failed = published.find((result) => result.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      settle(taken, 'ack', logger);
      this.finish(taken, { action: 'fanned-out', deliveries: endpoints.length });
    } catch (error) {
      logger.warn('could not fan an event out to its webhooks; requeueing', {
        event_id: event.id,
        error: errorText(error),
      });
      await this.requeueLater(taken);
    }
  }

  private deliveryOf(event: LifecycleEvent, endpointId: string, client: string, firstTryAt: string) {
    const delivery: WebhookDeliveryMessage = {
      delivery_id: deliveryIdOf(event.id, endpointId),
      endpoint_id: endpointId,
      client,
      try: 1,
      first_try_at: firstTryAt,
      event,
    };
    return {
      exchange: this.options.topology.webhooksExchange.name,
      routingKey: WEBHOOK_DELIVERY_ROUTING_KEY,
      body: Buffer.from(JSON.stringify(delivery)),
      messageId: delivery.delivery_id,
      properties: { contentType: 'application/json', type: event.type },
    };
  }

  /** Gives the event back after a pause, so a ledger or broker outage does not spin it. */
  private async requeueLater(taken: Taken): Promise<void> {
    if (!taken.closed.aborted && !this.consumer.isStopping) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.pauses.delete(wake);
          taken.closed.removeEventListener('abort', wake);
          resolve();
        };
        const timer = setTimeout(wake, this.options.requeueDelayMs ?? 1_000);
        this.pauses.add(wake);
        taken.closed.addEventListener('abort', wake);
      });
    }
    if (taken.closed.aborted) {
      this.finish(taken, { action: 'abandoned' });
      return;
    }
    settle(taken, 'requeue', this.options.logger);
    this.finish(taken, { action: 'requeued' });
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
