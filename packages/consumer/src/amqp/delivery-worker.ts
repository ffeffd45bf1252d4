import { EventEmitter } from 'node:events';
import type { ConfirmChannel } from 'amqplib';
import type { Topology } from '@mailer/contract';
import type { BrokerConnection, ConfirmPublisher, Logger } from '@mailer/amqp';
import { messageIdOf } from '@mailer/dead-letters';
import type { IncomingMessage, Settlement } from '../delivery/handle-email';
import type { DeliveryLedger } from '../delivery/send-guard';
import { ConsumerControl } from './consumer-control';
import { Holdings } from './holdings';
import { InFlight } from './in-flight';
import { LedgerGate, type LedgerRetryMs } from './ledger-gate';
import { DEFAULT_MAX_HOLD_MS, ProviderHold } from './provider-hold';
import { Settler, type WorkerSettlement } from './settler';
import type { Held, LedgerHeld, Taken } from './taken';

export { DEFAULT_MAX_HOLD_MS } from './provider-hold';
export type { WorkerSettlement } from './settler';

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
  readonly ledgerRetryMs?: LedgerRetryMs;
}

/** Why the worker is not consuming while its channel is open. */
export type PauseReason = 'providers-unavailable' | 'ledger-unavailable' | 'held-bytes' | 'stopping';

const DEFAULT_LEDGER_RETRY_MS: LedgerRetryMs = { initial: 200, max: 5_000 };

/**
 * Consumes the work queue with manual acks and carries out each {@link Settlement} (the
 * {@link Settler}: a copy confirmed before the original is acked). Resumes by itself on every new
 * channel ({@link ConsumerControl}).
 *
 * It takes no more messages (it cancels its consumer) while:
 * - no provider is usable (a `hold` settlement): the {@link ProviderHold} keeps the messages it
 *   has unacked, unsent and uncounted, and hands them back when the first circuit lets a probe
 *   through; the rest wait in the work queue without spending their delivery limit.
 * - the bodies it holds unsettled reach `maxHeldBytes`: each consumer's prefetch window is sized
 *   to the bytes left (see {@link Holdings}), and none is started while none are left.
 * - the ledger cannot be reached: the {@link LedgerGate} keeps messages whose claim failed unacked
 *   and unsent, sends that went out wait for their record, and everything resumes once `ping()`
 *   answers.
 *
 * A message redelivered while an earlier delivery of the same email is still being handled here
 * (its channel closed mid-send) waits for that one to end ({@link InFlight}).
 */
