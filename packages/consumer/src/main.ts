import { hostname } from 'node:os';
import { buildTopology } from '@mailer/contract';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import { Ledger, createPool, migrateDatabase } from '@mailer/ledger';
import { Lifecycle, explainUnreachableBroker, runMain, startService, type Logger } from '@mailer/service';
import { AutoRelease } from './amqp/auto-release';
import { DeliveryWorker } from './amqp/delivery-worker';
import { configKeys, loadConfig, type ConsumerConfig } from './config';
import { CircuitBreaker } from './delivery/circuit-breaker';
import type { ProviderSlot } from './delivery/failover';
import { handleEmail } from './delivery/handle-email';
import { RateLimiter } from './delivery/rate-limiter';
import { ConsumerMetrics } from './metrics/consumer-metrics';
import { ConsumerHttpPort, consumerReadiness } from './metrics/http-port';
import { ProviderChecks, logProviderChecks } from './providers/checks';
import { createProviders } from './providers/registry';

/**
 * The ledger's pool and the ledger, with `LEDGER=on`; with `MIGRATE_ON_START` the database is
 * created if absent and migrated first (on a pool of its own, with no statement bound).
 */
async function openLedger(config: ConsumerConfig, logger: Logger) {
  if (config.migrateOnStart) await migrateDatabase(config.databaseUrl, logger);
  const pool = createPool({
    url: config.databaseUrl,
    max: config.databasePoolSize,
    // An idle connection the server dropped: the next call reconnects, or fails as ledger-unavailable.
    onError: (error) => logger.warn('ledger connection lost', { error: error.message }),
  });
  return { pool, ledger: new Ledger({ db: pool }) };
}

/** Reads the environment, connects, consumes; stops cleanly on SIGTERM or SIGINT. */
async function main(): Promise<void> {
  const { config, logger } = startService({ name: 'consumer', env: process.env, keys: configKeys, load: loadConfig });
  const ledger = config.ledger === 'on' ? await openLedger(config, logger) : undefined;
  const topology = buildTopology({
    prefix: config.amqpPrefix,
    retryDelaysMs: config.retryDelays,
    deliveryLimit: config.deliveryLimit,
  });
  const metrics = new ConsumerMetrics();
  const providers = createProviders(config, logger);
  const chain: ProviderSlot[] = providers.map(({ provider, timeoutMs, ratePerSecond }) => ({
    provider: metrics.instrumentProvider(provider),
    timeoutMs,
    waitTimeoutMs: config.sendWaitTimeoutMs,
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
  metrics.watchChain(chain);
  const deliveryLedger = ledger === undefined ? undefined : metrics.instrumentLedger(ledger.ledger, config.inDoubt);
  const publisher = new ConfirmPublisher(broker, { timeoutMs: 10_000, maxInflight: config.prefetch * 2, logger });
  const worker = new DeliveryWorker({
    broker,
    publisher,
    topology,
    prefetch: config.prefetch,
    maxHeldBytes: config.maxHeldBytes,
    logger,
    ...(deliveryLedger === undefined ? {} : { ledger: deliveryLedger }),
    handle: (message, abandon) =>
      handleEmail(
        {
          chain,
          now: () => new Date(),
          policy: { maxAttempts: config.maxAttempts, maxAgeMs: config.maxAgeMs, tiers: topology.retryTiers },
          ...(deliveryLedger === undefined ? {} : { ledger: { port: deliveryLedger, inDoubt: config.inDoubt } }),
          observe: (outcome, acceptedAt) => metrics.observeDelivery(outcome, acceptedAt),
        },
        message,
        abandon,
      ),
  });

  metrics.watchWorker(worker, config.prefetch);
  const autoRelease = config.autoRelease
    ? new AutoRelease({
        url: config.amqpUrl,
        topology,
        logger,
        ratePerSecond: config.autoReleaseRate,
        maxReleases: config.autoReleaseMax,
        intervalMs: config.autoReleaseIntervalMs,
        ...(ledger === undefined ? {} : { ledgerAttempt: (client, id) => ledger.ledger.attemptOf(client, id) }),
        observe: (trigger, count) => metrics.observeAutoRelease(trigger, count),
      })
    : undefined;
  // Checked at start-up (logged, never fatal) and again, rate-limited, when /readyz is asked.
  const checks = new ProviderChecks(providers);
  void checks.run().then((results) => logProviderChecks(results, logger));
  const httpPort = new ConsumerHttpPort(metrics.registry, () =>
    consumerReadiness({ broker, worker, providers: checks }),
  );

  const lifecycle = new Lifecycle({
    logger,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    status: () => ({ in_flight: worker.busy }),
    outcome: () => ({ unsettled: worker.busy }),
  })
    .onStop(() => autoRelease?.stop())
    .onStop(({ remainingMs }) => worker.stop(remainingMs()))
    .onStop(() => httpPort.close())
    .onStop(() => checks.stop())
    .onStop(() => broker.close())
    .onStop(() => ledger?.pool.end())
    .onStop(async () => {
      await Promise.allSettled(providers.map(({ provider }) => provider.close?.() ?? Promise.resolve()));
    })
    .handleSignals();
  lifecycle.exitOnFatal(broker);
  explainUnreachableBroker(broker, logger, { url: config.amqpUrl, consequence: 'no email is sent until it is' });
  worker.start();
  broker.start().catch(() => undefined);
  autoRelease?.start(
    worker,
    chain.map((slot) => slot.circuit),
  );
  const httpPortNumber = await httpPort.listen(config.httpPort, config.httpHost);
  logger.info('consumer started', {
    http_host: config.httpHost,
    http_port: httpPortNumber,
    providers: chain.map((slot) => slot.provider.name),
    prefetch: config.prefetch,
    ledger: config.ledger,
    ...(ledger === undefined ? {} : { in_doubt: config.inDoubt }),
    auto_release: config.autoRelease,
  });
}

runMain('consumer', main);
