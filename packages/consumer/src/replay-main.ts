import { hostname } from 'node:os';
import type { ConfirmChannel } from 'amqplib';
import { buildTopology } from '@mailer/contract';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import { loadKeys, sharedKeys } from '@mailer/config';
import { Ledger, createPool, ledgerKeys } from '@mailer/ledger';
import { explainUnreachableBroker, readCommandLine, runMain, startService } from '@mailer/service';
import { replayParked } from './amqp/replay';

const usage = `usage: pnpm replay [-- --limit N]
       node packages/consumer/dist/replay-main.js [--limit N]

Moves parked emails (the dead-letter queue) back to the work queue, oldest first, each with a
fresh delivery history. Reads AMQP_URL, AMQP_PREFIX, RETRY_DELAYS, DELIVERY_LIMIT and LOG_LEVEL
from the environment, as the services do, and LEDGER, DATABASE_URL and DATABASE_POOL_SIZE: with
the ledger on, each copy's attempts count on past the attempt the ledger recorded.

  --limit N    move at most N emails (default: every email parked when it starts)
  -h, --help   print this and exit; nothing is moved`;

/** The command line, checked before anything connects: a typo must not replay everything. */
function readLimit(args: readonly string[]): number {
  const { values, refuse } = readCommandLine(args, {
    name: 'replay',
    usage,
    options: { limit: { type: 'string' } },
  });
  if (values.limit === undefined) return Number.POSITIVE_INFINITY;
  const limit = Number(values.limit);
  return /^\d+$/.test(values.limit) && limit >= 1 ? limit : refuse('--limit must be a whole number from 1');
}

/**
 * The operator's replay command: sends parked emails back to the work queue with a fresh
 * delivery history. Reads the same AMQP settings as the services.
 */
const keys = {
  ...sharedKeys,
  ledger: ledgerKeys.ledger,
  databaseUrl: ledgerKeys.databaseUrl,
  databasePoolSize: ledgerKeys.databasePoolSize,
};

async function main(): Promise<void> {
  const limit = readLimit(process.argv.slice(2));
  const { config, logger } = startService({
    name: 'replay',
    env: process.env,
    keys,
    load: (env) => loadKeys(keys, env),
  });
  const pool = config.ledger === 'on' ? createPool({ url: config.databaseUrl, max: 1 }) : undefined;
  const ledger = pool === undefined ? undefined : new Ledger({ db: pool });
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
  explainUnreachableBroker(broker, logger, { url: config.amqpUrl, consequence: 'nothing is replayed until it is' });
  const ready = new Promise<ConfirmChannel>((resolve) => broker.once('channel', resolve));
  await broker.start();
  const channel = await ready;
  try {
    // Only what is parked now: emails parked again while this runs wait for the next replay.
    const { messageCount } = await channel.checkQueue(topology.deadQueue.name);
    const { replayed, skipped } = await replayParked(
      channel,
      publisher,
      topology,
      Math.min(limit, messageCount),
      ledger === undefined ? {} : { ledgerAttempt: async (client, id) => (await ledger.getEmail(client, id))?.attempt },
    );
    logger.info('replayed parked emails', { count: replayed.length, skipped, email_ids: replayed });
  } finally {
    await broker.close();
    await pool?.end();
    await logger.flush();
  }
}

runMain('replay', main);
