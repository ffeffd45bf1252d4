import { hostname } from 'node:os';
import { v7 as uuidv7 } from 'uuid';
import { topologyOf } from '@mailer/config';
import { DestinationPolicy, WORK_ROUTING_KEY, compileValidators } from '@mailer/contract';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import { openLedger } from '@mailer/ledger';
import { Lifecycle, PeriodicSweep, explainUnreachableBroker, runMain, startService } from '@mailer/service';
import { AmqpEmailPublisher } from './amqp/email-publisher';
import { AmqpProviderEventPublisher } from './amqp/provider-event-publisher';
import { AmqpWebhookDeliveryPublisher } from './amqp/webhook-delivery-publisher';
import { DirectoryCertificateSource, HttpsCertificateSource } from './feedback/sns/certificates';
import { SubscriptionConfirmer } from './feedback/sns/subscription';
import { SnsVerifier } from './feedback/sns/verifier';
import { configKeys, loadConfig } from './config';
import { createApp } from './http/app';
import { combineReadiness } from './http/routes/health';
import { HttpServer } from './http/server';
import { LedgerAdapter } from './ledger/ledger-adapter';
import { KeyAnswers } from './ledger/key-answers';
import { LedgerRepairs } from './ledger/ledger-repairs';
import { SuppressionAdapter } from './ledger/suppression-adapter';
import { WebhookAdapter } from './ledger/webhook-adapter';
import { ProducerMetrics } from './metrics/producer-metrics';
import { ReputationWatch } from './metrics/reputation-watch';

/** How long a fetched SNS signing certificate is used before it is fetched again. */
const SNS_CERT_TTL_MS = 24 * 3_600_000;

/** Deadline of a certificate fetch or a subscription confirmation (SNS waits 15 s for our answer). */
const SNS_FETCH_TIMEOUT_MS = 5000;

