import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { PROVIDER_EVENT_RETRY_ROUTING_KEY, ProviderEventHeaders, type Topology } from '@mailer/contract';
import type { BrokerConnection, ConfirmPublisher, Logger, OutgoingMessage } from '@mailer/amqp';
import { copiedProperties, messageIdOf } from '@mailer/dead-letters';
import { LedgerBoundConsumer } from '../amqp/ledger-bound-consumer';
import type { LedgerRetryMs } from '../amqp/ledger-gate';
import type { Taken } from '../amqp/taken';
import type { EventDecision, IncomingEvent } from './handle-event';

/** How the event worker consumes. */
export interface EventWorkerOptions {
  /** A connection of its own: its channel carries this consumer and the retry and park copies. */
  readonly broker: BrokerConnection;
  readonly publisher: ConfirmPublisher;
  readonly topology: Topology;
  /** Events taken unacked at once (`FEEDBACK_PREFETCH`). */
  readonly prefetch: number;
  readonly logger: Logger;
  /** Decides what becomes of one event (`handleProviderEvent`). */
  readonly handle: (event: IncomingEvent) => Promise<EventDecision>;
  /** Asked until it answers while the ledger is out of reach. */
  readonly ledger: { ping(): Promise<void> };
  /** How often an unreachable ledger is asked again: from `initial`, doubling to `max`. */
  readonly ledgerRetryMs?: LedgerRetryMs;
}

/**
 * What became of an event: a decision carried out (acked; or its retry or park copy confirmed,
 * then acked), or `requeued` (given back to the queue), or `abandoned` (its channel closed before
 * it was settled: the broker delivers it again).
 */
export type EventSettlement =
  | Extract<EventDecision, { action: 'ack' | 'retry' | 'park' }>
  | { readonly action: 'requeued' }
  | { readonly action: 'abandoned' };

const DEFAULT_LEDGER_RETRY_MS: LedgerRetryMs = { initial: 200, max: 5_000 };

/** Longest parked detail kept in a header. */
const MAX_DETAIL_LENGTH = 500;

/**
 * Applies provider events (docs/feedback.md): consumes the provider-events queue with manual
 * acks and its own prefetch, on a connection of its own, and carries out each
 * {@link EventDecision}. Nothing is acked before its successor copy (retry or park) is confirmed
 * (docs/design.md rule 8). While the ledger cannot be reached it takes no events and keeps the
 * ones it has unacked; it resumes by itself on every new channel ({@link LedgerBoundConsumer}).
 */
