import { hostname } from 'node:os';
import { buildTopology } from '@mailer/contract';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import { Lifecycle, explainUnreachableBroker, runMain, startService } from '@mailer/service';
import { DeliveryWorker } from './amqp/delivery-worker';
import { configKeys, loadConfig } from './config';
import { CircuitBreaker } from './delivery/circuit-breaker';
import type { ProviderSlot } from './delivery/failover';
import { handleEmail } from './delivery/handle-email';
import { RateLimiter } from './delivery/rate-limiter';
import { createProviders } from './providers/registry';

/** Reads the environment, connects, consumes; stops cleanly on SIGTERM or SIGINT. */
function main(): void {
  const { config, logger } = startService({ name: 'consumer', env: process.env, keys: configKeys, load: loadConfig });
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

  const lifecycle = new Lifecycle({
    logger,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    status: () => ({ in_flight: worker.busy }),
    outcome: () => ({ unsettled: worker.busy }),
  })
    .onStop(({ remainingMs }) => worker.stop(remainingMs()))
    .onStop(() => broker.close())
    .onStop(async () => {
      await Promise.allSettled(providers.map(({ provider }) => provider.close?.() ?? Promise.resolve()));
    })
    .handleSignals();
  lifecycle.exitOnFatal(broker);
  explainUnreachableBroker(broker, logger, { url: config.amqpUrl, consequence: 'no email is sent until it is' });
  worker.start();
  broker.start().catch(() => undefined);
  logger.info('consumer started', { providers: chain.map((slot) => slot.provider.name), prefetch: config.prefetch });
}

runMain('consumer', main);
