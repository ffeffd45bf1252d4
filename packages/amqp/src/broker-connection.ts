import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { Readiness, Topology } from '@mailer/contract';
import { TopologyMismatchError, declareTopology } from './declare-topology';
import { NodeRotation, nodeAddress } from './nodes';
import type { Logger } from './types';

/** How to reach the broker and what to declare there. */
export interface BrokerConnectionOptions {
  /** One URL, or a comma-separated list of a cluster's nodes, tried in turn. */
  readonly url: string;
  readonly topology: Topology;
  readonly logger: Logger;
  /** Shown in the management UI's connection list. */
  readonly connectionName: string;
  /** Reconnect backoff: first delay and cap, in ms. */
  readonly reconnectDelayMs?: { readonly initial: number; readonly max: number };
}

interface Events {
  /** A new confirm channel is open and the topology is declared. */
  channel: [ConfirmChannel];
  /** Start-up cannot go on (the topology does not match). */
  fatal: [Error];
  /** An attempt to connect failed; another follows after a backoff. */
  'connect-failed': [Error];
  /** The whole topology was declared (on connect, or again after an unroutable publish). */
  declared: [];
}

/**
 * One connection to RabbitMQ with one confirm channel, kept open: it declares the topology on
 * every (re)connect, reconnects with backoff after the broker goes away, reopens the channel
 * after a channel error, and tracks the broker's flow-control block.
 *
 * Every connection and channel gets an `'error'` listener: in amqplib an unhandled channel error
 * closes the whole connection, and an unhandled connection error ends the process.
 */
export class BrokerConnection extends EventEmitter<Events> {
  private model: ChannelModel | undefined;
  private confirmChannel: ConfirmChannel | undefined;
  private blockedReason: string | undefined;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private redeclaring = false;
  private lastRedeclareAt = 0;
  private renewing = false;
  /** Channels replaced by {@link renewChannel}: their close opens no other. */
  private readonly retired = new WeakSet<ConfirmChannel>();
  private readonly nodes: NodeRotation;

  constructor(private readonly options: BrokerConnectionOptions) {
    super();
    this.nodes = new NodeRotation(options.url);
  }

  /** `host:port` of the node connected to, or tried next. */
  get node(): string {
    return nodeAddress(this.nodes.current);
  }

  /** The open confirm channel, if any. */
  get channel(): ConfirmChannel | undefined {
    return this.confirmChannel;
  }

  /** Why the broker blocked publishing (memory or disk alarm), if it has. */
  get blocked(): string | undefined {
    return this.blockedReason;
  }

  /** Whether a publish can be attempted now. */
  get ready(): boolean {
    return this.confirmChannel !== undefined && this.blockedReason === undefined && !this.stopping;
  }

  /** Readiness for `GET /readyz`: connected, with an open channel, and not blocked. */
  readiness(): Readiness {
    if (this.stopping) return { ready: false, reason: 'shutting down' };
    if (this.blockedReason !== undefined) return { ready: false, reason: `broker blocked: ${this.blockedReason}` };
    if (this.confirmChannel === undefined) return { ready: false, reason: 'not connected to the broker' };
    return { ready: true };
  }

  /**
   * Connects, retrying with backoff until the broker answers. Resolves once the first channel is
   * ready; rejects with {@link TopologyMismatchError} if the broker holds a queue with other
   * arguments (start-up must stop then).
   */
  start(): Promise<void> {
    this.loop ??= this.connectUntilReady();
    return this.loop;
  }

  /**
   * Declares the topology again on the open connection, at most once a second: called when the
   * broker returns a message as unroutable, which means a queue or binding was deleted under a
   * live connection. Until it is back, those publishes answer 503; after it, 202 again.
   */
  redeclareSoon(): void {
    const model = this.model;
    if (model === undefined || this.redeclaring || Date.now() - this.lastRedeclareAt < 1000) return;
    this.redeclaring = true;
    this.lastRedeclareAt = Date.now();
    const { logger, topology } = this.options;
    logger.warn('a publish was unroutable: declaring the topology again');
    void (async () => {
      const setup = await model.createChannel();
      setup.on('error', (error: Error) => logger.debug('topology channel error', { error: error.message }));
      await declareTopology(setup, topology);
      await setup.close();
      this.emit('declared');
    })()
      .catch((error: unknown) => {
        if (error instanceof TopologyMismatchError) this.emit('fatal', error);
        else
          logger.warn('declaring the topology again failed', {
            error: error instanceof Error ? error.message : String(error),
          });
      })
      .finally(() => {
        this.redeclaring = false;
      });
  }

