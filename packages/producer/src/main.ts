import { hostname } from 'node:os';
import { v7 as uuidv7 } from 'uuid';
import { WORK_ROUTING_KEY, buildTopology } from '@mailer/contract';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import { AmqpEmailPublisher } from './amqp/email-publisher';
import { ConfigError, loadConfig } from './config';
import { createApp } from './http/app';
import { HttpServer } from './http/server';
import { createLogger } from './log/logger';

/** Reads the environment, connects, listens; stops cleanly on SIGTERM or SIGINT. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`producer: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel });
  const topology = buildTopology({
    prefix: config.amqpPrefix,
    retryDelaysMs: config.retryDelaysMs,
    deliveryLimit: config.deliveryLimit,
  });
  const broker = new BrokerConnection({
    url: config.amqpUrl,
    topology,
    logger,
    connectionName: `mailer-producer@${hostname()}:${process.pid}`,
  });
  const publisher = new AmqpEmailPublisher(
    new ConfirmPublisher(broker, {
      timeoutMs: config.publishTimeoutMs,
      maxInflight: config.maxInflightPublishes,
      logger,
    }),
    { exchange: topology.workExchange.name, routingKey: WORK_ROUTING_KEY },
  );
  let stopping = false;
  const app = createApp({
    publisher,
    newId: uuidv7,
    now: () => new Date(),
    apiKeys: config.apiKeys,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    readiness: () => broker.readiness(),
    draining: () => stopping,
  });

  // A topology the broker refuses cannot be fixed by retrying, at start-up or on a reconnect.
  broker.on('fatal', (error) => {
    logger.error('stopping: the broker refused the topology', { error: error.message });
    logger.on('finish', () => process.exit(1));
    logger.end();
  });
  broker.start().catch(() => undefined);

  const server = new HttpServer(app);
  logger.info('producer listening', { port: await server.listen(config.port, config.host) });

  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    await server.close(config.shutdownTimeoutMs);
    await broker.close();
    logger.info('stopped');
    logger.on('finish', () => process.exit(0));
    logger.end();
  };
  process.on('SIGTERM', (signal) => void shutdown(signal));
  process.on('SIGINT', (signal) => void shutdown(signal));
}

main().catch((error: unknown) => {
  process.stderr.write(`producer: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
