import type { ConfirmChannel } from 'amqplib';
import type { BrokerConnection, Logger } from '@mailer/amqp';
import type { Topology } from '@mailer/contract';
import { ConsumerControl } from './consumer-control';
import { Holdings } from './holdings';
import type { LedgerRetryMs } from './ledger-gate';
import { LedgerWait } from './ledger-wait';
import { InFlight } from './in-flight';
import type { Taken } from './taken';

/** How a {@link LedgerBoundConsumer} consumes. */
export interface LedgerBoundConsumerOptions {
  readonly broker: BrokerConnection;
  readonly topology: Topology;
  readonly queue: string;
  /** Messages taken unacked at once; small messages: the prefetch alone bounds what is held. */
  readonly prefetch: number;
  readonly logger: Logger;
  /** Asked until it answers while the ledger is out of reach. */
  readonly ping: () => Promise<void>;
  readonly retryMs: LedgerRetryMs;
  /** What the ledger-wait log lines name (`webhook deliveries`). */
  readonly subject: string;
  /** Handles one message; it settles it and calls {@link LedgerBoundConsumer.release}. */
  readonly process: (taken: Taken) => Promise<void>;
  /** A kept message whose channel closed: it can no longer be settled and comes back. */
  readonly abandoned: (taken: Taken) => void;
  /** Told when consuming starts (`true`) or stops (`false`) on the channel. */
  readonly consuming?: (on: boolean) => void;
}

/**
 * The consuming every worker that needs the ledger for each message shares (the provider-event
 * worker, the webhook fan-out and delivery workers): manual acks under its own prefetch, on the connection's channel and on
 * each one it opens later; a message whose ledger call found PostgreSQL out of reach is kept
 * unacked ({@link keep}) and consuming pauses until the ledger answers, so an outage spends no
 * delivery limit; a stop waits a bounded time for what is in flight.
 */
export class LedgerBoundConsumer {
  private readonly inFlight = new InFlight();
  private readonly control: ConsumerControl;
  private readonly ledgerWait: LedgerWait<{ readonly taken: Taken }>;
  private stopping = false;

  constructor(private readonly options: LedgerBoundConsumerOptions) {
    const { topology, queue, prefetch, logger } = options;
    this.control = new ConsumerControl({
      topology,
      queue,
      prefetch,
      logger,
      holdings: new Holdings(Number.POSITIVE_INFINITY, prefetch),
      pausedBy: () => this.paused,
      take: (taken) => this.inFlight.track(() => options.process(taken)),
      channelClosed: () => {
        for (const { taken } of this.ledgerWait.drop()) options.abandoned(taken);
      },
      consuming: (on) => options.consuming?.(on),
    });
    this.ledgerWait = new LedgerWait({
      ping: options.ping,
      retryMs: options.retryMs,
      logger,
      subject: options.subject,
      resume: ({ taken }) => this.inFlight.track(() => options.process(taken)),
      changed: () => void this.control.reconcile(),
    });
  }

  /** Consumes on the current channel and on every channel the connection opens later. */
  start(): void {
    const attach = (channel: ConfirmChannel) => {
      if (!this.stopping) this.control.attach(channel);
    };
    this.options.broker.on('channel', attach);
    const channel = this.options.broker.channel;
    if (channel !== undefined) attach(channel);
  }

  /** Messages being handled now. */
  get busy(): number {
    return this.inFlight.size;
  }

  /** Messages kept unacked while the ledger cannot be reached. */
  get waitingForLedger(): number {
    return this.ledgerWait.waiting;
  }

  /** Why no messages are taken now, or `undefined` when they are (or could be, given a channel). */
  get paused(): 'ledger-unavailable' | 'stopping' | undefined {
    if (this.stopping) return 'stopping';
    return this.ledgerWait.paused ? 'ledger-unavailable' : undefined;
  }

  /** Whether a stop began: what is handled now should not wait for anything long. */
  get isStopping(): boolean {
    return this.stopping;
  }

  /** Keeps `taken` unacked until the ledger answers, then handles it again. */
  keep(taken: Taken, error: unknown): void {
    this.ledgerWait.keep({ taken }, error);
  }

  /** `taken` was settled: its place in the prefetch is free. */
  release(taken: Taken): void {
    this.control.release(taken);
    void this.control.reconcile();
  }

  /** Stops taking messages and waits up to `timeoutMs` for those in flight; the rest come back. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.ledgerWait.close();
    await this.control.reconcile();
    await this.inFlight.drain(timeoutMs);
  }
}
