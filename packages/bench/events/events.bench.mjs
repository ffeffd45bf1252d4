// `pnpm bench -- --only=events`: what events out cost end to end (issue 16, docs/benchmarks.md).
// Both services with the ledger, in alternating rounds of two set-ups on databases of the bench's
// own: events off (EVENTS=off, no webhook workers) and events on with one webhook endpoint (a
// receiver in this process on 127.0.0.1, allowed by WEBHOOK_ALLOW_NETWORKS). Each round posts the
// same burst of emails to a fake Postmark of fixed latency; the judged figure is delivered/s with
// events over delivered/s without, per round. With events on, a queue of the bench's own bound `#`
// to the events exchange times each event's way out of the outbox (arrival - event timestamp: the
// outbox lag), and the receiver times each webhook the same way.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import { createServer } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { clearTimeout, setTimeout } from 'node:timers';
import amqplib from 'amqplib';
import contract from '@mailer/contract';
import { nodeFlags } from '../../../scripts/node-flags.mjs';
import { removeBenchTopology } from '../support/broker.mjs';
import { batchBody } from '../support/fixtures.mjs';
import { BENCH_RECIPIENT_HASH_SECRET, createBenchDatabase, postgresCpuSeconds } from '../support/postgres.mjs';
import { cpuSeconds, machineCpuSeconds, localBrokerPid } from '../support/proc.mjs';
import {
  freePort,
  httpPostJson,
  logTail,
  startNode,
  startNodeWatched,
  stopNode,
  stopAll,
  waitForLine,
  waitReady,
} from '../support/processes.mjs';
import {
  fmt,
  knob,
  printTable,
  quantile,
  resultsDir,
  root,
  runBench,
  short,
  verdict,
  writeReport,
} from '../support/report.mjs';
import { startFakePostmark } from '../end-to-end/fake-postmark.mjs';
import { batchBurst } from '../end-to-end/load.mjs';

const { DEFAULT_DELIVERY_LIMIT, buildTopology, delayName } = contract;

const env = process.env;
const settings = {
  amqpUrl: env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
  /** Emails per burst. */
  burst: knob('BENCH_EVENTS_BURST', 8000, 1500),
  /** Provider latencies measured, each in every round. */
  latenciesMs: (env.BENCH_EVENTS_LATENCIES ?? '0,200').split(',').map(Number),
  rounds: knob('BENCH_EVENTS_ROUNDS', 2, 1),
  /** `off`: events on with no webhook endpoint and WEBHOOKS=off (the outbox and the relay alone), to see what each part costs. */
  webhook: env.BENCH_EVENTS_WEBHOOK !== 'off',
  /** Run the consumer under `node --cpu-prof` (profiles in bench-results/profiles; summarize with tools/cpu-profile-summary.mjs). */
  cpuProfile: env.BENCH_EVENTS_CPU_PROF === '1',
  burstConcurrency: 4,
  retryDelaysMs: [600_000, 1_200_000],
  arrivalTimeoutMs: 180_000,
};
const targets = { eventsRatio: 0.8 };
/** Events each email of the burst makes when all goes well: email.queued, email.sent. */
const EVENTS_PER_EMAIL = 2;

const prefix = `bench.events.${Date.now()}.${process.pid}`;
const topology = buildTopology({
  prefix,
  retryDelaysMs: settings.retryDelaysMs,
  deliveryLimit: DEFAULT_DELIVERY_LIMIT,
});
const apiKey = randomBytes(24).toString('hex');
const auth = { authorization: `Bearer ${apiKey}` };
const postmarkToken = randomBytes(16).toString('hex');
const webhookSecretsKey = randomBytes(32).toString('base64');

const children = [];
let fake;
let receiver;
let topologyTouched = false;
let database;
let brokerPid;

