import type { ConfirmPublisher } from '@mailer/amqp';
import type { LifecycleEvent, OutboxStore } from '@mailer/contract';
import { listenForOutbox, type OutboxListener } from '@mailer/ledger';
import { messageOf, type Logger } from '@mailer/service';

/** What {@link EventsRelay} needs. */
export interface EventsRelayOptions {
  readonly outbox: OutboxStore;
  readonly publisher: Pick<ConfirmPublisher, 'publish'>;
  /** The events exchange (`topology.eventsExchange.name`). */
  readonly exchange: string;
  /** Rows per transaction (EVENTS_RELAY_BATCH). */
  readonly batch: number;
  /** The ledger's URL: the relay LISTENs on a connection of its own, outside the pool. */
  readonly databaseUrl: string;
  readonly logger: Logger;
  /** How often to look when no notification came (a lost one, or while the LISTEN connection is down). */
  readonly pollMs?: number;
  /** Waits after a failed batch (broker or ledger down), doubling up to `max`. */
  readonly backoffMs?: { readonly initial: number; readonly max: number };
  /** How to LISTEN for the triggers' notifications; {@link listenForOutbox} on `databaseUrl` by default. */
  readonly listen?: (onNotify: () => void) => OutboxListener;
  /** Called with each batch once the broker confirmed every event of it. */
  readonly onPublished?: (events: readonly LifecycleEvent[]) => void;
}

/**
 * Publishes the ledger's outbox to the events exchange (docs/events.md): locks a batch of
 * unpublished rows (`FOR UPDATE SKIP LOCKED`, so relays in several consumers share the work),
 * publishes each event with its type as the routing key and waits for every confirm, then marks
 * the batch published in the same transaction. A crash between the confirms and the commit
 * publishes the batch again later, with the same event ids: at least once, never lost.
 *
 * Reads again at once after a batch that found events; after an empty read it sleeps until the
 * triggers' NOTIFY or the poll, whichever comes first. After a failure it waits, longer each
 * time, and tries again.
 */
export class EventsRelay {
  private running: Promise<void> | undefined;
  private stopping = false;
  private woken = false;
  private wake: (() => void) | undefined;
  private listener: OutboxListener | undefined;

  constructor(private readonly options: EventsRelayOptions) {}

  /** Starts listening and publishing; resolves at once. */
  start(): void {
    if (this.running !== undefined) return;
    const onNotify = (): void => this.wakeUp();
    this.listener =
      this.options.listen?.(onNotify) ??
      listenForOutbox({
        url: this.options.databaseUrl,
        onNotify,
        retryMs: this.options.pollMs ?? 1_000,
        logger: this.options.logger,
      });
    this.running = this.loop();
  }

  /**
   * Stops: the batch in flight is finished if it can be within `timeoutMs`; otherwise the caller
   * closes the broker connection and the batch's transaction rolls back (it is published again
   * later, by this relay's successor or another).
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopping = true;
    this.wakeUp();
    await this.listener?.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.running,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, timeoutMs));
      }),
    ]);
    clearTimeout(timer);
  }

  private async loop(): Promise<void> {
    const { initial, max } = this.options.backoffMs ?? { initial: 200, max: 10_000 };
    let delay = initial;
    let failing = false;
    while (!this.stopping) {
      this.woken = false;
      try {
        const published = await this.options.outbox.publishBatch(this.options.batch, (events) => this.publish(events));
        if (failing) this.options.logger.info('publishing lifecycle events again');
        failing = false;
        delay = initial;
        // Events were found: more may be waiting, some from writers that did not notify (one
        // transaction at a time does, migration 0009). Only an empty read sleeps.
        if (published > 0) continue;
        await this.sleep(this.options.pollMs ?? 1_000);
      } catch (error) {
        // A batch cut short by the shutdown (the broker connection closing) is no failure.
        if (this.stopRequested()) break;
        if (!failing) {
          this.options.logger.warn('could not publish lifecycle events; trying again later', {
            error: messageOf(error),
          });
        }
        failing = true;
        await this.sleep(delay, false);
        delay = Math.min(max, delay * 2);
      }
    }
  }

  /** Read through a call: the loop's condition would otherwise narrow the field for the compiler. */
  private stopRequested(): boolean {
    return this.stopping;
  }

  private async publish(events: readonly LifecycleEvent[]): Promise<void> {
    const { publisher, exchange } = this.options;
    // Every publish is awaited, even after one failed: the batch is marked only if all were confirmed.
    const results = await Promise.allSettled(
      events.map((event) =>
        publisher.publish({
          exchange,
          routingKey: event.type,
          messageId: event.id,
          body: Buffer.from(JSON.stringify(event)),
          properties: { contentType: 'application/json', type: event.type },
          // Readers bind their own queues: an event no queue wants is dropped by the exchange, and
          // the outbox keeps it for replays (docs/events.md).
          unroutedIsFine: true,
        }),
      ),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    this.options.onPublished?.(events);
  }

  /** Waits `ms`, or less when woken (by a notification, unless `wakeable` is false, or by stop). */
  private sleep(ms: number, wakeable = true): Promise<void> {
    if (this.stopping || (wakeable && this.woken)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = () => {
        if (wakeable || this.stopping) done();
      };
    });
  }

  private wakeUp(): void {
    this.woken = true;
    this.wake?.();
  }
}
