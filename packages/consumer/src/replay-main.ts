import { hostname } from 'node:os';
import type { ConfirmChannel } from 'amqplib';
import { buildTopology } from '@mailer/contract';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import { ConfigError, loadKeys, sharedKeys } from '@mailer/config';
import { replayParked } from './amqp/replay';
import { createLogger } from './log/logger';

const usage = 'usage: replay [--limit N]   (moves parked emails back to the work queue, oldest first)';

/** `--limit N` from the command line; all parked messages when absent. */
function parseLimit(args: readonly string[]): number {
  const at = args.indexOf('--limit');
  if (at === -1) return Number.POSITIVE_INFINITY;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(usage);
  return value;
}

/**
 * The operator's replay command: sends parked emails back to the work queue with a fresh
 * delivery history. Reads the same AMQP settings as the services.
 */
async function main(): Promise<void> {
  const limit = parseLimit(process.argv.slice(2));
  const config = loadKeys(sharedKeys, process.env);
  const logger = createLogger({ level: config.logLevel });
  const topology = buildTopology({
    prefix: config.amqpPrefix,
    retryDelaysMs: config.retryDelays,
    deliveryLimit: config.deliveryLimit,
  });
  const broker = new BrokerConnection({
    url: config.amqpUrl,
    topology,
    logger,
    connectionName: `mailer-replay@${hostname()}:${process.pid}`,
  });
  const publisher = new ConfirmPublisher(broker, { timeoutMs: 10_000, maxInflight: 1, logger });
  const ready = new Promise<ConfirmChannel>((resolve) => broker.once('channel', resolve));
  await broker.start();
  const channel = await ready;
  try {
    // Only what is parked now: emails parked again while this runs wait for the next replay.
    const { messageCount } = await channel.checkQueue(topology.deadQueue.name);
    const { replayed } = await replayParked(channel, publisher, topology, Math.min(limit, messageCount));
    logger.info('replayed parked emails', { count: replayed.length, email_ids: replayed });
  } finally {
    await broker.close();
  }
}

main().catch((error: unknown) => {
  const text = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`replay: ${text}\n`);
  process.exit(error instanceof ConfigError ? 2 : 1);
});
