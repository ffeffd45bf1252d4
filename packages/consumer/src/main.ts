// First: the heap's growth bound applies from the first allocation on.
import './heap-growth';
import { hostname } from 'node:os';
import { topologyOf } from '@mailer/config';
import { compileValidators } from '@mailer/contract';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import { openLedger } from '@mailer/ledger';
import { Lifecycle, PeriodicSweep, explainUnreachableBroker, runMain, startService } from '@mailer/service';
import { AutoRelease } from './amqp/auto-release';
import { DeliveryWorker } from './amqp/delivery-worker';
import { configKeys, loadConfig } from './config';
import { CircuitBreaker } from './delivery/circuit-breaker';
import type { ProviderSlot } from './delivery/failover';
import { handleEmail } from './delivery/handle-email';
import { startEventsRelay } from './events/start-relay';
import { EventWorker } from './feedback/event-worker';
import { handleProviderEvent } from './feedback/handle-event';
import { RateLimiter } from './delivery/rate-limiter';
import { ConsumerMetrics } from './metrics/consumer-metrics';
import { ConsumerHttpPort, consumerReadiness } from './metrics/http-port';
import { ProviderChecks, logProviderChecks } from './providers/checks';
import { createProviders } from './providers/registry';
import { startWebhooks, type RunningWebhooks } from './webhooks/start';

/** Reads the environment, connects, consumes; stops cleanly on SIGTERM or SIGINT. */
async function main(): Promise<void> {
  const { config, logger } = startService({ name: 'consumer', env: process.env, keys: configKeys, load: loadConfig });
  const lifecycle = new Lifecycle({
    logger,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    // Read only while shutting down, and signals are handled once the worker exists (below).
    status: () => ({
      in_flight: worker.busy,
      events_in_flight: events?.busy ?? 0,
      webhooks_in_flight: webhooks?.busy ?? 0,
    }),
    outcome: () => ({
      unsettled: worker.busy,
      events_unsettled: events?.busy ?? 0,
      webhooks_unsettled: webhooks?.busy ?? 0,
    }),
  });
  const database = await openLedger(config, logger, lifecycle);
  if (database === 'stopped') return;
  // Every message is validated again on its way in: compile the validators before the first one.
  compileValidators();
  const topology = topologyOf(config);
  const metrics = new ConsumerMetrics();
  const providers = await createProviders(config, logger);
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
  const deliveryLedger = database === undefined ? undefined : metrics.instrumentLedger(database.ledger, config.inDoubt);
  // Recipients are keyed for the suppression list with the ledger's own recipient keys.
  const ledgerDeps =
    database === undefined || deliveryLedger === undefined
      ? undefined
      : { port: deliveryLedger, inDoubt: config.inDoubt, hasher: database.hasher };
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
          ...(ledgerDeps === undefined ? {} : { ledger: ledgerDeps }),
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
        ...(database === undefined ? {} : { ledgerAttempt: (client, id) => database.ledger.attemptOf(client, id) }),
        observe: (trigger, count) => metrics.observeAutoRelease(trigger, count),
      })
    : undefined;
  // Provider events (docs/feedback.md) go to the ledger: with LEDGER=off they wait on their queue.
  let eventBroker: BrokerConnection | undefined;
  let events: EventWorker | undefined;
  let eventPrune: PeriodicSweep | undefined;
  if (database === undefined) {
    logger.warn('provider events are not applied: LEDGER=off (they stay on their queue)', {
      queue: topology.providerEventsQueue.name,
    });
  } else {
    const { ledger, hasher } = database;
    eventBroker = new BrokerConnection({
      url: config.amqpUrl,
      topology,
      logger,
      connectionName: `mailer-consumer-events@${hostname()}:${process.pid}`,
    });
    events = new EventWorker({
      broker: eventBroker,
      publisher: new ConfirmPublisher(eventBroker, {
        timeoutMs: 10_000,
        maxInflight: config.feedbackPrefetch * 2,
        logger,
      }),
      topology,
      prefetch: config.feedbackPrefetch,
      logger,
      ledger,
      handle: (event) => handleProviderEvent({ ledger, hasher, maxTries: config.feedbackMaxTries }, event),
    });
    metrics.watchEvents(events);
    eventPrune = new PeriodicSweep({
      task: 'prune old provider event keys',
      result: 'old provider event keys pruned',
      sweep: (limit) => ledger.pruneProviderEvents(config.providerEventRetentionMs, limit),
      logger,
    });
  }
  // Lifecycle events from the ledger's outbox to the events exchange (docs/events.md).
  const relay =
    database === undefined || config.eventsRelay === 'off'
      ? undefined
      : startEventsRelay({ config, topology, outbox: database.outbox, metrics: metrics.relay, logger, lifecycle });
  // Webhook fan-out and deliveries (docs/events.md), on a connection of their own.
  const webhooks: RunningWebhooks | undefined = startWebhooks(config, {
    topology,
    store: database?.webhooks,
    logger,
    metrics: metrics.webhooks,
    onFatal: (webhookBroker) => lifecycle.exitOnFatal(webhookBroker),
  });
  // Checked at start-up (logged, never fatal) and again, rate-limited, when /readyz is asked.
  const checks = new ProviderChecks(providers);
  void checks.run().then((results) => logProviderChecks(results, logger));
  const httpPort = new ConsumerHttpPort(metrics.registry, () =>
    consumerReadiness({ broker, worker, providers: checks }),
  );

  lifecycle
    .onStop(() => autoRelease?.stop())
    .onStop(() => eventPrune?.stop())
    .onStop(async ({ remainingMs }) => {
      await Promise.all([
        worker.stop(remainingMs()),
        events?.stop(remainingMs()),
        relay?.stop(remainingMs()),
        webhooks?.stop(remainingMs()),
      ]);
    })
    .onStop(() => httpPort.close())
    .onStop(() => checks.stop())
    .onStop(async () => {
      await Promise.all([broker.close(), eventBroker?.close()]);
    })
    .onStop(() => database?.pool.end())
    .onStop(async () => {
      await Promise.allSettled(providers.map(({ provider }) => provider.close?.() ?? Promise.resolve()));
    })
    .handleSignals();
  lifecycle.exitOnFatal(broker);
  if (eventBroker !== undefined) lifecycle.exitOnFatal(eventBroker);
  explainUnreachableBroker(broker, logger, { url: config.amqpUrl, consequence: 'no email is sent until it is' });
  worker.start();
  broker.start().catch(() => undefined);
  events?.start();
  eventBroker?.start().catch(() => undefined);
  eventPrune?.start();
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
    ...(events === undefined ? {} : { feedback_prefetch: config.feedbackPrefetch }),
    ...(database === undefined ? {} : { in_doubt: config.inDoubt }),
    auto_release: config.autoRelease,
    events_relay: relay !== undefined,
  });
}

runMain('consumer', main);
