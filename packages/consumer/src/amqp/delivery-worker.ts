import { EventEmitter } from 'node:events';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { DeliveryHeaders, type Topology } from '@mailer/contract';
import type { BrokerConnection, ConfirmPublisher, Logger } from '@mailer/amqp';
import { copiedProperties, messageIdOf } from '@mailer/dead-letters';
import type { IncomingMessage, ParkSettlement, RetrySettlement, Settlement } from '../delivery/handle-email';
import { isLedgerUnavailable, type DeliveryLedger, type FailureRecord, type SentRecord } from '../delivery/send-guard';
import { Holdings } from './holdings';

/**
 * Longest a message is kept unacked while no provider is usable. RabbitMQ closes the channel of a
 * consumer holding a delivery past its `consumer_timeout` (30 minutes by default); a message kept
 * longer than this goes the retry route instead.
 */
export const DEFAULT_MAX_HOLD_MS = 10 * 60_000;

/** How the worker consumes. */
export interface DeliveryWorkerOptions {
  readonly broker: BrokerConnection;
  readonly publisher: ConfirmPublisher;
  readonly topology: Topology;
  /** Messages delivered unacked at once, so also the sends in flight at once. */
  readonly prefetch: number;
  /**
   * Bytes of message bodies taken and not yet settled; past it the worker takes no more until
   * enough are settled. `Infinity`: no bound but `prefetch`.
   */
  readonly maxHeldBytes?: number;
  /** See {@link DEFAULT_MAX_HOLD_MS}. */
  readonly maxHoldMs?: number;
  /** Decides what to do with a message; `abandon` fires if its channel closes meanwhile. */
  readonly handle: (message: IncomingMessage, abandon: AbortSignal) => Promise<Settlement>;
  readonly logger: Logger;
  /**
   * The ledger (`LEDGER=on`): the records a settlement carries are written before its ack, and
   * while it cannot be reached the worker takes no messages and asks it with `ping()` until it
   * answers. Absent: nothing is recorded.
   */
  readonly ledger?: DeliveryLedger;
  /** How often an unreachable ledger is asked again: from `initial`, doubling to `max`. */
  readonly ledgerRetryMs?: { readonly initial: number; readonly max: number };
}

/** What the `settled` event reports. */
export type WorkerSettlement = Settlement | { readonly action: 'requeued'; readonly id: string | undefined };

/** Why the worker is not consuming while its channel is open. */
export type PauseReason = 'providers-unavailable' | 'ledger-unavailable' | 'held-bytes' | 'stopping';

/** A delivery the worker took, with the channel that must settle it. */
interface Taken {
  readonly channel: ConfirmChannel;
  readonly message: ConsumeMessage;
  /** Aborts when the channel closes: the message can no longer be settled and comes back. */
  readonly closed: AbortSignal;
  /** The consumer that took it. */
  readonly from: Consumer;
  /** When it was first held for want of a provider. */
  heldSince?: number;
  /** The token of a claim the ledger never answered, for the next time it is handled. */
  claimToken?: string | undefined;
}

/** A message kept unacked while no provider is usable, with its email id. */
interface Held {
  readonly taken: Taken;
  readonly id: string;
}

/** A message kept unacked and unsent while the ledger cannot be reached. */
interface LedgerHeld extends Held {
  /** A failed try of its attempt that must be recorded before it is handled again. */
  readonly unrecorded?: FailureRecord;
}

const DEFAULT_LEDGER_RETRY_MS = { initial: 200, max: 5_000 };

interface Consumer {
  readonly channel: ConfirmChannel;
  tag: string;
  /** Its prefetch: how many it may have unacked. */
  readonly window: number;
  /** Messages it took that are not settled yet. */
  own: number;
}