/** The webhook receiver: answers 204 at once and times each event it gets (first delivery of an id only). */
async function startReceiver() {
  const arrivals = new Map();
  let requests = 0;
  let waiter;
  const server = createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      requests += 1;
      response.writeHead(204).end();
      const at = Date.now();
      try {
        const event = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (!arrivals.has(event.id)) arrivals.set(event.id, at - Date.parse(event.timestamp));
      } catch {
        // Counted as a request; a body that is not JSON shows as a missing event.
      }
      if (waiter !== undefined && arrivals.size >= waiter.count) waiter.resolve();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/hooks`,
    arrivals,
    get requests() {
      return requests;
    },
    reset() {
      arrivals.clear();
      requests = 0;
    },
    /** Resolves once `count` distinct events arrived; rejects after `timeoutMs`. */
    awaitCount(count, timeoutMs) {
      if (arrivals.size >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiter = undefined;
          reject(new Error(`the webhook receiver got ${arrivals.size} of ${count} events within ${timeoutMs} ms`));
        }, timeoutMs);
        waiter = {
          count,
          resolve: () => {
            clearTimeout(timer);
            waiter = undefined;
            resolve();
          },
        };
      });
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A queue of the bench's own bound `#` to the events exchange: each event's ms from its timestamp to here. */
async function tapEvents() {
  const connection = await amqplib.connect(settings.amqpUrl);
  connection.on('error', () => undefined);
  const channel = await connection.createChannel();
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  await channel.bindQueue(queue, topology.eventsExchange.name, '#');
  const lags = new Map();
  let waiter;
  await channel.consume(
    queue,
    (message) => {
      if (message === null) return;
      const at = Date.now();
      try {
        const event = JSON.parse(message.content.toString('utf8'));
        if (!lags.has(event.id)) lags.set(event.id, at - Date.parse(event.timestamp));
      } catch {
        // Not an event: not counted.
      }
      if (waiter !== undefined && lags.size >= waiter.count) waiter.resolve();
    },
    { noAck: true },
  );
  return {
    lags,
    /** Resolves once `count` distinct events came; rejects after the bench's arrival timeout. */
    awaitCount(count) {
      if (lags.size >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiter = undefined;
          reject(new Error(`the events exchange carried ${lags.size} of ${count} events in time`));
        }, settings.arrivalTimeoutMs);
        waiter = {
          count,
          resolve: () => {
            clearTimeout(timer);
            waiter = undefined;
            resolve();
          },
        };
      });
    },
    close: () => connection.close().catch(() => undefined),
  };
}

/** Both services' settings for one set-up. */
function servicesEnv(ledger, events) {
  return {
    AMQP_URL: settings.amqpUrl,
    AMQP_PREFIX: prefix,
    RETRY_DELAYS: settings.retryDelaysMs.map(delayName).join(','),
    LOG_LEVEL: 'info',
    LEDGER: 'on',
    DATABASE_URL: ledger.url,
    MIGRATE_ON_START: 'false',
    RECIPIENT_HASH_SECRET: BENCH_RECIPIENT_HASH_SECRET,
    EVENTS: events ? 'on' : 'off',
    ...(events && settings.webhook
      ? { WEBHOOK_SECRETS_KEY: webhookSecretsKey, WEBHOOK_ALLOW_NETWORKS: '127.0.0.0/8', WEBHOOK_ALLOW_HTTP: 'true' }
      : { WEBHOOKS: 'off', ...(events ? {} : { EVENTS_RELAY: 'off' }) }),
  };
}

