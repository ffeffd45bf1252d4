import { hostname } from 'node:os';
import { buildTopology } from '@mailer/contract';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import { DeliveryWorker } from './amqp/delivery-worker';
import { ConfigError, loadConfig, type ConsumerConfig } from './config';
import { CircuitBreaker } from './delivery/circuit-breaker';
import type { ProviderSlot } from './delivery/failover';
import { handleEmail } from './delivery/handle-email';
import { RateLimiter } from './delivery/rate-limiter';
import { createLogger } from './log/logger';
import { createProviders } from './providers/registry';

function readConfig(): ConsumerConfig {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`consumer: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

/** Reads the environment, connects, consumes; stops cleanly on SIGTERM or SIGINT. */
function main(): void {
  const config = readConfig();
  const logger = createLogger({ level: config.logLevel });
  const topology = buildTopology({
    prefix: config.amqpPrefix,
    retryDelaysMs: config.retryDelays,
    deliveryLimit: config.deliveryLimit,
  });
  const providers = createProviders(config, logger);
  const chain: ProviderSlot[] = providers.map(({ provider, timeoutMs, ratePerSecond }) => ({
    provider,
    timeoutMs,
    limiter: new RateLimiter(ratePerSecond),
    circuit: new CircuitBreaker({
      failureThreshold: config.circuitFailureThreshold,
      coolDownMs: config.circuitCoolDownMs,
    }),
  }));
  const broker = new BrokerConnection({
    url: config.amqpUrl,
    topology,
    logger,
    connectionName: `mailer-consumer@${hostname()}:${process.pid}`,
  });
  const publisher = new ConfirmPublisher(broker, { timeoutMs: 10_000, maxInflight: config.prefetch * 2, logger });
  const worker = new DeliveryWorker({
    broker,
    publisher,
    topology,
    prefetch: config.prefetch,
    maxHeldBytes: config.maxHeldBytes,
    logger,
    handle: (message, abandon) =>
      handleEmail(
        {
          chain,
          now: () => new Date(),
          policy: { maxAttempts: config.maxAttempts, maxAgeMs: config.maxAgeMs, tiers: topology.retryTiers },
        },
        message,
        abandon,
      ),
  });

  broker.on('fatal', (error) => {
    logger.error('stopping: the broker refused the topology', { error: error.message });
    logger.on('finish', () => process.exit(1));
    logger.end();
  });
  worker.start();
  broker.start().catch(() => undefined);
  logger.info('consumer started', { providers: chain.map((slot) => slot.provider.name), prefetch: config.prefetch });

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal, in_flight: worker.busy });
    await worker.stop(config.shutdownTimeoutMs);
    await broker.close();
    await Promise.allSettled(providers.map(({ provider }) => provider.close?.() ?? Promise.resolve()));
    logger.info('stopped', { unsettled: worker.busy });
    logger.on('finish', () => process.exit(0));
    logger.end();
  };
  process.on('SIGTERM', (signal) => void shutdown(signal));
  process.on('SIGINT', (signal) => void shutdown(signal));
}

try {
  main();
} catch (error) {
  process.stderr.write(`consumer: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
}
