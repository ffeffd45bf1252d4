import type { ConfirmChannel } from 'amqplib';
import type { Topology } from '@mailer/contract';
import type { Logger } from '@mailer/amqp';
import type { Holdings } from './holdings';
import type { Consumer, Taken } from './taken';

/** What the consumer control needs. */
export interface ConsumerControlOptions {
  readonly topology: Topology;
  /** The queue to consume: the work queue when absent (the event worker names the provider-events queue). */
  readonly queue?: string;
  /** The configured prefetch, the widest window (logged). */
  readonly prefetch: number;
  readonly logger: Logger;
  /** What the worker holds unsettled: it sizes each consumer's window. */
  readonly holdings: Holdings;
  /** Why the worker must take no messages now (logged), or `undefined` when it may. */
  readonly pausedBy: () => string | undefined;
  /** A message was taken (it is already counted in {@link ConsumerControlOptions.holdings}). */
  readonly take: (taken: Taken) => void;
  /** A channel closed (its signal aborted); its consumer, if any, is gone already. */
  readonly channelClosed: () => void;
  /** The worker started (`true`) or stopped (`false`) taking messages. */
  readonly consuming: (on: boolean) => void;
}

/**
 * Keeps at most one consumer on the work queue (or the one named in `queue`), on the newest
 * channel, while the worker may take messages, with a prefetch window that fits the bytes it may
 * still hold ({@link Holdings}). It cancels the consumer when the worker pauses and starts a new
 * one when it may go on, or when the right window changed enough.
 */
export class ConsumerControl {
  private channel: ConfirmChannel | undefined;
  /** Per channel, the signal that aborts when it closes. */
  private readonly channelSignals = new WeakMap<ConfirmChannel, AbortSignal>();
  private consumer: Consumer | undefined;
  private reconciling: Promise<void> | undefined;
  private reconcileAgain = false;

  constructor(private readonly options: ConsumerControlOptions) {}

  /** Consumes on `channel` from now on (when the worker may), until it closes. */
  attach(channel: ConfirmChannel): void {
    const closed = new AbortController();
    channel.once('close', () => {
      closed.abort();
      this.onChannelClosed(channel);
    });
    this.channel = channel;
    this.channelSignals.set(channel, closed.signal);
    void this.reconcile();
  }

  /** A taken message is done with: settled, requeued or abandoned. Its bytes are free again. */
  release(taken: Taken): void {
    this.options.holdings.remove(taken.message.content.length);
    taken.from.own -= 1;
  }

  /**
   * Brings the consumer in line with what the worker wants: consuming, with a window that fits
   * the bytes it may still hold, or not at all. One change at a time; a change asked for
   * meanwhile is made after it.
   */
  reconcile(): Promise<void> {
    this.reconcileAgain = true;
    if (this.reconciling === undefined) {
      const run = async (): Promise<void> => {
        try {
          while (this.takeReconcileRequest()) await this.reconcileOnce();
        } finally {
          // In the same turn as the last look: a request made after it starts a new run.
          this.reconciling = undefined;
        }
      };
      this.reconciling = run();
    }
    return this.reconciling;
  }

  private onChannelClosed(channel: ConfirmChannel): void {
    if (this.channel === channel) this.channel = undefined;
    if (this.consumer?.channel === channel) {
      this.consumer = undefined;
      this.options.consuming(false);
    }
    this.options.channelClosed();
  }

  /** Whether another reconcile was asked for since the last look; clears the request. */
  private takeReconcileRequest(): boolean {
    const asked = this.reconcileAgain;
    this.reconcileAgain = false;
    return asked;
  }

  private async reconcileOnce(): Promise<void> {
    const { holdings, logger } = this.options;
    const channel = this.channel;
    const consumer = this.consumer;
    const paused = this.options.pausedBy();
    const replace =
      consumer !== undefined &&
      (consumer.channel !== channel || paused !== undefined || holdings.shouldRestart(consumer.window, consumer.own));
    if (consumer !== undefined && replace) {
      this.consumer = undefined;
      await consumer.channel.cancel(consumer.tag).catch(() => undefined);
      this.options.consuming(false);
      if (paused !== undefined) {
        logger.info('consuming paused', { reason: paused });
        return;
      }
    }
    // With the prefetch taken up by messages of an earlier consumer, the next starts as they settle.
    const window = holdings.window();
    if (this.consumer !== undefined || paused !== undefined || window === 0 || channel === undefined) return;
    await this.startConsumer(channel, window);
  }

  private async startConsumer(channel: ConfirmChannel, window: number): Promise<void> {
    const { logger, topology, holdings } = this.options;
    const closed = this.channelSignals.get(channel);
    if (closed === undefined || closed.aborted) return;
    try {
      // The prefetch applies to consumers started after it, so each consumer gets the window the
      // held bytes leave room for when it starts.
      await channel.prefetch(window);
      const consumer: Consumer = { channel, tag: '', window, own: 0 };
      const queue = this.options.queue ?? topology.workQueue.name;
      const { consumerTag } = await channel.consume(queue, (message) => {
        if (message === null) {
          logger.warn('the broker cancelled the consumer (queue deleted?); waiting for a new channel');
          if (this.consumer === consumer) this.consumer = undefined;
          return;
        }
        holdings.add(message.content.length);
        consumer.own += 1;
        void this.reconcile();
        this.options.take({ channel, message, closed, from: consumer });
      });
      consumer.tag = consumerTag;
      this.consumer = consumer;
      this.options.consuming(true);
      logger.info('consuming', {
        queue,
        prefetch: window,
        prefetch_limit: this.options.prefetch,
      });
      // Something may have changed while the consumer started (bytes taken, a hold): look again.
      this.reconcileAgain = true;
    } catch (error) {
      logger.warn('could not start consuming on this channel', {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}