/** Starts a producer and a consumer for one set-up; resolves with their handles and the producer's port. */
async function startServices(ledger, events) {
  topologyTouched = true;
  const label = events ? 'events-on' : 'events-off';
  const port = await freePort();
  const producer = startNode(
    `producer ${label}`,
    [...nodeFlags.producer, join(root, 'packages/producer/dist/main.js')],
    {
      ...servicesEnv(ledger, events),
      PORT: String(port),
      HOST: '127.0.0.1',
      API_KEYS: JSON.stringify([
        {
          name: 'bench',
          key_sha256: createHash('sha256').update(apiKey).digest('hex'),
          senders: ['example.com'],
          scopes: ['send', 'read', 'webhooks'],
        },
      ]),
    },
    join(resultsDir, `events-producer-${label}.log`),
  );
  children.push(producer);
  await waitReady(producer, port);
  const consumer = startNodeWatched(
    `consumer ${label}`,
    [
      ...nodeFlags.consumer,
      ...(settings.cpuProfile ? ['--cpu-prof', `--cpu-prof-dir=${join(resultsDir, 'profiles')}`] : []),
      join(root, 'packages/consumer/dist/main.js'),
    ],
    {
      ...servicesEnv(ledger, events),
      PROVIDERS: 'postmark',
      POSTMARK_SERVER_TOKEN: postmarkToken,
      POSTMARK_API_HOST: fake.host,
      HTTP_PORT: '0',
    },
    join(resultsDir, `events-consumer-${label}.log`),
  );
  children.push(consumer);
  await waitForLine(consumer, (json) => json.message === 'consuming').catch((error) => {
    throw new Error(`${error.message}:\n${logTail(consumer.logFile)}`);
  });
  consumer.stopWatching();
  return { producer, consumer, port };
}

async function stopServices({ producer, consumer }) {
  for (const handle of [consumer, producer]) {
    await stopNode(handle);
    children.splice(children.indexOf(handle), 1);
  }
}

/** Every accepted id reached the fake provider and was answered. */
function awaitAnswered(ids) {
  const missing = new Set([...ids].filter((id) => fake.arrivals.get(id)?.answered !== true));
  if (missing.size === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAnswered = (id) => {
      if (missing.delete(id) && missing.size === 0) finish();
    };
    const timer = setTimeout(() => {
      fake.events.off('answered', onAnswered);
      reject(new Error(`${missing.size} of ${ids.size} accepted emails were never sent`));
    }, settings.arrivalTimeoutMs);
    const finish = () => {
      clearTimeout(timer);
      fake.events.off('answered', onAnswered);
      resolve();
    };
    fake.events.on('answered', onAnswered);
  });
}

