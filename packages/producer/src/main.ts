import { hostname } from 'node:os';
import { v7 as uuidv7 } from 'uuid';
import { WORK_ROUTING_KEY, buildTopology } from '@mailer/contract';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import { Lifecycle, explainUnreachableBroker, runMain, startService } from '@mailer/service';
import { AmqpEmailPublisher } from './amqp/email-publisher';
import { configKeys, loadConfig } from './config';
import { createApp } from './http/app';
import { HttpServer } from './http/server';

/** Reads the environment, connects, listens; stops cleanly on SIGTERM or SIGINT. */
async function main(): Promise<void> {
  const { config, logger } = startService({ name: 'producer', env: process.env, keys: configKeys, load: loadConfig });
  // Signals are handled from here on: a SIGTERM during start-up still ends in a clean exit.
  const lifecycle = new Lifecycle({ logger, shutdownTimeoutMs: config.shutdownTimeoutMs }).handleSignals();
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
  const app = createApp({
    publisher,
    newId: uuidv7,
    now: () => new Date(),
    apiKeys: config.apiKeys,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    readiness: () => broker.readiness(),
    draining: () => lifecycle.stopping,
  });

  // A topology the broker refuses cannot be fixed by retrying, at start-up or on a reconnect.
  lifecycle.exitOnFatal(broker);
  explainUnreachableBroker(broker, logger, {
    url: config.amqpUrl,
    consequence: 'POST /v1/emails answers 503 until it is',
  });
  broker.start().catch(() => undefined);

  const server = new HttpServer(app);
  lifecycle.onStop(({ remainingMs }) => server.close(remainingMs())).onStop(() => broker.close());
  logger.info('producer listening', { port: await server.listen(config.port, config.host) });
}

runMain('producer', main);
