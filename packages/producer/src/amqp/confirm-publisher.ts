import type { ConfirmChannel, Message } from 'amqplib';
import { EMAIL_MESSAGE_TYPE } from '@mailer/contract';
import { PublishError, type EmailPublisher, type OutgoingEmail } from '../domain/publisher';
import type { Logger } from '../log/logger';
import type { BrokerConnection } from './broker-connection';
import { Slots } from './slots';

/** Where and how to publish. */
export interface ConfirmPublisherOptions {
  readonly exchange: string;
  readonly routingKey: string;
  /** From the call to the broker's confirm; past it the publish fails with `timeout`. */
  readonly timeoutMs: number;
  /** Publishes awaiting a confirm at once. */
  readonly maxInflight: number;
  readonly logger: Logger;
}

interface Pending {
  readonly channel: ConfirmChannel;
  returned: boolean;
  settle: (error?: PublishError) => void;
}

/**
 * Publishes each email as a persistent, mandatory message and resolves only on the broker's
 * confirm (DESIGN.md rules 1-4). A nack, a returned (unroutable) message, a closed channel, a
 * blocked connection or no confirm before the deadline all reject with {@link PublishError}.
 */
export class ConfirmPublisher implements EmailPublisher {
  private readonly pending = new Map<string, Pending>();
  private readonly slots: Slots;
  private drainWaiters: (() => void)[] = [];
  private needsDrain = false;

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

  async publish(email: OutgoingEmail): Promise<void> {
    const deadline = Date.now() + this.options.timeoutMs;
    this.assertReady();
    if (!(await this.slots.acquire(deadline))) {
      throw new PublishError('busy', `more than ${this.options.maxInflight} publishes awaiting a confirm`);
    }
    try {
      await this.waitForDrain(deadline);
      await this.publishAndConfirm(email, deadline);
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

  private publishAndConfirm(email: OutgoingEmail, deadline: number): Promise<void> {
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
          if (this.pending.get(email.id) !== entry) return;
          this.pending.delete(email.id);
          clearTimeout(timer);
          if (error === undefined) resolve();
          else reject(error);
        },
      };
      this.pending.set(email.id, entry);
      try {
        const writable = channel.publish(
          this.options.exchange,
          this.options.routingKey,
          email.body,
          {
            persistent: true,
            mandatory: true,
            messageId: email.id,
            contentType: 'application/json',
            contentEncoding: 'utf-8',
            type: EMAIL_MESSAGE_TYPE,
            appId: 'mailer-producer',
            timestamp: Math.floor(email.timestamp.getTime() / 1000),
            headers: email.headers,
          },
          (error: unknown) => {
            if (error !== null && error !== undefined) {
              entry.settle(new PublishError('nacked', 'the broker refused the message', { cause: error }));
            } else if (entry.returned) {
              entry.settle(new PublishError('unroutable', 'no queue is bound for the message'));
            } else {
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

  private attach(channel: ConfirmChannel): void {
    this.wakeDrainWaiters();
    channel.on('return', (message: Message) => {
      const id = String(message.properties.messageId);
      const entry = this.pending.get(id);
      if (entry?.channel === channel) entry.returned = true;
      this.options.logger.error('message returned unroutable', { email_id: id, exchange: this.options.exchange });
      this.broker.redeclareSoon();
    });
    channel.on('drain', () => this.wakeDrainWaiters());
    channel.on('close', () => {
      for (const entry of [...this.pending.values()]) {
        if (entry.channel === channel) {
          entry.settle(new PublishError('channel-closed', 'the channel closed before the broker confirmed'));
        }
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