/** One burst through one set-up: delivered/s, CPU, and with events on, the events' lags. */
async function burstRun(round, latencyMs, events) {
  database = await createBenchDatabase('mailer_bench_events');
  const services = await startServices(database, events);
  let tap;
  try {
    if (events && settings.webhook) {
      receiver.reset();
      const created = await httpPostJson(
        services.port,
        '/v1/webhooks',
        JSON.stringify({ url: receiver.url, description: 'bench receiver' }),
        auth,
      );
      if (created.status !== 201) throw new Error(`webhook registration answered ${created.status}: ${created.body}`);
    }
    if (events) tap = await tapEvents();
    fake.configure({ mode: 'ok', latencyMs });
    fake.startWindow();
    const pids = {
      producer: services.producer.pid,
      consumer: services.consumer.pid,
      ...(brokerPid === undefined ? {} : { broker: brokerPid }),
    };
    const cpuBefore = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
    const postgresBefore = postgresCpuSeconds();
    const machineBefore = machineCpuSeconds();
    const startedAt = performance.now();
    const load = await batchBurst({
      port: services.port,
      batchBody: batchBody(100),
      batchSize: 100,
      headers: auth,
      count: settings.burst,
      concurrency: settings.burstConcurrency,
    });
    await awaitAnswered(new Set(load.accepted.keys()));
    const sentAfterS = (performance.now() - startedAt) / 1000;
    const machineSent = machineCpuSeconds();
    const arrivals = [...load.accepted.keys()].map((id) => fake.arrivals.get(id).at);
    const first = Math.min(...arrivals);
    const last = Math.max(...arrivals);
    let eventsDrainedS;
    if (events) {
      const expected = load.accepted.size * EVENTS_PER_EMAIL;
      await (settings.webhook ? receiver.awaitCount(expected, settings.arrivalTimeoutMs) : tap.awaitCount(expected));
      eventsDrainedS = (performance.now() - startedAt) / 1000;
    }
    const seconds = (performance.now() - startedAt) / 1000;
    const machineEnd = machineCpuSeconds();
    const cpu = Object.fromEntries(
      Object.entries(pids).map(([k, pid]) => [k, ((cpuSeconds(pid) - cpuBefore[k]) / seconds) * 100]),
    );
    const run = {
      round,
      latencyMs,
      events,
      accepted: load.accepted.size,
      failures: load.failures,
      deliveredPerS: (arrivals.length - 1) / ((last - first) / 1000),
      sentAfterS,
      eventsDrainedS,
      duplicates: fake.readWindow().duplicates,
      cpuPercent: { ...cpu, postgres: ((postgresCpuSeconds() - postgresBefore) / seconds) * 100 },
      // The whole machine (every process, the bench's own load and receivers included): how busy
      // its cores were until the last email was sent, and its CPU per email until every event arrived.
      machine:
        machineBefore === undefined || machineSent === undefined || machineEnd === undefined
          ? undefined
          : {
              busyPercentWhileSending:
                ((machineSent.busy - machineBefore.busy) / (machineSent.total - machineBefore.total)) * 100,
              cpuMsPerEmail: ((machineEnd.busy - machineBefore.busy) / load.accepted.size) * 1000,
            },
      ...(events
        ? {
            eventsOnExchange: tap.lags.size,
            outboxLagMs: { p50: quantile([...tap.lags.values()], 0.5), p99: quantile([...tap.lags.values()], 0.99) },
            webhookEvents: receiver.arrivals.size,
            webhookRequests: receiver.requests,
            webhookLagMs: {
              p50: quantile([...receiver.arrivals.values()], 0.5),
              p99: quantile([...receiver.arrivals.values()], 0.99),
            },
          }
        : {}),
    };
    console.log(
      `  round ${round}, ${latencyMs} ms, events ${events ? 'on ' : 'off'}: ${fmt.int(run.accepted)} emails, ` +
        `${fmt.int(run.deliveredPerS)} delivered/s, all sent after ${sentAfterS.toFixed(1)} s` +
        (events
          ? `; ${fmt.int(run.eventsOnExchange)} events on the exchange (outbox lag p50 ${fmt.ms(run.outboxLagMs.p50)} ms ` +
            `p99 ${fmt.ms(run.outboxLagMs.p99)} ms)` +
            (settings.webhook
              ? `, ${fmt.int(run.webhookEvents)} at the webhook (p99 ${fmt.ms(run.webhookLagMs.p99)} ms)`
              : ', no webhook') +
            ` after ${eventsDrainedS.toFixed(1)} s`
          : '') +
        `; cpu producer ${fmt.pct(cpu.producer)} consumer ${fmt.pct(cpu.consumer)} broker ${fmt.pct(cpu.broker ?? Number.NaN)} ` +
        `postgres ${fmt.pct(run.cpuPercent.postgres)}` +
        (run.machine === undefined
          ? ''
          : `; machine ${fmt.pct(run.machine.busyPercentWhileSending)} busy while sending, ` +
            `${run.machine.cpuMsPerEmail.toFixed(2)} cpu ms per email`),
    );
    return run;
  } finally {
    await tap?.close();
    await stopServices(services);
    await database.drop();
    database = undefined;
  }
}

async function cleanUp() {
  await stopAll(children);
  await database?.drop();
  database = undefined;
  await receiver?.close();
  receiver = undefined;
  await fake?.close();
  fake = undefined;
  if (!topologyTouched) return true;
  topologyTouched = false;
  return removeBenchTopology(settings.amqpUrl, topology, prefix);
}

