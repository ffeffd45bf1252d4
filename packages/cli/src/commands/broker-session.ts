import { hostname } from 'node:os';
import type { ConfirmChannel } from 'amqplib';
import { topologyOf, type TopologyConfig } from '@mailer/config';
import { BrokerConnection, ConfirmPublisher, splitAmqpUrls } from '@mailer/amqp';
import type { Topology } from '@mailer/contract';
import { describeUnreachableBroker, type Logger } from '@mailer/service';
import { CliError, type Io } from '../io';

/**
 * Warnings and errors of the broker connection on stderr, as text with their fields (node names
 * as host:port, never a user or password); nothing else.
 */
export function stderrLogger(io: Io): Logger {
  const write = (level: string) => (message: string, meta?: Record<string, unknown>) => {
    const fields = Object.entries(meta ?? {}).map(([name, value]) => `${name}=${JSON.stringify(value)}`);
    io.err(`mailer: ${level}: ${message}${fields.length === 0 ? '' : ` (${fields.join(' ')})`}\n`);
  };
  return { debug: () => undefined, info: () => undefined, warn: write('warning'), error: write('error') };
}

/** What a command works with on the broker. */
export interface BrokerSession {
  /** The confirm channel the topology was declared on (gets, acks, requeues). */
  readonly channel: ConfirmChannel;
  /** Publishes on that channel and resolves on the broker's confirm. */
  readonly publisher: ConfirmPublisher;
  readonly topology: Topology;
}

/**
 * Runs `work` on one confirm channel of its own (the topology declared, as the services do). A
 * broker that cannot be reached fails once each node of `AMQP_URL` refused once: a command does
 * not wait in the background the way a service does. `maxInflight` publishes await a confirm at once.
 */
export async function withBroker<T>(
  io: Io,
  config: TopologyConfig & { readonly amqpUrl: string },
  work: (session: BrokerSession) => Promise<T>,
  maxInflight = 1,
): Promise<T> {
  const topology = topologyOf(config);
  const logger = stderrLogger(io);
  const nodes = splitAmqpUrls(config.amqpUrl).length;
  const broker = new BrokerConnection({
    url: config.amqpUrl,
    topology,
    logger,
    connectionName: `mailer-cli@${hostname()}:${process.pid}`,
  });
  const publisher = new ConfirmPublisher(broker, { timeoutMs: 10_000, maxInflight, logger });
  try {
    const channel = await new Promise<ConfirmChannel>((resolve, reject) => {
      broker.once('channel', resolve);
      broker.once('fatal', (error) => reject(new CliError(error.message)));
      // Each node listed gets one try; the command fails once every one has refused.
      let failures = 0;
      broker.on('connect-failed', (error) => {
        failures += 1;
        if (failures >= nodes)
          reject(new CliError(describeUnreachableBroker(config.amqpUrl, error, 'nothing was done', false)));
      });
      broker.start().catch(reject);
    });
    return await work({ channel, publisher, topology });
  } finally {
    // The channel closes before the connection, so the last acks are not lost.
    await broker.close();
  }
}