/** Reads the environment, connects, listens; stops cleanly on SIGTERM or SIGINT. */
async function main(): Promise<void> {
  const { config, logger } = startService({ name: 'producer', env: process.env, keys: configKeys, load: loadConfig });
  // The request schema is compiled now, not inside the first request's time.
  compileValidators();
  // Signals are handled from here on: a SIGTERM during start-up still ends in a clean exit.
  const lifecycle = new Lifecycle({ logger, shutdownTimeoutMs: config.shutdownTimeoutMs }).handleSignals();
  // LEDGER=off: broker only, as before the ledger; keys and status are refused.
  const database = await openLedger(config, logger, lifecycle);
  if (database === 'stopped') return;
  const topology = topologyOf(config);
  const broker = new BrokerConnection({
    url: config.amqpUrl,
    topology,
    logger,
    connectionName: `mailer-producer@${hostname()}:${process.pid}`,
  });
  const metrics = new ProducerMetrics();
  const confirmPublisher = new ConfirmPublisher(broker, {
    timeoutMs: config.publishTimeoutMs,
    maxInflight: config.maxInflightPublishes,
    logger,
    // Its channel only publishes: a new one is safe, and ends RabbitMQ 3.10's stale-leader nacks.
    renewChannelAfterNacksMs: 1000,
  });
  const amqpPublisher = new AmqpEmailPublisher(confirmPublisher, {
    exchange: topology.workExchange.name,
    routingKey: WORK_ROUTING_KEY,
  });
  const publisher = metrics.instrumentPublisher(amqpPublisher);
  const records = database?.ledger;
  const ledger =
    records === undefined
      ? undefined
      : metrics.instrumentLedger(
          new LedgerAdapter(records, {
            ttlMs: config.idempotencyKeyTtlMs,
            staleAfterMs: config.idempotencyStaleAfterMs,
          }),
        );
  // Expired keys are deleted now and then, so the table holds about a TTL's worth of them; emails
  // left queued by requests that were never published are marked abandoned.
  const sweeps =
    records === undefined
      ? []
      : [
          new PeriodicSweep({
            task: 'purge expired idempotency keys',
            result: 'expired idempotency keys purged',
            sweep: (limit) => records.purgeExpiredIdempotencyKeys(limit),
            logger,
          }).start(),
          new PeriodicSweep({
            task: 'mark stale queued emails abandoned',
            result: 'stale queued emails marked abandoned',
            sweep: (limit) => records.abandonStaleQueued(config.queuedAbandonAfterMs, limit),
            logger,
            announce: true,
          }).start(),
        ];
  // Each provider's bounce and complaint ratios over a day, for the dashboard (see ReputationWatch).
  const reputation =
    records === undefined
      ? undefined
      : new ReputationWatch({
          read: (windowMs) => records.reputation(windowMs),
          observe: (rows) => metrics.observeReputation(rows),
          logger,
        }).start();
  // A 503's records are undone once the ledger answers again (see LedgerRepairs).
  const repairs = ledger === undefined ? undefined : new LedgerRepairs({ ledger, logger });
  // Keyed requests' 202s are stored while the answer goes out (see KeyAnswers).
  const answers = ledger === undefined ? undefined : new KeyAnswers({ ledger, logger });
  // The suppression list's routes key an address with the ledger's own recipient keys.
  const suppressions =
    database === undefined
      ? undefined
      : { suppressions: new SuppressionAdapter(database.ledger), hasher: database.hasher };
  // Webhook endpoints and their encrypted secrets live in the ledger: off, the routes say why.
  const webhooks =
    database === undefined
      ? { off: 'this producer runs with LEDGER=off, and webhook endpoints are kept in the ledger' }
      : database.webhooks === undefined
        ? { off: 'WEBHOOK_SECRETS_KEY is empty, so no signing secret can be kept' }
        : {
            on: {
              endpoints: new WebhookAdapter(database.webhooks),
              publisher: new AmqpWebhookDeliveryPublisher(confirmPublisher, topology),
              urlRules: {
                allowHttp: config.webhookAllowHttp,
                policy: new DestinationPolicy(config.webhookAllowNetworks),
              },
              newId: uuidv7,
              now: () => new Date(),
            },
          };
  const app = createApp({
    publisher,
    newId: uuidv7,
    now: () => new Date(),
    ...(ledger === undefined || repairs === undefined || answers === undefined ? {} : { ledger, repairs, answers }),
    apiKeys: config.apiKeys,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    readiness: async () =>
      combineReadiness(ledger === undefined ? [broker.readiness()] : [broker.readiness(), await ledger.readiness()]),
    draining: () => lifecycle.stopping,
    metrics,
    ...(suppressions === undefined ? {} : { suppressions }),
    webhooks,
    providerEvents: {
      publisher: new AmqpProviderEventPublisher(confirmPublisher, topology),
      ...(config.snsTopicArns.length === 0
        ? {}
        : {
            sns: {
              verifier: new SnsVerifier({
                topicArns: config.snsTopicArns,
                certificates:
                  config.snsCertDir === ''
                    ? new HttpsCertificateSource({ ttlMs: SNS_CERT_TTL_MS, timeoutMs: SNS_FETCH_TIMEOUT_MS })
                    : new DirectoryCertificateSource(config.snsCertDir),
              }),
              confirmer: new SubscriptionConfirmer({
                trustedOrigins: config.snsTrustedOrigins,
                timeoutMs: SNS_FETCH_TIMEOUT_MS,
                logger,
              }),
            },
          }),
      ...(config.postmarkWebhookUser === ''
        ? {}
        : { postmark: { user: config.postmarkWebhookUser, password: config.postmarkWebhookPassword } }),
    },
  });

  // A topology the broker refuses cannot be fixed by retrying, at start-up or on a reconnect.
  lifecycle.exitOnFatal(broker);
  explainUnreachableBroker(broker, logger, {
    url: config.amqpUrl,
    consequence: 'POST /v1/emails answers 503 until it is',
  });
  broker.start().catch(() => undefined);

  const server = new HttpServer(app);
  // The pool closes after the server drained: requests still in flight record and complete keys.
  lifecycle
    .onStop(({ remainingMs }) => server.close(remainingMs()))
    .onStop(() => broker.close())
    .onStop(async () => {
      await Promise.all([...sweeps.map((sweep) => sweep.stop()), reputation?.stop()]);
    })
    .onStop(() => answers?.drain())
    .onStop(() => repairs?.stop())
    .onStop(() => database?.pool.end());
  logger.info('producer listening', { port: await server.listen(config.port, config.host) });
}

runMain('producer', main);