/**
 * Consumes the work queue with manual acks and carries out each {@link Settlement}: a retry or a
 * park is first published (confirmed) as a copy to the retry tier or the dead-letter exchange,
 * and only then is the original acked, on the channel that delivered it, exactly once (docs/design.md
 * rules 6 and 8). If the copy cannot be confirmed the original is requeued; the queue's delivery
 * limit keeps that from looping for ever. Resumes by itself on every new channel.
 *
 * It takes no more messages (it cancels its consumer) while:
 * - no provider is usable (a `hold` settlement): the messages it has are kept unacked, unsent and
 *   uncounted, and handled again when the first circuit lets a probe through; the rest wait in
 *   the work queue without spending their delivery limit. Consuming resumes once none is held.
 * - the bodies it holds unsettled reach `maxHeldBytes`: each consumer's prefetch window is sized
 *   to the bytes left (see {@link Holdings}), and none is started while none are left.
 * - the ledger cannot be reached: messages whose claim failed are kept unacked and unsent, sends
 *   that went out wait for their record, and everything resumes once `ping()` answers.
 *
 * A message redelivered while an earlier delivery of the same email is still being handled here
 * (its channel closed mid-send) waits for that one to end, so the ledger has the earlier send's
 * outcome before the redelivery claims.
 */