  /**
   * Replaces `channel`, if it is still the open one, by a new confirm channel on the same
   * connection; the old one closes once its pending confirms are in. For a publisher whose every
   * publish the broker nacks: RabbitMQ 3.10 keeps a quorum queue's client state per channel, and
   * a channel whose first publish to the queue found the queue record naming a stopped node as
   * leader nacks every later publish to it (docs/cluster.md). A new channel reads the record again.
   */
  renewChannel(channel: ConfirmChannel): void {
    const model = this.model;
    if (model === undefined || this.confirmChannel !== channel || this.renewing || this.stopping) return;
    this.renewing = true;
    this.retired.add(channel);
    const { logger } = this.options;
    logger.warn('every publish is nacked: opening a new channel', { node: this.node });
    this.openChannel(model)
      .then(
        () =>
          // Publishes already sent on the old channel settle there first.
          void channel
            .waitForConfirms()
            .catch(() => undefined)
            .then(() => channel.close())
            .catch(() => undefined),
        (error: unknown) => {
          // No new channel: keep the old one rather than none.
          this.retired.delete(channel);
          logger.warn('opening a new channel failed', {
            error: error instanceof Error ? error.message : String(error),
          });
        },
      )
      .finally(() => {
        this.renewing = false;
      });
  }

  /** Closes the channel (after its pending confirms) and the connection; no reconnect follows. */
  async close(): Promise<void> {
    this.stopping = true;
    const model = this.model;
    this.model = undefined;
    try {
      await this.confirmChannel?.close();
    } catch {
      // Already closed with the connection: nothing left to flush.
    }
    try {
      await model?.close();
    } catch {
      // Already closed.
    }
  }

  private async connectUntilReady(): Promise<void> {
    const { initial, max } = this.options.reconnectDelayMs ?? { initial: 100, max: 5000 };
    let delay = initial;
    for (let attempt = 1; !this.stopping; attempt += 1) {
      try {
        await this.open();
        return;
      } catch (error) {
        if (error instanceof TopologyMismatchError) {
          this.emit('fatal', error);
          throw error;
        }
        this.emit('connect-failed', error instanceof Error ? error : new Error(String(error)));
        const failed = this.node;
        // With several nodes the next attempt goes to the next one: this one may be down.
        this.nodes.advance();
        this.options.logger.warn('broker connection failed; retrying', {
          attempt,
          node: failed,
          ...(this.nodes.size > 1 ? { next_node: this.node } : {}),
          retry_in_ms: delay,
          error: error instanceof Error ? error.message : String(error),
        });
        await sleep(delay * (0.8 + Math.random() * 0.4));
        delay = Math.min(max, delay * 2);
      }
    }
  }

  private async open(): Promise<void> {
    const { logger } = this.options;
    const model = await connect(this.nodes.current, {
      clientProperties: { connection_name: this.options.connectionName },
      timeout: 5000,
    });
    model.on('error', (error: Error) => logger.warn('broker connection error', { error: error.message }));
    model.on('blocked', (reason: string) => {
      this.blockedReason = reason || 'blocked';
      logger.warn('broker blocked publishing', { reason });
    });
    model.on('unblocked', () => {
      this.blockedReason = undefined;
      logger.info('broker unblocked publishing');
    });
    model.on('close', () => this.onConnectionClosed(model));
    try {
      const setup = await model.createChannel();
      setup.on('error', (error: Error) => logger.debug('topology channel error', { error: error.message }));
      await declareTopology(setup, this.options.topology);
      await setup.close();
      this.emit('declared');
      this.model = model;
      await this.openChannel(model);
    } catch (error) {
      this.model = undefined;
      await model.close().catch(() => undefined);
      throw error;
    }
    logger.info('broker connected', { connection_name: this.options.connectionName, node: this.node });
  }

  private async openChannel(model: ChannelModel): Promise<void> {
    const { logger } = this.options;
    const channel = await model.createConfirmChannel();
    channel.on('error', (error: Error) => logger.warn('broker channel error', { error: error.message }));
    channel.on('close', () => {
      if (this.confirmChannel === channel) this.confirmChannel = undefined;
      if (this.retired.has(channel)) return;
      if (this.model === model && !this.stopping) {
        // The connection is still up, so a channel error closed just the channel: open another.
        this.openChannel(model).catch((error: unknown) =>
          logger.warn('reopening channel failed', { error: error instanceof Error ? error.message : String(error) }),
        );
      }
    });
    this.confirmChannel = channel;
    this.emit('channel', channel);
  }

  private onConnectionClosed(model: ChannelModel): void {
    if (this.model !== model) return;
    this.model = undefined;
    this.confirmChannel = undefined;
    this.blockedReason = undefined;
    if (this.stopping) return;
    const lost = this.node;
    // The node that dropped the connection is likely going down: reconnect to the next one.
    this.nodes.advance();
    this.options.logger.warn('broker connection lost; reconnecting', {
      node: lost,
      ...(this.nodes.size > 1 ? { next_node: this.node } : {}),
    });
    this.loop = this.connectUntilReady();
    // A refused topology is reported through 'fatal'; nothing else ends the loop.
    this.loop.catch(() => undefined);
  }
}
