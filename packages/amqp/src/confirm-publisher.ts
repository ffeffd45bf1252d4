import type { ConfirmChannel, Message, Options } from 'amqplib';
import type { BrokerConnection } from './broker-connection';
import { Slots } from './slots';
import { PublishError } from '@mailer/contract';
import type { Logger } from './types';

/** One message to publish; its `messageId` must be unique among the publishes in flight. */
export interface OutgoingMessage {
  readonly exchange: string;
  readonly routingKey: string;
  readonly body: Buffer;
  readonly messageId: string;
  /** Further AMQP properties; `persistent` and `mandatory` are always set. */
  readonly properties?: Omit<Options.Publish, 'persistent' | 'mandatory' | 'messageId'>;
  /**
   * Published without `mandatory`: a message no queue is bound for is dropped by the broker and
   * counts as published. Only for an exchange whose readers bind queues of their own when they
   * want its messages (the lifecycle events exchange); everything the service itself must keep
   * is mandatory.
   */
  readonly unroutedIsFine?: boolean;
}

/** How to publish. */
export interface ConfirmPublisherOptions {
  /** From the call to the broker's confirm; past it the publish fails with `timeout`. */
  readonly timeoutMs: number;
  /** Publishes awaiting a confirm at once. */
  readonly maxInflight: number;
  readonly logger: Logger;
  /**
   * When the broker has nacked every publish on the channel for this long (no confirm between),
   * replace the channel ({@link BrokerConnection.renewChannel}). Off when absent. Only for a
   * connection whose channel carries no consumer: the consumer's deliveries would come back.
   */
  readonly renewChannelAfterNacksMs?: number;
}

interface Pending {
  readonly channel: ConfirmChannel;
  returned: boolean;
  settle: (error?: PublishError) => void;
}

const channelClosedError = (): PublishError =>
  new PublishError('channel-closed', 'the channel closed before the broker confirmed');

/**
 * Publishes each message as persistent and mandatory and resolves only on the broker's
 * confirm (docs/design.md rules 1-4). A nack, a returned (unroutable) message, a closed channel, a
 * blocked connection or no confirm before the deadline all reject with {@link PublishError}.
 * Only a basic.nack from the broker is `nacked` (not queued); a channel that closed before the
 * confirm is `channel-closed` (maybe queued).
 */
export class ConfirmPublisher {
  private readonly pending = new Map<string, Pending>();
  private readonly closedChannels = new WeakSet<ConfirmChannel>();
  private readonly slots: Slots;
  private drainWaiters: (() => void)[] = [];
  private needsDrain = false;
  /** Since when every publish on `channel` was nacked, none confirmed. */
  private nackStreak: { channel: ConfirmChannel; since: number } | undefined;

  constructor(
    private readonly broker: BrokerConnection,
    private readonly options: ConfirmPublisherOptions,
  ) {
    this.slots = new Slots(options.maxInflight);
    broker.on('channel', (channel) => this.attach(channel));
    if (broker.channel !== undefined) this.attach(broker.channel);
  }

  /** Publishes awaiting a confirm now. */
  get inflight(): number {
    return this.pending.size;
  }

  /** Publishes `message` and resolves on the broker's confirm; rejects with {@link PublishError}. */
  async publish(message: OutgoingMessage): Promise<void> {
    const deadline = Date.now() + this.options.timeoutMs;
    this.assertReady();
    if (!(await this.slots.acquire(deadline))) {
      throw new PublishError('busy', `more than ${this.options.maxInflight} publishes awaiting a confirm`);
    }
    try {
      await this.waitForDrain(deadline);
      await this.publishAndConfirm(message, deadline);
    } finally {
      this.slots.release();
    }
  }

  private assertReady(): void {
    if (this.broker.blocked !== undefined) {
      throw new PublishError('blocked', `broker blocked publishing: ${this.broker.blocked}`);
    }
    if (!this.broker.ready) throw new PublishError('not-connected', 'not connected to the broker');
  }

  private publishAndConfirm(message: OutgoingMessage, deadline: number): Promise<void> {
    const id = message.messageId;
    if (this.pending.has(id)) throw new Error(`message ${id} is already being published`);
    this.assertReady();
    const channel = this.broker.channel;
    if (channel === undefined) throw new PublishError('not-connected', 'not connected to the broker');
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => entry.settle(new PublishError('timeout', 'the broker did not confirm in time')),
        Math.max(0, deadline - Date.now()),
      );
      const entry: Pending = {
        channel,
        returned: false,
        settle: (error) => {
          if (this.pending.get(id) !== entry) return;
          this.pending.delete(id);
          clearTimeout(timer);
          if (error === undefined) resolve();
          else reject(error);
        },
      };
      this.pending.set(id, entry);
      try {
        const writable = channel.publish(
          message.exchange,
          message.routingKey,
          message.body,
          { ...message.properties, persistent: true, mandatory: message.unroutedIsFine !== true, messageId: id },
          (error: unknown) => {
            if (error !== null && error !== undefined) {
              // amqplib calls back with an error for a basic.nack, and also for every publish
              // still unconfirmed when the channel closes: its own 'close' listener runs before
              // this publisher's. Decide once that 'close' has been seen, a microtask later: a
              // closed channel means the message may be queued, which a retry would duplicate.
              queueMicrotask(() => {
                if (this.closedChannels.has(channel)) {
                  entry.settle(channelClosedError());
                  return;
                }
                entry.settle(new PublishError('nacked', 'the broker refused the message', { cause: error }));
                this.onNack(channel);
              });
            } else if (entry.returned) {
              entry.settle(new PublishError('unroutable', 'no queue is bound for the message'));
            } else {
              if (this.nackStreak?.channel === channel) this.nackStreak = undefined;
              entry.settle();
            }
          },
        );
        if (!writable) this.needsDrain = true;
      } catch (error) {
        entry.settle(new PublishError('channel-closed', 'the channel closed before publishing', { cause: error }));
      }
    });
  }

  private onNack(channel: ConfirmChannel): void {
    const after = this.options.renewChannelAfterNacksMs;
    if (after === undefined) return;
    const now = Date.now();
    if (this.nackStreak?.channel !== channel) this.nackStreak = { channel, since: now };
    else if (now - this.nackStreak.since >= after) {
      this.nackStreak = undefined;
      this.broker.renewChannel(channel);
    }
  }

  private attach(channel: ConfirmChannel): void {
    this.wakeDrainWaiters();
    channel.on('return', (message: Message) => {
      const id = String(message.properties.messageId);
      const entry = this.pending.get(id);
      if (entry?.channel === channel) entry.returned = true;
      this.options.logger.error('message returned unroutable', {
        message_id: id,
        exchange: message.fields.exchange,
        routing_key: message.fields.routingKey,
      });
      this.broker.redeclareSoon();
    });
    channel.on('drain', () => this.wakeDrainWaiters());
    channel.on('close', () => {
      this.closedChannels.add(channel);
      for (const entry of [...this.pending.values()]) {
        if (entry.channel === channel) entry.settle(channelClosedError());
      }
      this.wakeDrainWaiters();
    });
  }

  private wakeDrainWaiters(): void {
    this.needsDrain = false;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }

  /** amqplib buffers without limit when `publish` returns false: wait for `drain` instead. */
  private async waitForDrain(deadline: number): Promise<void> {
    while (this.needsDrain) {
      const drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
        this.drainWaiters.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!drained) throw new PublishError('busy', 'the broker connection did not drain in time');
    }
  }
}