export class DeliveryWorker extends EventEmitter<{
  /** A message was settled: acked after its settlement was carried out, or requeued. */
  settled: [WorkerSettlement];
  /** The worker started (`true`) or stopped (`false`) taking messages on its channel. */
  consuming: [boolean];
}> {
  private readonly inflight = new Set<Promise<void>>();
  private readonly holdings: Holdings;
  private readonly maxHoldMs: number;
  private channel: ConfirmChannel | undefined;
  /** Per channel, the signal that aborts when it closes. */
  private readonly channelSignals = new WeakMap<ConfirmChannel, AbortSignal>();
  private consumer: Consumer | undefined;
  private held: Held[] = [];
  private ledgerHeld: LedgerHeld[] = [];
  private ledgerDown = false;
  private ledgerPoll: NodeJS.Timeout | undefined;
  private readonly ledgerWaiters: ((answered: boolean) => void)[] = [];
  /** Set once stop() gave up waiting: nothing more is recorded or acked. */
  private closed = false;
  /** Per email id, the handling of its latest delivery. */
  private readonly handling = new Map<string, Promise<void>>();
  private get ledgerRetryMs(): { readonly initial: number; readonly max: number } {
    return this.options.ledgerRetryMs ?? DEFAULT_LEDGER_RETRY_MS;
  }
  /** Held messages being handled again after a wake-up. */
  private rehandling = 0;
  private wake: { readonly timer: NodeJS.Timeout; readonly at: number } | undefined;
  private stopping = false;
  private reconciling: Promise<void> | undefined;
  private reconcileAgain = false;

  constructor(private readonly options: DeliveryWorkerOptions) {
    super();
    this.holdings = new Holdings(options.maxHeldBytes ?? Number.POSITIVE_INFINITY, options.prefetch);
    this.maxHoldMs = options.maxHoldMs ?? DEFAULT_MAX_HOLD_MS;
  }

  /** Starts consuming on the current channel and on every channel the connection opens later. */
  start(): void {
    this.options.broker.on('channel', (channel) => this.attach(channel));
    const channel = this.options.broker.channel;
    if (channel !== undefined) this.attach(channel);
  }

  /** Messages being handled now. */
  get busy(): number {
    return this.inflight.size;
  }

  /** Messages kept unacked because no provider is usable. */
  get holding(): number {
    return this.held.length;
  }

  /** Messages kept unacked and unsent because the ledger could not be reached. */
  get waitingForLedger(): number {
    return this.ledgerHeld.length;
  }

  /** Bytes of message bodies taken and not yet settled. */
  get heldBytes(): number {
    return this.holdings.heldBytes;
  }

  /** Why the worker takes no messages now, or `undefined` when it does (or could, given a channel). */
  get paused(): PauseReason | undefined {
    if (this.stopping) return 'stopping';
    if (this.ledgerDown || this.ledgerHeld.length > 0) return 'ledger-unavailable';
    if (this.held.length > 0 || this.rehandling > 0) return 'providers-unavailable';
    if (this.holdings.bytesExhausted()) return 'held-bytes';
    return undefined;
  }

  /**
   * Stops taking messages and waits up to `timeoutMs` for those in flight to be settled. What is
   * still unsettled then (held messages included) stays unacked and is redelivered once the
   * connection closes.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.clearWake();
    this.held = [];
    this.ledgerHeld = [];
    await this.reconcile();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inflight]),
      new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
    // Sends still waiting for their record stay unacked: the broker redelivers them.
    this.closed = true;
    clearTimeout(this.ledgerPoll);
    this.ledgerPoll = undefined;
    for (const wake of this.ledgerWaiters.splice(0)) wake(false);
  }

  private attach(channel: ConfirmChannel): void {
    if (this.stopping) return;
    const closed = new AbortController();
    channel.once('close', () => {
      closed.abort();
      this.onChannelClosed(channel);
    });
    this.channel = channel;
    this.channelSignals.set(channel, closed.signal);
    void this.reconcile();
  }

  private onChannelClosed(channel: ConfirmChannel): void {
    if (this.channel === channel) this.channel = undefined;
    if (this.consumer?.channel === channel) {
      this.consumer = undefined;
      this.emit('consuming', false);
    }
    // Held messages of that channel can no longer be settled: the broker delivers them again.
    const dropped = [
      ...this.held.filter(({ taken }) => taken.channel === channel),
      ...this.ledgerHeld.filter(({ taken }) => taken.channel === channel),
    ];
    if (dropped.length === 0) return;
    this.held = this.held.filter(({ taken }) => taken.channel !== channel);
    this.ledgerHeld = this.ledgerHeld.filter(({ taken }) => taken.channel !== channel);
    if (this.held.length === 0) this.clearWake();
    for (const { taken, id } of dropped) this.finish(taken, { action: 'abandoned', id });
  }

  /**
   * Brings the consumer in line with what the worker wants: consuming, with a window that fits
   * the bytes it may still hold, or not at all. One change at a time; a change asked for
   * meanwhile is made after it.
   */
  private reconcile(): Promise<void> {
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

  /** Whether another reconcile was asked for since the last look; clears the request. */
  private takeReconcileRequest(): boolean {
    const asked = this.reconcileAgain;
    this.reconcileAgain = false;
    return asked;
  }

  private async reconcileOnce(): Promise<void> {
    const channel = this.channel;
    const consumer = this.consumer;
    const paused = this.paused;
    const replace =
      consumer !== undefined &&
      (consumer.channel !== channel ||
        paused !== undefined ||
        this.holdings.shouldRestart(consumer.window, consumer.own));
    if (consumer !== undefined && replace) {
      this.consumer = undefined;
      await consumer.channel.cancel(consumer.tag).catch(() => undefined);
      this.emit('consuming', false);
      if (paused !== undefined) {
        this.options.logger.info('consuming paused', { reason: paused });
        return;
      }
    }
    // With the prefetch taken up by messages of an earlier consumer, the next starts as they settle.
    const window = this.holdings.window();
    if (this.consumer !== undefined || paused !== undefined || window === 0 || channel === undefined) return;
    await this.startConsumer(channel, window);
  }

  private async startConsumer(channel: ConfirmChannel, window: number): Promise<void> {
    const { logger, topology } = this.options;
    const closed = this.channelSignals.get(channel);
    if (closed === undefined || closed.aborted) return;
    try {
      // The prefetch applies to consumers started after it, so each consumer gets the window the
      // held bytes leave room for when it starts.
      await channel.prefetch(window);
      const consumer: Consumer = { channel, tag: '', window, own: 0 };
      const { consumerTag } = await channel.consume(topology.workQueue.name, (message) => {
        if (message === null) {
          logger.warn('the broker cancelled the consumer (queue deleted?); waiting for a new channel');
          if (this.consumer === consumer) this.consumer = undefined;
          return;
        }
        this.take({ channel, message, closed, from: consumer });
      });
      consumer.tag = consumerTag;
      this.consumer = consumer;
      this.emit('consuming', true);
      logger.info('consuming', {
        queue: topology.workQueue.name,
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

  private take(taken: Taken): void {
    this.holdings.add(taken.message.content.length);
    taken.from.own += 1;
    void this.reconcile();
    this.run(taken);
  }

  /**
   * Handles a taken message, tracked as in flight until it is settled or held. A redelivery of an
   * email still being handled (from a channel that closed) starts once that handling has ended.
   */
  private run(taken: Taken): void {
    const id = messageIdOf(taken.message.properties);
    const earlier = id === undefined ? undefined : this.handling.get(id);
    const start = () => this.process(taken);
    const work = (earlier === undefined ? start() : earlier.then(start, start)).finally(() => {
      this.inflight.delete(work);
      if (id !== undefined && this.handling.get(id) === work) this.handling.delete(id);
    });
    this.inflight.add(work);
    if (id !== undefined) this.handling.set(id, work);
  }

  /** A message is done with: settled, requeued or abandoned. Its bytes are free again. */
  private finish(taken: Taken, settlement: WorkerSettlement): void {
    this.holdings.remove(taken.message.content.length);
    taken.from.own -= 1;
    this.emit('settled', settlement);
    void this.reconcile();
  }

  private async process(taken: Taken): Promise<void> {
    const { logger, handle } = this.options;
    const { channel, message, closed } = taken;
    const messageId = messageIdOf(message.properties);
    let settlement: Settlement;
    try {
      const { claimToken } = taken;
      settlement = await handle(
        {
          body: message.content,
          headers: message.properties.headers ?? {},
          ...(claimToken === undefined ? {} : { claimToken }),
        },
        closed,
      );
    } catch (error) {
      // A bug while handling: requeue. The work queue's x-delivery-limit parks it after a few tries.
      logger.error('handling failed; requeueing', {
        email_id: messageId,
        error: error instanceof Error ? error.message : String(error),
      });
      this.settle(channel, message, 'requeue');
      this.finish(taken, { action: 'requeued', id: messageId });
      return;
    }
    if (settlement.action === 'hold') {
      const now = Date.now();
      taken.heldSince ??= now;
      if (now - taken.heldSince < this.maxHoldMs) {
        this.hold({ taken, id: settlement.id }, settlement.resumeInMs);
        return;
      }
      settlement = settlement.otherwise;
    }
    if (settlement.action === 'abandoned') {
      logger.info('channel closed before sending; the broker redelivers it', { email_id: settlement.id });
      this.finish(taken, settlement);
      return;
    }
    if (settlement.action === 'ledger-unavailable') {
      taken.claimToken = settlement.claimToken;
      this.holdForLedger({
        taken,
        id: settlement.id,
        ...(settlement.unrecorded === undefined ? {} : { unrecorded: settlement.unrecorded }),
      });
      return;
    }
    if (settlement.action === 'skipped') {
      this.settle(channel, message, 'ack');
      this.finish(taken, settlement);
      logger.info(
        settlement.reason === 'already-sent'
          ? 'email sent before; acked without sending'
          : 'this attempt already ended in a retry or a park; acked without sending',
        { email_id: settlement.id },
      );
      return;
    }
    if (settlement.action === 'sent') {
      // Never acked before the ledger has the send: a redelivery must find it sent.
      if (settlement.record !== undefined && !(await this.recordUntilDone(settlement.record))) {
        this.finish(taken, { action: 'abandoned', id: settlement.id });
        return;
      }
      this.settle(channel, message, 'ack');
      this.finish(taken, settlement);
      logger.info('email sent', {
        email_id: settlement.id,
        provider: settlement.provider,
        attempt: settlement.attempts,
      });
      return;
    }
    await this.carryOut(taken, settlement);
  }

  /** A retry or a park: publish the copy, confirmed, then ack the original. */
  private async carryOut(taken: Taken, settlement: RetrySettlement | ParkSettlement): Promise<void> {
    const { logger } = this.options;
    const { channel, message } = taken;
    const id = messageIdOf(message.properties) ?? settlement.id;
    if (id === undefined) {
      // No id anywhere (neither the message nor a readable envelope has one): a copy could not be
      // told from any other. Rejected without requeue, the work queue dead-letters it as it is.
      logger.error('message without an id rejected; the work queue dead-letters it', {
        action: settlement.action,
        failure: settlement.headers[DeliveryHeaders.lastFailureKind],
      });
      this.settle(channel, message, 'reject');
      this.finish(taken, settlement);
      return;
    }
    try {
      await this.publishCopy(message, id, settlement);
    } catch (error) {
      logger.warn('could not publish the retry or park copy; requeueing', {
        email_id: id,
        action: settlement.action,
        error: error instanceof Error ? error.message : String(error),
      });
      if (settlement.record !== undefined && this.options.ledger !== undefined) {
        // Best effort: the failed try closed without a move, so the requeued message is not in doubt.
        const { next: _next, ...failure } = settlement.record;
        await this.options.ledger.recordFailure(failure).catch(() => undefined);
      }
      this.settle(channel, message, 'requeue');
      this.finish(taken, { action: 'requeued', id });
      return;
    }
    // Recorded only once the copy is confirmed: a redelivered original is then `superseded`, with a copy queued.
    if (settlement.record !== undefined && !(await this.recordUntilDone(settlement.record))) {
      this.finish(taken, { action: 'abandoned', id });
      return;
    }
    this.settle(channel, message, 'ack');
    this.finish(taken, settlement);
    const attempt = settlement.headers[DeliveryHeaders.attempts];
    if (settlement.action === 'retry') {
      logger.warn('email not sent; retrying later', {
        email_id: id,
        attempt,
        retry_in: settlement.tier.routingKey,
        failure: settlement.headers[DeliveryHeaders.lastFailureKind],
        providers: settlement.headers[DeliveryHeaders.providersTried],
      });
    } else {
      logger.error('email parked', {
        email_id: id,
        reason: settlement.reason,
        attempt,
        failure: settlement.headers[DeliveryHeaders.lastFailureKind],
      });
    }
  }

  /**
   * Writes a record to the ledger, asking again (after `ping()` answers) while it cannot be
   * reached. Resolves true once written, or when the ledger refused it for another reason (logged:
   * the message is acked all the same, since what it records has happened); false when the worker
   * stopped first, so the message must stay unacked.
   */
  private async recordUntilDone(record: SentRecord | FailureRecord): Promise<boolean> {
    const ledger = this.options.ledger;
    if (ledger === undefined) return true;
    for (;;) {
      if (this.closed) return false;
      try {
        if ('kind' in record) await ledger.recordFailure(record);
        else await ledger.recordSent(record);
        return true;
      } catch (error) {
        if (!isLedgerUnavailable(error)) {
          this.options.logger.error('the ledger refused a record; acking all the same', {
            email_id: record.id,
            attempt: record.attempt,
            error: error instanceof Error ? error.message : String(error),
          });
          return true;
        }
        this.markLedgerDown(error);
        if (!(await this.ledgerAnswers())) return false;
      }
    }
  }

  /** Keeps a message unacked and unsent until the ledger answers, and takes no more meanwhile. */
  private holdForLedger(held: LedgerHeld): void {
    if (held.taken.closed.aborted || this.stopping) {
      this.finish(held.taken, { action: 'abandoned', id: held.id });
      return;
    }
    this.ledgerHeld.push(held);
    this.markLedgerDown();
    void this.reconcile();
  }

  /** Pauses consuming and starts asking the ledger until it answers. */
  private markLedgerDown(error?: unknown): void {
    if (this.ledgerDown || this.closed || this.options.ledger === undefined) return;
    this.ledgerDown = true;
    this.options.logger.warn('ledger unavailable; nothing is sent until it answers', {
      ...(error instanceof Error ? { error: error.message } : {}),
    });
    void this.reconcile();
    this.pollLedger(this.ledgerRetryMs.initial);
  }

  private pollLedger(inMs: number): void {
    const ledger = this.options.ledger;
    if (ledger === undefined || this.closed) return;
    this.ledgerPoll = setTimeout(() => {
      this.ledgerPoll = undefined;
      ledger.ping().then(
        () => this.ledgerBack(),
        () => this.pollLedger(Math.min(inMs * 2, this.ledgerRetryMs.max)),
      );
    }, inMs);
  }

  /** Resolves true once the ledger answers again, false if the worker stops first. */
  private ledgerAnswers(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (!this.ledgerDown) return Promise.resolve(true);
    return new Promise((resolve) => this.ledgerWaiters.push(resolve));
  }

  /** The ledger answers again: finish the waiting records, hand the kept messages back, consume again. */
  private ledgerBack(): void {
    if (this.closed) return;
    this.ledgerDown = false;
    this.options.logger.info('ledger available again; consuming resumes');
    for (const wake of this.ledgerWaiters.splice(0)) wake(true);
    const batch = this.ledgerHeld;
    this.ledgerHeld = [];
    for (const { taken, id, unrecorded } of batch) {
      const work = (async () => {
        if (unrecorded !== undefined && !(await this.recordUntilDone(unrecorded))) {
          this.finish(taken, { action: 'abandoned', id });
          return;
        }
        await this.process(taken);
      })().finally(() => this.inflight.delete(work));
      this.inflight.add(work);
    }
    void this.reconcile();
  }

  /** Keeps a message unacked and unsent until a provider may be usable, and takes no more meanwhile. */
  private hold(held: Held, resumeInMs: number): void {
    if (held.taken.closed.aborted || this.stopping) {
      this.finish(held.taken, { action: 'abandoned', id: held.id });
      return;
    }
    const first = this.held.length === 0 && this.rehandling === 0;
    this.held.push(held);
    this.scheduleWake(resumeInMs);
    if (first) {
      this.options.logger.warn('no provider is usable; holding messages until a circuit lets a probe through', {
        resume_in_ms: resumeInMs,
      });
    }
    void this.reconcile();
  }

  private scheduleWake(inMs: number): void {
    const at = Date.now() + inMs;
    if (this.wake !== undefined && this.wake.at <= at) return;
    this.clearWake();
    this.wake = { timer: setTimeout(() => this.wakeUp(), inMs), at };
  }

  private clearWake(): void {
    if (this.wake !== undefined) clearTimeout(this.wake.timer);
    this.wake = undefined;
  }

  /**
   * Hands the held messages back to the handler. One of them gets the circuit's probe; the others
   * see the probe out and are held again, until its result is in. Consuming resumes once a round
   * ends with nothing held.
   */
  private wakeUp(): void {
    this.wake = undefined;
    const batch = this.held;
    this.held = [];
    this.rehandling += batch.length;
    for (const { taken } of batch) {
      const work = this.process(taken).finally(() => {
        this.inflight.delete(work);
        this.rehandling -= 1;
        void this.reconcile();
      });
      this.inflight.add(work);
    }
  }

  private publishCopy(
    message: ConsumeMessage,
    messageId: string,
    settlement: RetrySettlement | ParkSettlement,
  ): Promise<void> {
    const { topology, publisher } = this.options;
    const headers: Record<string, unknown> = { ...(message.properties.headers ?? {}), ...settlement.headers };
    if (settlement.action === 'park') headers[DeliveryHeaders.parkedReason] = settlement.reason;
    return publisher.publish({
      exchange: settlement.action === 'retry' ? topology.retryExchange.name : topology.deadExchange.name,
      routingKey: settlement.action === 'retry' ? settlement.tier.routingKey : '',
      body: message.content,
      messageId,
      properties: copiedProperties(message.properties, headers),
    });
  }

  private settle(channel: ConfirmChannel, message: ConsumeMessage, how: 'ack' | 'requeue' | 'reject'): void {
    try {
      if (how === 'ack') channel.ack(message);
      else channel.nack(message, false, how === 'requeue');
    } catch (error) {
      // The channel closed meanwhile: the broker redelivers the message; nothing to settle here.
      this.options.logger.warn('could not settle; the message will be redelivered', {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}
