import { EventEmitter } from 'node:events';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { DeliveryHeaders, type Topology } from '@mailer/contract';
import type { BrokerConnection, ConfirmPublisher, Logger } from '@mailer/amqp';
import type { IncomingMessage, Settlement } from '../delivery/handle-email';

/** How the worker consumes. */
export interface DeliveryWorkerOptions {
  readonly broker: BrokerConnection;
  readonly publisher: ConfirmPublisher;
  readonly topology: Topology;
  /** Messages delivered unacked at once, so also the sends in flight at once. */
  readonly prefetch: number;
  /** Decides what to do with a message; `abandon` fires if its channel closes meanwhile. */
  readonly handle: (message: IncomingMessage, abandon: AbortSignal) => Promise<Settlement>;
  readonly logger: Logger;
}

/**
 * Consumes the work queue with manual acks and carries out each {@link Settlement}: a retry or a
 * park is first published (confirmed) as a copy to the retry tier or the dead-letter exchange,
 * and only then is the original acked, on the channel that delivered it, exactly once (DESIGN.md
 * rules 6 and 8). If the copy cannot be confirmed the original is requeued; the queue's delivery
 * limit keeps that from looping for ever. Resumes by itself on every new channel.
 */
export class DeliveryWorker extends EventEmitter<{
  /** A message was settled: acked after its settlement was carried out, or requeued. */
  settled: [Settlement | { readonly action: 'requeued'; readonly id: string | undefined }];
}> {
  private readonly inflight = new Set<Promise<void>>();
  private consumer: { channel: ConfirmChannel; tag: string } | undefined;
  private stopping = false;

  constructor(private readonly options: DeliveryWorkerOptions) {
    super();
  }

  /** Starts consuming on the current channel and on every channel the connection opens later. */
  start(): void {
    this.options.broker.on('channel', (channel) => {
      void this.consume(channel);
    });
    const channel = this.options.broker.channel;
    if (channel !== undefined) void this.consume(channel);
  }

  /** Messages being handled now. */
  get busy(): number {
    return this.inflight.size;
  }

  /**
   * Stops taking messages and waits up to `timeoutMs` for those in flight to be settled. What is
   * still unsettled then stays unacked and is redelivered once the connection closes.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    const consumer = this.consumer;
    this.consumer = undefined;
    if (consumer !== undefined) await consumer.channel.cancel(consumer.tag).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inflight]),
      new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  private async consume(channel: ConfirmChannel): Promise<void> {
    if (this.stopping) return;
    const { logger, topology, prefetch } = this.options;
    const closed = new AbortController();
    channel.once('close', () => closed.abort());
    try {
      await channel.prefetch(prefetch);
      const { consumerTag } = await channel.consume(topology.workQueue.name, (message) => {
        if (message === null) {
          logger.warn('the broker cancelled the consumer (queue deleted?); waiting for a new channel');
          return;
        }
        const work = this.process(channel, message, closed.signal).finally(() => this.inflight.delete(work));
        this.inflight.add(work);
      });
      this.consumer = { channel, tag: consumerTag };
      logger.info('consuming', { queue: topology.workQueue.name, prefetch });
    } catch (error) {
      logger.warn('could not start consuming on this channel', {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  private async process(channel: ConfirmChannel, message: ConsumeMessage, closed: AbortSignal): Promise<void> {
    const { logger, handle } = this.options;
    const messageId = typeof message.properties.messageId === 'string' ? message.properties.messageId : undefined;
    let settlement: Settlement;
    try {
      settlement = await handle({ body: message.content, headers: message.properties.headers ?? {} }, closed);
    } catch (error) {
      // A bug while handling: requeue. The work queue's x-delivery-limit parks it after a few tries.
      logger.error('handling failed; requeueing', {
        email_id: messageId,
        error: error instanceof Error ? error.message : String(error),
      });
      this.settle(channel, message, 'requeue');
      this.emit('settled', { action: 'requeued', id: messageId });
      return;
    }
    if (settlement.action === 'abandoned') {
      logger.info('channel closed before sending; the broker redelivers it', { email_id: settlement.id });
      this.emit('settled', settlement);
      return;
    }
    if (settlement.action === 'sent') {
      this.settle(channel, message, 'ack');
      this.emit('settled', settlement);
      logger.info('email sent', {
        email_id: settlement.id,
        provider: settlement.provider,
        attempt: settlement.attempts,
      });
      return;
    }
    try {
      await this.publishCopy(message, settlement);
    } catch (error) {
      logger.warn('could not publish the retry or park copy; requeueing', {
        email_id: settlement.id ?? messageId,
        action: settlement.action,
        error: error instanceof Error ? error.message : String(error),
      });
      this.settle(channel, message, 'requeue');
      this.emit('settled', { action: 'requeued', id: settlement.id ?? messageId });
      return;
    }
    this.settle(channel, message, 'ack');
    this.emit('settled', settlement);
    const attempt = settlement.headers[DeliveryHeaders.attempts];
    if (settlement.action === 'retry') {
      logger.warn('email not sent; retrying later', {
        email_id: settlement.id,
        attempt,
        retry_in: settlement.tier.routingKey,
        failure: settlement.headers[DeliveryHeaders.lastFailureKind],
        providers: settlement.headers[DeliveryHeaders.providersTried],
      });
    } else {
      logger.error('email parked', {
        email_id: settlement.id ?? messageId,
        reason: settlement.reason,
        attempt,
        failure: settlement.headers[DeliveryHeaders.lastFailureKind],
      });
    }
  }

  private publishCopy(
    message: ConsumeMessage,
    settlement: Extract<Settlement, { action: 'retry' | 'park' }>,
  ): Promise<void> {
    const { topology, publisher } = this.options;
    const { properties } = message;
    const headers: Record<string, unknown> = { ...(properties.headers ?? {}), ...settlement.headers };
    if (settlement.action === 'park') headers[DeliveryHeaders.parkedReason] = settlement.reason;
    const messageId =
      typeof properties.messageId === 'string' ? properties.messageId : (settlement.id ?? `unknown-${Date.now()}`);
    return publisher.publish({
      exchange: settlement.action === 'retry' ? topology.retryExchange.name : topology.deadExchange.name,
      routingKey: settlement.action === 'retry' ? settlement.tier.routingKey : '',
      body: message.content,
      messageId,
      properties: {
        headers,
        ...(typeof properties.contentType === 'string' ? { contentType: properties.contentType } : {}),
        ...(typeof properties.type === 'string' ? { type: properties.type } : {}),
        ...(typeof properties.appId === 'string' ? { appId: properties.appId } : {}),
        ...(typeof properties.timestamp === 'number' ? { timestamp: properties.timestamp } : {}),
      },
    });
  }

  private settle(channel: ConfirmChannel, message: ConsumeMessage, how: 'ack' | 'requeue'): void {
    try {
      if (how === 'ack') channel.ack(message);
      else channel.nack(message, false, true);
    } catch (error) {
      // The channel closed meanwhile: the broker redelivers the message; nothing to settle here.
      this.options.logger.warn('could not settle; the message will be redelivered', {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}
