import { hostname } from 'node:os';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import type { OutboxStore, Topology } from '@mailer/contract';
import { PeriodicSweep, type Lifecycle, type Logger } from '@mailer/service';
import { EventsRelay } from './relay';
import type { RelayMetrics } from './relay-metrics';

/** What {@link startEventsRelay} reads of the consumer's configuration. */
export interface RelayConfig {
  readonly amqpUrl: string;
  readonly databaseUrl: string;
  readonly eventsRelayBatch: number;
  readonly eventsRetentionMs: number;
}

/**
 * Starts the relay of this consumer (docs/events.md) on a broker connection of its own, its
 * metrics, and the pruning of published events. Resolves nothing: returns the stop, to run
 * before the ledger's pool ends.
 */
export function startEventsRelay(deps: {
  readonly config: RelayConfig;
  readonly topology: Topology;
  readonly outbox: OutboxStore;
  readonly metrics: RelayMetrics;
  readonly logger: Logger;
  readonly lifecycle: Pick<Lifecycle, 'exitOnFatal'>;
}): { stop(timeoutMs: number): Promise<void> } {
  const { config, topology, outbox, logger } = deps;
  const broker = new BrokerConnection({
    url: config.amqpUrl,
    topology,
    logger,
    connectionName: `mailer-consumer-relay@${hostname()}:${process.pid}`,
  });
  const relay = new EventsRelay({
    outbox,
    publisher: new ConfirmPublisher(broker, { timeoutMs: 10_000, maxInflight: config.eventsRelayBatch, logger }),
    exchange: topology.eventsExchange.name,
    batch: config.eventsRelayBatch,
    databaseUrl: config.databaseUrl,
    logger,
    onPublished: (events) => deps.metrics.observe(events),
  });
  const prune = new PeriodicSweep({
    task: 'prune published lifecycle events',
    result: 'published lifecycle events pruned',
    sweep: (limit) => outbox.prunePublished(config.eventsRetentionMs, limit),
    logger,
  });
  deps.metrics.watch(outbox);
  deps.lifecycle.exitOnFatal(broker);
  broker.start().catch(() => undefined);
  relay.start();
  prune.start();
  return {
    stop: async (timeoutMs) => {
      await prune.stop();
      await relay.stop(timeoutMs);
      // Closing the connection rolls back a batch still waiting for confirms: it is published again later.
      await broker.close();
      await relay.stop(1_000);
    },
  };
}