export class EventWorker extends EventEmitter<{
  /** An event was settled. */
  settled: [EventSettlement];
  /** The worker started (`true`) or stopped (`false`) taking events on its channel. */
  consuming: [boolean];
}> {
  private readonly consumer: LedgerBoundConsumer;

  constructor(private readonly options: EventWorkerOptions) {
    super();
    const { logger, topology, prefetch } = options;
    // Events are small (a provider's body is at most 1 MB): the prefetch alone bounds them.
    this.consumer = new LedgerBoundConsumer({
      broker: options.broker,
      topology,
      queue: topology.providerEventsQueue.name,
      prefetch,
      logger,
      ping: () => options.ledger.ping(),
      retryMs: options.ledgerRetryMs ?? DEFAULT_LEDGER_RETRY_MS,
      subject: 'provider events',
      process: (taken) => this.process(taken),
      abandoned: (taken) => this.finish(taken, { action: 'abandoned' }),
      consuming: (on) => this.emit('consuming', on),
    });
  }

  /** Starts consuming on the current channel and on every channel the connection opens later. */
  start(): void {
    this.consumer.start();
  }

  /** Events being handled now. */
  get busy(): number {
    return this.consumer.busy;
  }

  /** Events kept unacked while the ledger cannot be reached. */
  get waitingForLedger(): number {
    return this.consumer.waitingForLedger;
  }

  /** Why the worker takes no events now, or `undefined` when it does (or could, given a channel). */
  get paused(): 'ledger-unavailable' | 'stopping' | undefined {
    return this.consumer.paused;
  }

  /**
   * Stops taking events and waits up to `timeoutMs` for those in flight. What is still unsettled
   * then (kept ones included) stays unacked and is redelivered once the connection closes.
   */
  async stop(timeoutMs: number): Promise<void> {
    await this.consumer.stop(timeoutMs);
  }

  private finish(taken: Taken, settlement: EventSettlement): void {
    this.consumer.release(taken);
    this.emit('settled', settlement);
  }

  private async process(taken: Taken): Promise<void> {
    const { message } = taken;
    let decision: EventDecision;
    try {
      decision = await this.options.handle({ body: message.content, headers: message.properties.headers ?? {} });
    } catch (error) {
      decision = { action: 'requeue', error, facts: { provider: 'unknown', outcome: 'none' } };
    }
    switch (decision.action) {
      case 'ack':
        this.settle(taken, 'ack');
        this.finish(taken, decision);
        this.options.logger.debug('provider event done', {
          provider: decision.facts.provider,
          event_key: decision.facts.eventKey,
          result: decision.result,
        });
        return;
      case 'ledger-unavailable':
        if (taken.closed.aborted || this.consumer.isStopping) this.finish(taken, { action: 'abandoned' });
        else this.consumer.keep(taken, decision.error);
        return;
      case 'requeue':
        this.options.logger.error('applying a provider event failed; requeueing', {
          provider: decision.facts.provider,
          event_key: decision.facts.eventKey,
          error: decision.error instanceof Error ? decision.error.message : String(decision.error),
        });
        this.settle(taken, 'requeue');
        this.finish(taken, { action: 'requeued' });
        return;
      case 'retry':
      case 'park':
        await this.copied(taken, decision);
    }
  }

  /** Publishes the retry or park copy, confirmed, then acks the original; requeues it if the copy fails. */
  private async copied(taken: Taken, decision: Extract<EventDecision, { action: 'retry' | 'park' }>): Promise<void> {
    const { logger, publisher } = this.options;
    const facts = { provider: decision.facts.provider, event_key: decision.facts.eventKey };
    try {
      await publisher.publish(copyOf(this.options.topology, taken, decision, new Date()));
    } catch (error) {
      logger.warn('could not publish the provider event copy; requeueing', {
        ...facts,
        action: decision.action,
        error: error instanceof Error ? error.message : String(error),
      });
      this.settle(taken, 'requeue');
      this.finish(taken, { action: 'requeued' });
      return;
    }
    this.settle(taken, 'ack');
    this.finish(taken, decision);
    if (decision.action === 'retry') {
      logger.info('provider event for an email not in the ledger yet; retrying later', {
        ...facts,
        tries: decision.tries,
      });
    } else {
      logger.warn('provider event parked', { ...facts, reason: decision.reason, detail: decision.detail });
    }
  }

  private settle({ channel, message }: Taken, how: 'ack' | 'requeue'): void {
    try {
      if (how === 'ack') channel.ack(message);
      else channel.nack(message, false, true);
    } catch (error) {
      // The channel closed meanwhile: the broker redelivers the event; nothing to settle here.
      this.options.logger.warn('could not settle a provider event; it will be redelivered', {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}

/**
 * The copy a retry or a park publishes: the original's body and properties with its headers, the
 * tries so far, the time, and (parked) why: to the delay queue (through the provider-events
 * exchange, key `retry`) or the dead exchange.
 */
export function copyOf(
  topology: Topology,
  { message }: Pick<Taken, 'message'>,
  decision: Extract<EventDecision, { action: 'retry' | 'park' }>,
  now: Date,
): OutgoingMessage {
  const headers: Record<string, unknown> = {
    ...(message.properties.headers ?? {}),
    [ProviderEventHeaders.lastTryAt]: now.toISOString(),
  };
  if (decision.tries !== undefined) headers[ProviderEventHeaders.tries] = decision.tries;
  if (decision.action === 'park') {
    headers[ProviderEventHeaders.parkedReason] = decision.reason;
    headers[ProviderEventHeaders.parkedDetail] = decision.detail.slice(0, MAX_DETAIL_LENGTH);
  }
  const retry = decision.action === 'retry';
  return {
    exchange: retry ? topology.providerEventsExchange.name : topology.providerEventsDeadExchange.name,
    routingKey: retry ? PROVIDER_EVENT_RETRY_ROUTING_KEY : '',
    body: message.content,
    // The producer gives every event a fresh id; a message without one gets one, so its copies can be told apart.
    messageId: messageIdOf(message.properties) ?? randomUUID(),
    properties: copiedProperties(message.properties, headers),
  };
}
