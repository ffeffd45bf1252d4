import { hostname } from 'node:os';
import type { ConfirmChannel } from 'amqplib';
import { DeliveryHeaders, type Topology } from '@mailer/contract';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import { AUTO_RELEASED_HEADER, DeadLetters, autoReleasesOf, type DeadLetterFilter } from '@mailer/dead-letters';
import type { Logger } from '@mailer/service';
import type { CircuitBreaker } from '../delivery/circuit-breaker';
import { ReleaseSchedule, type ReleaseTrigger } from '../delivery/release-schedule';
import type { DeliveryWorker, WorkerSettlement } from './delivery-worker';

/**
 * What automatic release may send back: emails parked because their attempts or their age ran out
 * while the providers failed (`provider-unavailable`, `transient`). Never a rejected recipient, an
 * invalid or undecodable message, or one parked in doubt (it may have been sent).
 */
export const RELEASABLE = {
  reasons: ['max-attempts', 'max-age'],
  failureKinds: ['provider-unavailable', 'transient'],
} as const satisfies DeadLetterFilter;

/** Whether a settlement parked a releasable email. */
export function parkedReleasable(settlement: WorkerSettlement): boolean {
  if (settlement.action !== 'park') return false;
  const kind = settlement.headers[DeliveryHeaders.lastFailureKind];
  return (
    (RELEASABLE.reasons as readonly string[]).includes(settlement.reason) &&
    (RELEASABLE.failureKinds as readonly string[]).includes(String(kind))
  );
}

export interface AutoReleaseOptions {
  readonly url: string;
  readonly topology: Topology;
  readonly logger: Logger;
  /** Copies published per second at most (`AUTO_RELEASE_RATE`). */
  readonly ratePerSecond: number;
  /** Releases of one email at most (`AUTO_RELEASE_MAX`); after that it stays parked for an operator. */
  readonly maxReleases: number;
  /** How often to look while releasable mail may be parked (`AUTO_RELEASE_INTERVAL`). */
  readonly intervalMs: number;
  /** The ledger's attempt for an email, so a copy counts on past it (as a replay does). */
  readonly ledgerAttempt?: (client: string, id: string) => Promise<number | undefined>;
  readonly observe?: (trigger: ReleaseTrigger, count: number) => void;
}

/**
 * Automatic release (`AUTO_RELEASE=true`): parked emails that only waited for a provider are sent
 * back to the work queue by the consumer itself, rate-capped, each copy confirmed before its
 * parked original is acked ({@link DeadLetters.replay}). {@link ReleaseSchedule} decides when. It
 * has a connection of its own, so that a pass over the dead-letter queue never holds up the
 * delivery channel; stopping closes it, which ends a pass under way (what it held goes back to the
 * queue, unacked).
 */
export class AutoRelease {
  private readonly broker: BrokerConnection;
  private readonly publisher: ConfirmPublisher;
  private readonly schedule: ReleaseSchedule;
  private channel: ConfirmChannel | undefined;
  private stopping = false;
  /** The probe out, until this consumer sees it sent or parked again, or it is overdue. */
  private probe: { readonly id: string; readonly at: number } | undefined;
  /** Longest a probe can take through every retry tier, plus one look. */
  private readonly probeOverdueMs: number;

  constructor(private readonly options: AutoReleaseOptions) {
    const { url, topology, logger } = options;
    this.probeOverdueMs = topology.retryTiers.reduce((sum, tier) => sum + tier.delayMs, options.intervalMs);
    this.broker = new BrokerConnection({
      url,
      topology,
      logger,
      connectionName: `mailer-consumer-release@${hostname()}:${process.pid}`,
    });
    this.publisher = new ConfirmPublisher(this.broker, { timeoutMs: 10_000, maxInflight: 1, logger });
    this.broker.on('channel', (channel) => {
      this.channel = channel;
      channel.once('close', () => {
        if (this.channel === channel) this.channel = undefined;
      });
    });
    this.schedule = new ReleaseSchedule({
      intervalMs: options.intervalMs,
      release: (trigger, limit) => this.release(trigger, limit),
      onError: (error, trigger) => {
        // A pass cut short by stop() is not a failure worth a warning.
        if (this.stopping) return;
        logger.warn('automatic release failed; it is tried again at the next trigger', {
          trigger,
          error: error instanceof Error ? error.message : String(error),
        });
      },
    });
  }

  /** Connects, listens to the worker and the circuits, and starts looking. */
  start(worker: DeliveryWorker, circuits: readonly CircuitBreaker[]): void {
    worker.on('settled', (settlement) => {
      if (settlement.id !== undefined && settlement.id === this.probe?.id) {
        // Settled for good: sent, parked again, or suppressed (nobody left to send it to).
        if (settlement.action === 'sent' || settlement.action === 'park' || settlement.action === 'suppressed') {
          this.probe = undefined;
        }
      }
      if (settlement.action === 'sent') this.schedule.sent();
      else if (parkedReleasable(settlement)) this.schedule.parked();
    });
    for (const circuit of circuits) circuit.onClose(() => this.schedule.circuitClosed());
    this.broker.start().catch(() => undefined);
    this.schedule.start();
  }

  /** Stops looking, ends a pass under way and closes the connection. */
  async stop(): Promise<void> {
    this.stopping = true;
    const ending = this.schedule.stop();
    await this.broker.close();
    await ending;
  }

  private async release(trigger: ReleaseTrigger, limit: number | undefined) {
    // One probe at a time: during a long outage each would otherwise start another email's
    // trip through the retry tiers.
    if (trigger === 'probe' && this.probe !== undefined && Date.now() - this.probe.at < this.probeOverdueMs) {
      return { released: 0, more: true };
    }
    const channel = this.channel;
    if (channel === undefined) throw new Error('not connected to the broker');
    const { topology, logger, ratePerSecond, maxReleases, ledgerAttempt } = this.options;
    const filter: DeadLetterFilter = {
      ...RELEASABLE,
      autoReleasedFewerThan: maxReleases,
      ...(limit === undefined ? {} : { limit }),
    };
    const { replayed } = await new DeadLetters(channel, topology).replay(this.publisher, filter, {
      ratePerSecond,
      ...(ledgerAttempt === undefined ? {} : { ledgerAttempt }),
      // A probe is not counted: in a long outage the probes would use up every email's releases.
      ...(trigger === 'probe' ? {} : { stamp: (headers) => ({ [AUTO_RELEASED_HEADER]: autoReleasesOf(headers) + 1 }) }),
    });
    if (trigger === 'probe') this.probe = replayed[0] === undefined ? undefined : { id: replayed[0], at: Date.now() };
    this.options.observe?.(trigger, replayed.length);
    if (replayed.length > 0) {
      logger.info('released parked emails', { trigger, count: replayed.length, email_ids: replayed });
    }
    return { released: replayed.length, more: limit !== undefined && replayed.length >= limit };
  }
}