export class DeliveryWorker extends EventEmitter<{
  /** A message was settled: acked after its settlement was carried out, or requeued. */
  settled: [WorkerSettlement];
  /** The worker started (`true`) or stopped (`false`) taking messages on its channel. */
  consuming: [boolean];
}> {
  private readonly holdings: Holdings;
  private readonly inFlight = new InFlight();
  private readonly control: ConsumerControl;
  private readonly providerHold: ProviderHold<Held>;
  private readonly ledgerGate: LedgerGate<LedgerHeld>;
  private readonly settler: Settler;
  private stopping = false;

  constructor(private readonly options: DeliveryWorkerOptions) {
    super();
    const { logger } = options;
    const changed = () => void this.control.reconcile();
    this.holdings = new Holdings(options.maxHeldBytes ?? Number.POSITIVE_INFINITY, options.prefetch);
    this.control = new ConsumerControl({
      topology: options.topology,
      prefetch: options.prefetch,
      logger,
      holdings: this.holdings,
      pausedBy: () => this.paused,
      take: (taken) => this.inFlight.run(messageIdOf(taken.message.properties), () => this.process(taken)),
      channelClosed: () => this.dropHeld(),
      consuming: (on) => this.emit('consuming', on),
    });
    this.providerHold = new ProviderHold({
      maxHoldMs: options.maxHoldMs ?? DEFAULT_MAX_HOLD_MS,
      logger,
      resume: ({ taken }, done) => this.inFlight.track(() => this.process(taken), done),
      changed,
    });
    this.ledgerGate = new LedgerGate({
      ledger: options.ledger,
      retryMs: options.ledgerRetryMs ?? DEFAULT_LEDGER_RETRY_MS,
      logger,
      resume: ({ taken, id, unrecorded }) =>
        this.inFlight.track(async () => {
          if (unrecorded !== undefined && !(await this.ledgerGate.record(unrecorded))) {
            this.finish(taken, { action: 'abandoned', id });
            return;
          }
          await this.process(taken);
        }),
      changed,
    });
    this.settler = new Settler({
      publisher: options.publisher,
      topology: options.topology,
      logger,
      ledger: this.ledgerGate,
      finish: (taken, settlement) => this.finish(taken, settlement),
    });
  }

  /** Starts consuming on the current channel and on every channel the connection opens later. */
  start(): void {
    this.options.broker.on('channel', (channel) => this.attach(channel));
    const channel = this.options.broker.channel;
    if (channel !== undefined) this.attach(channel);
  }

  /** Messages being handled now. */
  get busy(): number {
    return this.inFlight.size;
  }

  /** Messages kept unacked because no provider is usable. */
  get holding(): number {
    return this.providerHold.holding;
  }

  /** Messages kept unacked and unsent because the ledger could not be reached. */
  get waitingForLedger(): number {
    return this.ledgerGate.waiting;
  }

  /** Bytes of message bodies taken and not yet settled. */
  get heldBytes(): number {
    return this.holdings.heldBytes;
  }

  /** Why the worker takes no messages now, or `undefined` when it does (or could, given a channel). */
  get paused(): PauseReason | undefined {
    if (this.stopping) return 'stopping';
    if (this.ledgerGate.paused) return 'ledger-unavailable';
    if (this.providerHold.paused) return 'providers-unavailable';
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
    this.providerHold.clear();
    this.ledgerGate.clear();
    await this.control.reconcile();
    await this.inFlight.drain(timeoutMs);
    // Sends still waiting for their record stay unacked: the broker redelivers them.
    this.ledgerGate.close();
  }

  private attach(channel: ConfirmChannel): void {
    if (this.stopping) return;
    this.control.attach(channel);
  }

  /** Held messages of a closed channel can no longer be settled: the broker delivers them again. */
  private dropHeld(): void {
    const dropped = [...this.providerHold.drop(), ...this.ledgerGate.drop()];
    for (const { taken, id } of dropped) this.finish(taken, { action: 'abandoned', id });
  }

  /** A message is done with: settled, requeued or abandoned. */
  private finish(taken: Taken, settlement: WorkerSettlement): void {
    this.control.release(taken);
    this.emit('settled', settlement);
    void this.control.reconcile();
  }

  /** Handles a taken (or handed back) message and carries out what it asks for. */
  private async process(taken: Taken): Promise<void> {
    const { message, closed, claimToken } = taken;
    let settlement: Settlement;
    try {
      settlement = await this.options.handle(
        {
          body: message.content,
          headers: message.properties.headers ?? {},
          ...(claimToken === undefined ? {} : { claimToken }),
        },
        closed,
      );
    } catch (error) {
      this.settler.requeueFailed(taken, error);
      return;
    }
    if (settlement.action === 'hold') {
      if (this.providerHold.mayKeep(taken)) {
        const { resumeInMs } = settlement;
        this.keep({ taken, id: settlement.id }, (held) => this.providerHold.keep(held, resumeInMs));
        return;
      }
      settlement = settlement.otherwise;
    }
    switch (settlement.action) {
      case 'abandoned':
        this.settler.abandoned(taken, settlement);
        return;
      case 'ledger-unavailable': {
        taken.claimToken = settlement.claimToken;
        const { unrecorded } = settlement;
        const held = { taken, id: settlement.id, ...(unrecorded === undefined ? {} : { unrecorded }) };
        this.keep(held, (kept) => this.ledgerGate.keep(kept));
        return;
      }
      case 'skipped':
        this.settler.skipped(taken, settlement);
        return;
      case 'sent':
        await this.settler.sent(taken, settlement);
        return;
      case 'suppressed':
        await this.settler.suppressed(taken, settlement);
        return;
      case 'retry':
      case 'park':
        await this.settler.copied(taken, settlement);
    }
  }

  /** Keeps a message unacked and unsent with `keeper`, unless it can no longer be settled or the worker stops. */
  private keep<H extends Held>(held: H, keeper: (held: H) => void): void {
    if (held.taken.closed.aborted || this.stopping) {
      this.finish(held.taken, { action: 'abandoned', id: held.id });
      return;
    }
    keeper(held);
  }
}