async function main() {
  console.log(
    `\nevents bench: ${cpus().length} cpus, node ${process.version}; both services with the ledger, events off vs ` +
      `events on with one webhook endpoint; ${fmt.int(settings.burst)} emails per burst` +
      `${short ? '; SHORT runs (figures not comparable)' : ''}`,
  );
  mkdirSync(resultsDir, { recursive: true });
  fake = await startFakePostmark({ token: postmarkToken, latencyMs: 0 });
  receiver = await startReceiver();
  brokerPid = localBrokerPid(settings.amqpUrl);
  const runs = [];
  for (let round = 1; round <= settings.rounds; round += 1) {
    for (const latencyMs of settings.latenciesMs) {
      // Alternating which goes first, so drift on a shared machine hits both alike.
      const order = round % 2 === 1 ? [false, true] : [true, false];
      for (const events of order) runs.push(await burstRun(round, latencyMs, events));
    }
  }
  const checks = [];
  for (let round = 1; round <= settings.rounds; round += 1) {
    for (const latencyMs of settings.latenciesMs) {
      const off = runs.find((r) => r.round === round && r.latencyMs === latencyMs && !r.events);
      const on = runs.find((r) => r.round === round && r.latencyMs === latencyMs && r.events);
      const value = on.deliveredPerS / off.deliveredPerS;
      checks.push({
        round,
        latencyMs,
        value,
        on: on.deliveredPerS,
        off: off.deliveredPerS,
        outboxLagP99Ms: on.outboxLagMs.p99,
        webhookLagP99Ms: on.webhookLagMs.p99,
        met: value >= targets.eventsRatio,
      });
    }
  }
  const missingEvents = runs.filter(
    (r) =>
      r.events &&
      (r.eventsOnExchange < r.accepted * EVENTS_PER_EMAIL ||
        (settings.webhook && r.webhookEvents < r.accepted * EVENTS_PER_EMAIL)),
  );
  return {
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    short,
    prefix,
    settings,
    targets,
    runs,
    checks,
    faults: {
      duplicates: runs.reduce((sum, r) => sum + r.duplicates, 0),
      missingEvents: missingEvents.length,
      refused: runs.filter((r) => Object.keys(r.failures).length > 0).length,
    },
  };
}

function printSummary(report) {
  console.log('');
  printTable(
    [
      'round',
      'provider',
      'events',
      'delivered/s',
      'outbox lag p50 ms',
      'p99 ms',
      'webhook p99 ms',
      'postgres cpu',
      'machine busy',
      'cpu ms/email',
    ],
    report.runs.map((r) => [
      String(r.round),
      `${r.latencyMs} ms`,
      r.events ? 'on' : 'off',
      fmt.int(r.deliveredPerS),
      r.events ? fmt.ms(r.outboxLagMs.p50) : '-',
      r.events ? fmt.ms(r.outboxLagMs.p99) : '-',
      r.events ? fmt.ms(r.webhookLagMs.p99) : '-',
      fmt.pct(r.cpuPercent.postgres),
      r.machine === undefined ? '-' : fmt.pct(r.machine.busyPercentWhileSending),
      r.machine === undefined ? '-' : r.machine.cpuMsPerEmail.toFixed(2),
    ]),
  );
  console.log('');
  for (const check of report.checks) {
    console.log(
      `delivered/s with events and one webhook / without, ${check.latencyMs} ms provider, round ${check.round}`.padEnd(
        72,
      ) +
        `${fmt.ratio(check.value).padStart(6)}   (${fmt.int(check.on)} / ${fmt.int(check.off)}; outbox lag p99 ` +
        `${fmt.ms(check.outboxLagP99Ms)} ms)   target >= ${targets.eventsRatio}   ${verdict(check.met)}`,
    );
  }
  const { faults } = report;
  console.log(
    `emails sent twice ${faults.duplicates}; runs with events missing at the webhook ${faults.missingEvents}; ` +
      `runs with refused requests ${faults.refused}`,
  );
  if (report.short) console.log('SHORT runs: these figures check the bench, they are not the figures to quote');
}

await runBench({
  main,
  cleanUp,
  finish: (report) => {
    printSummary(report);
    writeReport('events.json', report);
    const { faults } = report;
    return faults.duplicates === 0 && faults.missingEvents === 0 && faults.refused === 0;
  },
});
