// `pnpm bench`, second part: end to end, from POST /v1/emails to the provider, with the real
// producer and consumer processes and a fake Postmark of fixed latency; the consumer's CPU per
// email against a minimal amqplib consumer on the same queue; a PREFETCH sweep; the producer's p99
// with every provider hanging against healthy; and both services with the ledger (LEDGER=on, a
// database of the bench's own) against the same runs without it. Method and figures: docs/benchmarks.md.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';
import contract from '@mailer/contract';
import { nodeFlags } from '../../../scripts/node-flags.mjs';
import { openQueueCounter, removeBenchTopology } from '../support/broker.mjs';
import { batchBody, singleBody } from '../support/fixtures.mjs';
import { BENCH_RECIPIENT_HASH_SECRET, createBenchDatabase, postgresCpuSeconds } from '../support/postgres.mjs';
import { cpuSeconds, localBrokerPid, memoryMb, resetPeakRss } from '../support/proc.mjs';
import {
  freePort,
  logTail,
  startNode,
  startNodeWatched,
  stopAll,
  stopNode,
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
import { startFakePostmark } from './fake-postmark.mjs';
import { batchBurst, pacedSingles } from './load.mjs';

const { DEFAULT_DELIVERY_LIMIT, buildTopology, delayName } = contract;

const env = process.env;
const list = (name, fallback) =>
  (env[name] ?? fallback)
    .split(',')
    .filter((item) => item.trim() !== '')
    .map(Number);

const settings = {
  amqpUrl: env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
  /** PREFETCH of the main runs; unset, the consumer's own default (read from its `consuming` log line). */
  prefetch: env.BENCH_PREFETCH ? Number(env.BENCH_PREFETCH) : undefined,
  /** PREFETCH values the sweep measures (burst at 200 ms and at 0 ms each); empty skips it. */
  sweep: list('BENCH_PREFETCH_SWEEP', short ? '100,300' : '100,200,300'),
  /** `all`, or `cost`: only the CPU-per-email runs (consumer and baseline), for profiling. */
  scope: env.BENCH_SCOPE === 'cost' ? 'cost' : 'all',
  /** Provider latency of the CPU-per-email runs with BENCH_SCOPE=cost (0 or 200), e.g. to profile at 200 ms. */
  costLatencyMs: knob('BENCH_COST_LATENCY_MS', 0),
  /** Node flags of the consumer: scripts/node-flags.mjs unless BENCH_CONSUMER_FLAGS (space-separated) says otherwise. */
  consumerFlags:
    env.BENCH_CONSUMER_FLAGS === undefined
      ? nodeFlags.consumer
      : env.BENCH_CONSUMER_FLAGS.split(' ').filter((flag) => flag !== ''),
  /** Run the consumer under `node --cpu-prof` (profiles in bench-results/profiles). */
  cpuProfile: env.BENCH_CPU_PROF === '1',
  /** Emails in one burst at 200 ms, per unit of PREFETCH: 40 keeps the prefetch full for about 8 s. */
  burst200PerPrefetch: knob('BENCH_BURST_200_PER_PREFETCH', 40, 10),
  /** Emails in one burst at 0 ms: also what the CPU per email is measured on. */
  burst0: knob('BENCH_BURST_0', 16_000, 3000),
  burstConcurrency: 4,
  /** Open-loop single POSTs per second for the 202 -> send latency: well under the consumer's capacity. */
  pacedRate: { 200: knob('BENCH_PACED_RATE_200', 200), 0: knob('BENCH_PACED_RATE_0', 1000) },
  pacedS: knob('BENCH_PACED_S', 8, 2),
  /** The producer under load with healthy vs hanging providers: open-loop single POSTs at a fixed rate. */
  hang: {
    rate: knob('BENCH_HANG_RATE', 1000),
    /** Rounds of (provider ok, provider hanging); each round gives one ratio. */
    rounds: knob('BENCH_HANG_ROUNDS', 3),
    durationS: knob('BENCH_HANG_S', 6, 2),
    warmupS: knob('BENCH_HANG_WARMUP_S', 2, 1),
    /** POSTMARK_TIMEOUT of the consumer: a hanging send fails after this. */
    providerTimeout: '2s',
    /** CIRCUIT_COOL_DOWN of the consumer: the circuit closes within a warm-up once the provider heals. */
    circuitCoolDown: '1s',
  },
  /**
   * RETRY_DELAYS of both services: long, so that what the hanging phases sent to the delay queues
   * does not come back during the bench and load the phases after them.
   */
  retryDelaysMs: [600_000, 1_200_000],
  arrivalTimeoutMs: 120_000,
};
const targets = {
  /** Delivered/s at 200 ms: 0.8 x the ideal for PREFETCH sends in flight that each take 200 ms. */
  delivered200Share: 0.8,
  delivered0PerS: 2000,
  consumerPeakRssMb: 200,
  /** Consumer CPU per email over the baseline consumer's. */
  cpuPerEmailRatio: 1.5,
  hangP99Ratio: 1.2,
  /** Delivered/s with the ledger over the same burst without it, at 0 ms and at 200 ms. */
  ledgerRatio: 0.7,
};

const prefix = `bench.e2e.${Date.now()}.${process.pid}`;
const topology = buildTopology({
  prefix,
  retryDelaysMs: settings.retryDelaysMs,
  deliveryLimit: DEFAULT_DELIVERY_LIMIT,
});
const retryQueues = topology.retryTiers.map((tier) => tier.queue.name);
const apiKey = randomBytes(24).toString('hex');
const auth = { authorization: `Bearer ${apiKey}` };
const postmarkToken = randomBytes(16).toString('hex');

const children = [];
let fake;
let queueCounter;
let topologyTouched = false;
let producerPort;
let brokerPid;
let producerPid;
let single;
let batch;
let database;

/**
 * Resolves once `reached(record)` holds for the fake's record of every id in `ids`, checked again
 * on each `event` of the fake; rejects after `timeoutMs`.
 */
function awaitEvery(ids, event, reached, what, timeoutMs = settings.arrivalTimeoutMs) {
  const missing = new Set([...ids].filter((id) => !reached(fake.arrivals.get(id))));
  if (missing.size === 0) return Promise.resolve();
  return new Promise((resolvePromise, reject) => {
    const onEvent = (id, record) => {
      if (reached(record) && missing.delete(id) && missing.size === 0) finish();
    };
    const timer = setTimeout(() => {
      fake.events.off(event, onEvent);
      reject(new Error(`${missing.size} of ${ids.size} accepted emails ${what} within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      fake.events.off(event, onEvent);
      resolvePromise();
    };
    fake.events.on(event, onEvent);
  });
}

/** Every id in `ids` reached the provider. */
const awaitArrivals = (ids, timeoutMs) =>
  awaitEvery(ids, 'arrival', (record) => record !== undefined, 'never reached the provider', timeoutMs);

/** The provider answered 200 for every id in `ids`. */
const awaitAnswered = (ids) =>
  awaitEvery(ids, 'answered', (record) => record?.answered === true, 'were never answered by the provider');

/** CPU seconds and % of one core each process used between two `cpuMark`s. */
function cpuMark(pids) {
  return {
    at: performance.now(),
    pids,
    seconds: Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)])),
  };
}
function cpuSince(mark) {
  const wall = (performance.now() - mark.at) / 1000;
  const used = Object.fromEntries(
    Object.entries(mark.seconds).map(([k, before]) => {
      const after = cpuSeconds(mark.pids[k]);
      return [k, before === undefined || after === undefined ? Number.NaN : after - before];
    }),
  );
  return {
    seconds: used,
    percent: Object.fromEntries(Object.entries(used).map(([k, s]) => [k, (s / wall) * 100])),
  };
}

/** Samples the consumer's RSS while `fn` runs; the peak is also read from VmHWM (reset first). */
async function withPeakRss(pid, fn) {
  const reset = resetPeakRss(pid);
  let sampled = 0;
  const timer = setInterval(() => {
    sampled = Math.max(sampled, memoryMb(pid).rss);
  }, 100);
  try {
    const result = await fn();
    const { rss, peak } = memoryMb(pid);
    return {
      result,
      rss: {
        end: rss,
        peak: reset ? peak : Math.max(sampled, rss),
        sampledPeak: Math.max(sampled, rss),
        hwmReset: reset,
      },
    };
  } finally {
    clearInterval(timer);
  }
}

/**
 * For each accepted email, ms from its 202 to the provider's 200 (`sent`) and to the provider
 * reading the request (`handedOver`; the same minus the provider's latency). Either can be a little
 * negative: the consumer may send before the bench has read the 202.
 */
function sendLatencies(accepted) {
  const sent = [];
  const handedOver = [];
  for (const [id, acceptedAt] of accepted) {
    const arrival = fake.arrivals.get(id);
    if (arrival === undefined) continue;
    handedOver.push(arrival.at - acceptedAt);
    if (arrival.answeredAt !== undefined) sent.push(arrival.answeredAt - acceptedAt);
  }
  return { sent, handedOver };
}

const percentiles = ({ sent, handedOver }) => ({
  p50: quantile(sent, 0.5),
  p99: quantile(sent, 0.99),
  max: quantile(sent, 1),
  handedOverP50: quantile(handedOver, 0.5),
  handedOverP99: quantile(handedOver, 0.99),
});

/**
 * Sets the provider up, then runs `load` while measuring it: each process's CPU, the consumer's
 * peak RSS and the provider's requests in flight.
 */
async function measured(provider, consumer, load) {
  fake.configure(provider);
  fake.startWindow();
  const mark = cpuMark({ producer: producerPid, consumer: consumer.pid, broker: brokerPid });
  const { result, rss } = await withPeakRss(consumer.pid, load);
  const cpu = cpuSince(mark);
  return { result, rss, cpu: cpu.percent, cpuSeconds: cpu.seconds, window: fake.readWindow() };
}

/** Open-loop singles at a rate the consumer keeps up with: the time from each 202 to its send. */
async function pacedRun(latencyMs, consumer) {
  const rate = settings.pacedRate[latencyMs];
  const {
    result: load,
    rss,
    cpu,
    cpuSeconds: used,
    window,
  } = await measured({ mode: 'ok', latencyMs }, consumer, async () => {
    const run = await pacedSingles({
      port: producerPort,
      body: single,
      headers: auth,
      ratePerS: rate,
      durationS: settings.pacedS,
    });
    await awaitAnswered(new Set(run.accepted.keys()));
    return run;
  });
  const run = {
    label: `paced ${latencyMs} ms`,
    consumer: consumer.name,
    prefetch: consumer.prefetch,
    latencyMs,
    kind: 'paced',
    ratePerS: rate,
    accepted: load.accepted.size,
    failures: load.failures,
    acceptP99Ms: quantile(load.latencies, 0.99),
    sendMs: percentiles(sendLatencies(load.accepted)),
    deliveredPerS: load.accepted.size / load.elapsedS,
    // Over the whole run, idle moments included: what a user sees at a rate under the capacity.
    consumerCpuPerEmailMs: (used.consumer * 1000) / load.accepted.size,
    providerInflight: window,
    cpuPercent: cpu,
    consumerRssMb: rss,
  };
  console.log(
    `  ${run.label.padEnd(14)} ${fmt.int(rate)} POST/s for ${settings.pacedS} s: ${fmt.int(run.accepted)} accepted, all sent; ` +
      `202 -> sent p50 ${fmt.ms(run.sendMs.p50)} ms p99 ${fmt.ms(run.sendMs.p99)} ms ` +
      `(-> handed over p50 ${fmt.ms(run.sendMs.handedOverP50)} ms p99 ${fmt.ms(run.sendMs.handedOverP99)} ms); ` +
      `${fmt.us(run.consumerCpuPerEmailMs * 1000)} cpu per email; cpu producer ${fmt.pct(cpu.producer)} consumer ${fmt.pct(cpu.consumer)} broker ${fmt.pct(cpu.broker)}; consumer peak ${fmt.mb(rss.peak)} MB`,
  );
  return run;
}

/**
 * A burst far larger than the prefetch, posted as fast as possible: how fast `consumer` drains it,
 * and the CPU it spent per email (user + system of its process over the whole run / emails).
 */
async function burstRun(latencyMs, consumer, count) {
  const {
    result: load,
    rss,
    cpu,
    cpuSeconds: used,
    window,
  } = await measured({ mode: 'ok', latencyMs }, consumer, async () => {
    const run = await batchBurst({
      port: producerPort,
      batchBody: batch,
      batchSize: 100,
      headers: auth,
      count,
      concurrency: settings.burstConcurrency,
    });
    await awaitAnswered(new Set(run.accepted.keys()));
    return run;
  });
  const arrivals = [...load.accepted.keys()].map((id) => fake.arrivals.get(id).at);
  const first = Math.min(...arrivals);
  const last = Math.max(...arrivals);
  const run = {
    label: `burst ${latencyMs} ms`,
    consumer: consumer.name,
    prefetch: consumer.prefetch,
    latencyMs,
    kind: 'burst',
    accepted: load.accepted.size,
    failures: load.failures,
    postedInS: load.elapsedS,
    deliveredPerS: (arrivals.length - 1) / ((last - first) / 1000),
    sendMs: percentiles(sendLatencies(load.accepted)),
    consumerCpuPerEmailMs: (used.consumer * 1000) / load.accepted.size,
    requestBytes: window.requests > 0 ? window.bodyBytes / window.requests : Number.NaN,
    providerInflight: window,
    cpuPercent: cpu,
    consumerRssMb: rss,
  };
  console.log(
    `  ${`${run.label}, ${consumer.name} (PREFETCH ${consumer.prefetch})`.padEnd(40)} ${fmt.int(count)} emails posted in ${run.postedInS.toFixed(1)} s, ` +
      `sent in ${((last - first) / 1000).toFixed(1)} s: ${fmt.int(run.deliveredPerS)} delivered/s, ` +
      `${window.averageInflight.toFixed(0)} sends in flight on average (peak ${window.maxInflight}); ` +
      `${fmt.us(run.consumerCpuPerEmailMs * 1000)} cpu per email; ${window.duplicates} sent twice; cpu producer ${fmt.pct(cpu.producer)} ` +
      `${consumer.name} ${fmt.pct(cpu.consumer)} broker ${fmt.pct(cpu.broker)}; peak ${fmt.mb(rss.peak)} MB`,
  );
  return run;
}

/**
 * One phase of the producer under load: open-loop single POSTs at a fixed rate with the provider
 * in `mode`, after a warm-up in the same mode (long enough for an open circuit to probe and close).
 * Also counts what reached the retry tiers meanwhile (passive declares, before and after).
 */
async function producerPhase(mode, consumer) {
  const provider = { mode, latencyMs: 0 };
  fake.configure(provider);
  const load = { port: producerPort, body: single, headers: auth, ratePerS: settings.hang.rate };
  const warm = await pacedSingles({ ...load, durationS: settings.hang.warmupS });
  const retriedBefore = await queueCounter.count(retryQueues);
  const startedAt = performance.now();
  const { result, rss, cpu, window } = await measured(provider, consumer, () =>
    pacedSingles({ ...load, durationS: settings.hang.durationS }),
  );
  const retried = (await queueCounter.count(retryQueues)) - retriedBefore;
  const seconds = (performance.now() - startedAt) / 1000;
  const failures = { ...warm.failures };
  for (const [key, count] of Object.entries(result.failures)) failures[key] = (failures[key] ?? 0) + count;
  return {
    mode,
    accepted: result.accepted.size,
    failures,
    latencies: result.latencies,
    p50: quantile(result.latencies, 0.5),
    p99: quantile(result.latencies, 0.99),
    retriedPerS: retried / seconds,
    providerInflight: window,
    cpuPercent: cpu,
    consumerRssMb: rss,
  };
}

/**
 * The producer at a fixed rate with healthy providers and with every provider hanging: rounds of
 * (ok, hang), each round's ratio of p99s judged on its own (a run of the bench is three rounds
 * unless told otherwise); the phases alternate so that drift on a shared machine hits both alike.
 */
async function producerUnderLoad(consumer) {
  const rounds = [];
  for (let round = 1; round <= settings.hang.rounds; round += 1) {
    const phases = {};
    for (const mode of ['ok', 'hang']) {
      const phase = await producerPhase(mode, consumer);
      phases[mode] = phase;
      console.log(
        `  round ${round}, provider ${mode.padEnd(4)} ${fmt.int(settings.hang.rate)} POST/s for ${settings.hang.durationS} s: ` +
          `${fmt.int(phase.accepted)} accepted, p50 ${fmt.ms(phase.p50)} ms p99 ${fmt.ms(phase.p99)} ms; ` +
          `to the retry tiers ${fmt.int(phase.retriedPerS)}/s; provider requests in flight on average ` +
          `${phase.providerInflight.averageInflight.toFixed(0)}; cpu producer ${fmt.pct(phase.cpuPercent.producer)} ` +
          `consumer ${fmt.pct(phase.cpuPercent.consumer)} broker ${fmt.pct(phase.cpuPercent.broker)}`,
      );
    }
    const ratio = phases.hang.p99 / phases.ok.p99;
    rounds.push({
      round,
      ratio,
      met: ratio <= targets.hangP99Ratio,
      ok: withoutLatencies(phases.ok),
      hang: withoutLatencies(phases.hang),
    });
  }
  return rounds;
}

const withoutLatencies = ({ latencies: _latencies, ...phase }) => phase;

/**
 * Waits until the broker uses under `maxPercent` of a core over a second (at most `timeoutMs`): a
 * run right after the producer bench would otherwise share the cores with RabbitMQ still cleaning
 * up the messages that bench queued. Resolves with the ms waited.
 */
async function brokerSettled({ maxPercent = 10, timeoutMs = 60_000 } = {}) {
  if (brokerPid === undefined) return 0;
  const started = performance.now();
  for (;;) {
    const before = cpuSeconds(brokerPid);
    await new Promise((done) => setTimeout(done, 1000));
    const after = cpuSeconds(brokerPid);
    const waited = performance.now() - started;
    if (before === undefined || after === undefined || (after - before) * 100 < maxPercent || waited > timeoutMs) {
      return Math.round(waited);
    }
  }
}

/** Both services' settings; the ledger is off unless `ledger` names the bench database. */
const sharedEnv = (ledger = undefined) => ({
  AMQP_URL: settings.amqpUrl,
  AMQP_PREFIX: prefix,
  RETRY_DELAYS: settings.retryDelaysMs.map(delayName).join(','),
  LOG_LEVEL: 'info',
  ...(ledger === undefined
    ? { LEDGER: 'off' }
    : {
        LEDGER: 'on',
        DATABASE_URL: ledger.url,
        MIGRATE_ON_START: 'false',
        RECIPIENT_HASH_SECRET: BENCH_RECIPIENT_HASH_SECRET,
      }),
});

/** Starts a producer (with the ledger when `ledger` is given) and makes it the one the runs post to. */
async function startProducer(ledger = undefined) {
  producerPort = await freePort();
  topologyTouched = true;
  const name = ledger === undefined ? 'producer' : 'producer ledger';
  const producer = startNode(
    name,
    [...nodeFlags.producer, join(root, 'packages/producer/dist/main.js')],
    {
      ...sharedEnv(ledger),
      PORT: String(producerPort),
      HOST: '127.0.0.1',
      API_KEYS: JSON.stringify([
        { name: 'bench', key_sha256: createHash('sha256').update(apiKey).digest('hex'), senders: ['example.com'] },
      ]),
    },
    join(resultsDir, `e2e-${name.replace(' ', '-')}.log`),
  );
  children.push(producer);
  const readyMs = await waitReady(producer, producerPort);
  producerPid = producer.pid;
  console.log(`${name} pid ${producer.pid} on :${producerPort} ready in ${readyMs} ms (prefix ${prefix})`);
  return producer;
}

/**
 * Starts a consumer on the work queue and resolves once it consumes, with the PREFETCH it says it
 * uses. `kind` is `consumer` (the real one; `prefetch` undefined = its default) or `baseline`.
 */
async function startConsumer(kind, prefetch, ledger = undefined) {
  const started = performance.now();
  const logName =
    kind === 'baseline' ? 'baseline' : `consumer-${prefetch ?? 'default'}${ledger === undefined ? '' : '-ledger'}`;
  let handle;
  if (kind === 'baseline') {
    handle = startNodeWatched(
      'baseline',
      [join(import.meta.dirname, 'baseline-consumer.mjs')],
      {
        AMQP_URL: settings.amqpUrl,
        QUEUE: topology.workQueue.name,
        PREFETCH: String(prefetch),
        POSTMARK_URL: `http://${fake.host}`,
        POSTMARK_SERVER_TOKEN: postmarkToken,
      },
      join(resultsDir, `e2e-${logName}.log`),
    );
  } else {
    const profileDir = join(resultsDir, 'profiles');
    if (settings.cpuProfile) mkdirSync(profileDir, { recursive: true });
    // The consumer whose CPU per email is judged: the one with the ledger, on by default.
    const profiled = settings.cpuProfile && ledger !== undefined;
    const profile = profiled ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    handle = startNodeWatched(
      'consumer',
      [...settings.consumerFlags, ...profile, join(root, 'packages/consumer/dist/main.js')],
      {
        ...sharedEnv(ledger),
        PROVIDERS: 'postmark',
        POSTMARK_SERVER_TOKEN: postmarkToken,
        POSTMARK_API_HOST: fake.host,
        POSTMARK_TIMEOUT: settings.hang.providerTimeout,
        // Any free port: the default (3001) may be taken, for instance by a running `pnpm dev`.
        HTTP_PORT: '0',
        CIRCUIT_COOL_DOWN: settings.hang.circuitCoolDown,
        ...(prefetch === undefined ? {} : { PREFETCH: String(prefetch) }),
      },
      join(resultsDir, `e2e-${logName}.log`),
    );
  }
  children.push(handle);
  const { line } = await waitForLine(handle, (json) => json.message === 'consuming').catch((error) => {
    throw new Error(`${error.message}:\n${logTail(handle.logFile)}`);
  });
  handle.stopWatching();
  // The consumer's first window can be smaller than its PREFETCH (the byte bound sizes it from the
  // messages it has seen); the limit is what the runs compare.
  const consuming = JSON.parse(line);
  handle.prefetch = Number(consuming.prefetch_limit ?? consuming.prefetch);
  console.log(
    `${handle.name} pid ${handle.pid} consuming in ${Math.round(performance.now() - started)} ms, PREFETCH ${handle.prefetch}`,
  );
  return handle;
}

/** Stops a consumer by PID (SIGTERM, then SIGKILL) and forgets it. */
async function stopConsumer(handle) {
  const how = await stopNode(handle);
  children.splice(children.indexOf(handle), 1);
  console.log(`stopped ${handle.name} (pid ${handle.pid}): ${how}`);
}

/** One email all the way through before any figure is taken. */
async function smokeTest() {
  fake.configure({ mode: 'ok', latencyMs: 0 });
  const smoke = await pacedSingles({ port: producerPort, body: single, headers: auth, ratePerS: 1, durationS: 1 });
  if (smoke.accepted.size !== 1)
    throw new Error(`smoke test: the producer did not accept the bench email (${JSON.stringify(smoke.failures)})`);
  await awaitArrivals(new Set(smoke.accepted.keys()), 30_000);
}

/** Burst sizes and runs of the PREFETCH sweep: one consumer per value, a burst at 200 ms and one at 0 ms. */
async function prefetchSweep() {
  const points = [];
  for (const prefetch of settings.sweep) {
    const consumer = await startConsumer('consumer', prefetch);
    const at200 = await burstRun(200, consumer, prefetch * settings.burst200PerPrefetch);
    const at0 = await burstRun(0, consumer, settings.burst0);
    await stopConsumer(consumer);
    points.push({
      prefetch,
      delivered200PerS: at200.deliveredPerS,
      ideal200PerS: prefetch / 0.2,
      delivered0PerS: at0.deliveredPerS,
      cpuPerEmailMs: at0.consumerCpuPerEmailMs,
      peakRssMb: Math.max(at200.consumerRssMb.peak, at0.consumerRssMb.peak),
      runs: [at200, at0],
    });
  }
  return points;
}

/**
 * Both services with the ledger (the default): a fresh producer and consumer with LEDGER=on, the
 * same bursts (at each of `latencies`) as the runs without it, then with `paced` the paced singles
 * at 0 ms; PostgreSQL's CPU and the statements (transactions) of the bench database per email.
 */
async function ledgerRuns(burstOf, latencies, paced) {
  database = await createBenchDatabase('mailer_bench_e2e');
  const withoutLedger = { port: producerPort, pid: producerPid };
  const producer = await startProducer(database);
  const consumer = await startConsumer('consumer', settings.prefetch, database);
  consumer.name = 'consumer+ledger';
  const runs = [];
  try {
    for (const latencyMs of latencies) {
      const transactionsBefore = await database.transactions({ settled: true });
      const postgresBefore = postgresCpuSeconds();
      const startedAt = performance.now();
      const run = await burstRun(latencyMs, consumer, burstOf(latencyMs));
      const seconds = (performance.now() - startedAt) / 1000;
      run.label = `ledger burst ${latencyMs} ms`;
      run.postgresCpuPercent = ((postgresCpuSeconds() - postgresBefore) / seconds) * 100;
      run.postgresCpuMsPerEmail = ((postgresCpuSeconds() - postgresBefore) * 1000) / run.accepted;
      run.statementsPerEmail = ((await database.transactions({ settled: true })) - transactionsBefore) / run.accepted;
      console.log(
        `    with the ledger: PostgreSQL ${fmt.pct(run.postgresCpuPercent)} of a core, ${run.postgresCpuMsPerEmail.toFixed(3)} ms ` +
          `CPU and ${run.statementsPerEmail.toFixed(3)} statements per email (producer and consumer together)`,
      );
      runs.push(run);
    }
    if (paced) {
      const run = await pacedRun(0, consumer);
      run.label = 'ledger paced 0 ms';
      runs.push(run);
    }
  } finally {
    await stopConsumer(consumer);
    await stopNode(producer);
    children.splice(children.indexOf(producer), 1);
    producerPort = withoutLedger.port;
    producerPid = withoutLedger.pid;
  }
  return runs;
}

async function cleanUp() {
  await stopAll(children);
  await database?.drop();
  database = undefined;
  await queueCounter?.close();
  queueCounter = undefined;
  await fake?.close();
  fake = undefined;
  if (!topologyTouched) return true;
  topologyTouched = false;
  return removeBenchTopology(settings.amqpUrl, topology, prefix);
}

async function main() {
  single = singleBody();
  batch = batchBody(100);
  brokerPid = localBrokerPid(settings.amqpUrl);
  console.log(
    `\nend-to-end bench: ${cpus().length} cpus, node ${process.version}; producer -> RabbitMQ -> consumer ` +
      `-> fake Postmark of fixed latency; cpu figures are % of one core${short ? '; SHORT runs (figures not comparable)' : ''}`,
  );
  const settledMs = await brokerSettled();
  console.log(`broker (pid ${brokerPid ?? 'not found'}) under 10% of a core after ${settledMs} ms`);
  mkdirSync(resultsDir, { recursive: true });
  fake = await startFakePostmark({ token: postmarkToken, latencyMs: 0 });
  console.log(`fake Postmark on ${fake.host}`);
  await startProducer();
  queueCounter = await openQueueCounter(settings.amqpUrl);

  const runs = [];
  // 1. The consumer at its default PREFETCH (or BENCH_PREFETCH): delivery, latency, CPU per email.
  let consumer = await startConsumer('consumer', settings.prefetch);
  const prefetch = consumer.prefetch;
  await smokeTest();
  if (settings.scope === 'all') {
    runs.push(await pacedRun(200, consumer));
    runs.push(await burstRun(200, consumer, prefetch * settings.burst200PerPrefetch));
    runs.push(await pacedRun(0, consumer));
  }
  const costLatency = settings.scope === 'cost' ? settings.costLatencyMs : 0;
  const burstOf = (latencyMs) => (latencyMs === 0 ? settings.burst0 : prefetch * settings.burst200PerPrefetch);
  const consumerCost = await burstRun(costLatency, consumer, burstOf(costLatency));
  runs.push(consumerCost);
  await stopConsumer(consumer);

  // 2. The baseline consumer on the same queue, same PREFETCH, same provider, same bursts.
  const baseline = await startConsumer('baseline', prefetch);
  const baselineRuns = [];
  if (settings.scope === 'all') baselineRuns.push(await burstRun(200, baseline, burstOf(200)));
  const baselineCost = await burstRun(costLatency, baseline, burstOf(costLatency));
  baselineRuns.push(baselineCost);
  if (settings.scope === 'all') baselineRuns.push(await pacedRun(0, baseline));
  await stopConsumer(baseline);

  // 3. Both services with the ledger, as a user runs them (it is on by default): the same bursts as
  // 1, then the paced singles at 0 ms. The CPU per email judged is this consumer's.
  const ledger = await ledgerRuns(
    burstOf,
    settings.scope === 'all' ? [200, 0] : [costLatency],
    settings.scope === 'all',
  );
  const ledgerCost = ledger.find((run) => run.kind === 'burst' && run.latencyMs === costLatency);
  let sweep = [];
  let rounds = [];
  if (settings.scope === 'all') {
    // 4. The PREFETCH sweep.
    sweep = await prefetchSweep();
    // 5. The producer while every provider hangs, last: with every circuit open the consumer may
    // hold messages, which would otherwise be in the queue for the runs after it.
    consumer = await startConsumer('consumer', settings.prefetch);
    rounds = await producerUnderLoad(consumer);
    await stopConsumer(consumer);
  }

  const duplicates = [...fake.arrivals.values()].filter((a) => a.count > 1).length;
  // Every run of the consumer at the default PREFETCH counts, the ledger's too: it is on by default.
  const atDefault = [
    ...runs,
    ...ledger,
    ...rounds.flatMap((r) => [r.ok, r.hang]).map((p) => ({ consumerRssMb: p.consumerRssMb })),
  ];
  const rssPeak = Math.max(...atDefault.map((r) => r.consumerRssMb.peak));
  const byLabel = (label) => runs.find((r) => r.label === label);
  const checks = {
    cpuPerEmail: {
      latencyMs: costLatency,
      consumerMs: ledgerCost.consumerCpuPerEmailMs,
      baselineMs: baselineCost.consumerCpuPerEmailMs,
      value: ledgerCost.consumerCpuPerEmailMs / baselineCost.consumerCpuPerEmailMs,
      target: targets.cpuPerEmailRatio,
      requestBytes: { consumer: ledgerCost.requestBytes, baseline: baselineCost.requestBytes },
    },
    // Informational: the same without the ledger (what this check measured before 2026-12-07).
    cpuPerEmailNoLedger: {
      consumerMs: consumerCost.consumerCpuPerEmailMs,
      value: consumerCost.consumerCpuPerEmailMs / baselineCost.consumerCpuPerEmailMs,
    },
    consumerPeakRss: { value: rssPeak, target: targets.consumerPeakRssMb },
    duplicates: { value: duplicates },
  };
  checks.cpuPerEmail.met = checks.cpuPerEmail.value <= checks.cpuPerEmail.target;
  checks.consumerPeakRss.met = rssPeak < targets.consumerPeakRssMb;
  checks.duplicates.met = duplicates === 0;
  if (settings.scope === 'all') {
    checks.delivered200 = {
      value: byLabel('burst 200 ms').deliveredPerS,
      target: (targets.delivered200Share * prefetch) / 0.2,
    };
    checks.delivered0 = { value: consumerCost.deliveredPerS, target: targets.delivered0PerS };
    // Informational: the same comparison with a provider of 200 ms (sends wait, sockets stay busy).
    const at200 = byLabel('burst 200 ms');
    // Informational: single POSTs at a rate under the capacity (as wrk -c50 sends them), idle included.
    const ledgerPaced = ledger.find((run) => run.kind === 'paced');
    const baselinePaced = baselineRuns.find((run) => run.kind === 'paced');
    checks.cpuPerEmailPaced = {
      consumerMs: ledgerPaced.consumerCpuPerEmailMs,
      baselineMs: baselinePaced.consumerCpuPerEmailMs,
      value: ledgerPaced.consumerCpuPerEmailMs / baselinePaced.consumerCpuPerEmailMs,
    };
    checks.cpuPerEmailAt200 = {
      consumerMs: at200.consumerCpuPerEmailMs,
      baselineMs: baselineRuns[0].consumerCpuPerEmailMs,
      value: at200.consumerCpuPerEmailMs / baselineRuns[0].consumerCpuPerEmailMs,
    };
    checks.delivered200.met = checks.delivered200.value >= checks.delivered200.target;
    checks.delivered0.met = checks.delivered0.value >= checks.delivered0.target;
    checks.hangP99 = {
      rounds: rounds.map(({ round, ratio, met }) => ({ round, ratio, met })),
      target: targets.hangP99Ratio,
      met: rounds.every((r) => r.met),
    };
  }
  if (settings.scope === 'all') {
    checks.ledger = ledger
      .filter((run) => run.kind === 'burst')
      .map((run) => {
        const without = run.latencyMs === 0 ? consumerCost : byLabel('burst 200 ms');
        const value = run.deliveredPerS / without.deliveredPerS;
        return {
          latencyMs: run.latencyMs,
          value,
          withLedger: run.deliveredPerS,
          without: without.deliveredPerS,
          postgresCpuPercent: run.postgresCpuPercent,
          postgresCpuMsPerEmail: run.postgresCpuMsPerEmail,
          statementsPerEmail: run.statementsPerEmail,
          met: value >= targets.ledgerRatio,
        };
      });
  }
  if (sweep.length > 0) {
    // Throughput at a slow provider grows with PREFETCH; memory bounds it.
    const fits = sweep.filter((p) => p.peakRssMb < targets.consumerPeakRssMb).sort((a, b) => b.prefetch - a.prefetch);
    checks.prefetchChoice = { value: fits[0]?.prefetch, delivered200PerS: fits[0]?.delivered200PerS };
  }
  const all = [...runs, ...baselineRuns, ...ledger, ...sweep.flatMap((p) => p.runs)];
  const flagged = all.filter((r) => Object.keys(r.failures ?? {}).length > 0).map((r) => `${r.label} (${r.consumer})`);
  for (const round of rounds) {
    for (const phase of [round.ok, round.hang]) {
      if (Object.keys(phase.failures).length > 0) flagged.push(`round ${round.round} ${phase.mode}`);
    }
  }
  return {
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    short,
    prefix,
    settings,
    targets,
    prefetch,
    consumerNodeFlags: settings.consumerFlags,
    runs,
    baseline: baselineRuns,
    ledger,
    sweep,
    rounds,
    providerStats: { ...fake.stats },
    checks,
    flagged,
  };
}

function printSummary(report) {
  const { checks, prefetch } = report;
  const runRow = (r) => [
    `${r.label}${r.consumer === 'baseline' ? ', baseline' : ''}`,
    r.kind === 'paced' ? `${fmt.int(r.ratePerS)}/s x ${settings.pacedS} s` : `${fmt.int(r.accepted)} at once`,
    fmt.int(r.deliveredPerS),
    fmt.ms(r.sendMs.p50),
    fmt.ms(r.sendMs.p99),
    r.providerInflight.averageInflight.toFixed(0),
    r.consumerCpuPerEmailMs === undefined ? '-' : fmt.us(r.consumerCpuPerEmailMs * 1000),
    fmt.pct(r.cpuPercent.consumer),
    fmt.pct(r.cpuPercent.producer),
    fmt.pct(r.cpuPercent.broker),
    fmt.mb(r.consumerRssMb.peak),
  ];
  console.log(`\nconsumer at PREFETCH ${prefetch} (node flags: ${report.consumerNodeFlags.join(' ') || 'none'})`);
  printTable(
    [
      'run',
      'load',
      'delivered/s',
      '202->send p50 ms',
      'p99 ms',
      'sends in flight',
      'cpu/email',
      'consumer cpu',
      'producer cpu',
      'mq cpu',
      'peak RSS MB',
    ],
    [...report.runs, ...report.baseline, ...report.ledger].map(runRow),
  );

  if (report.sweep.length > 0) {
    console.log('\nPREFETCH sweep (one consumer per value; burst at 200 ms, then at 0 ms)');
    printTable(
      ['PREFETCH', 'delivered/s at 200 ms', 'of ideal', 'delivered/s at 0 ms', 'cpu/email at 0 ms', 'peak RSS MB'],
      report.sweep.map((p) => [
        String(p.prefetch),
        fmt.int(p.delivered200PerS),
        fmt.ratio(p.delivered200PerS / p.ideal200PerS),
        fmt.int(p.delivered0PerS),
        fmt.us(p.cpuPerEmailMs * 1000),
        fmt.mb(p.peakRssMb),
      ]),
    );
  }

  console.log('');
  if (checks.prefetchChoice !== undefined) {
    const choice = checks.prefetchChoice;
    console.log(
      `PREFETCH by the sweep: ${choice.value ?? 'none'} (the largest whose consumer peak RSS stayed under ${targets.consumerPeakRssMb} MB` +
        `${choice.value === undefined ? '' : `; ${fmt.int(choice.delivered200PerS)} delivered/s at 200 ms`})`,
    );
  }
  const cpu = checks.cpuPerEmail;
  console.log(
    `consumer+ledger cpu per email / baseline (${cpu.latencyMs} ms burst) ${fmt.ratio(cpu.value).padStart(6)}   ` +
      `(${fmt.us(cpu.consumerMs * 1000)} / ${fmt.us(cpu.baselineMs * 1000)}; request ${fmt.int(cpu.requestBytes.consumer)} / ` +
      `${fmt.int(cpu.requestBytes.baseline)} B)   target <= ${cpu.target}   ${verdict(cpu.met)}`,
  );
  console.log(
    `  the same without the ledger                              ${fmt.ratio(checks.cpuPerEmailNoLedger.value).padStart(6)}   ` +
      `(${fmt.us(checks.cpuPerEmailNoLedger.consumerMs * 1000)} / ${fmt.us(cpu.baselineMs * 1000)})   (no target)`,
  );
  if (checks.cpuPerEmailPaced !== undefined) {
    const paced = checks.cpuPerEmailPaced;
    console.log(
      `  the same, ledger on, paced singles at 0 ms (idle included) ${fmt.ratio(paced.value).padStart(6)}   ` +
        `(${fmt.us(paced.consumerMs * 1000)} / ${fmt.us(paced.baselineMs * 1000)})   (no target)`,
    );
  }
  if (checks.cpuPerEmailAt200 !== undefined) {
    const at200 = checks.cpuPerEmailAt200;
    console.log(
      `  the same with a 200 ms provider                          ${fmt.ratio(at200.value).padStart(6)}   ` +
        `(${fmt.us(at200.consumerMs * 1000)} / ${fmt.us(at200.baselineMs * 1000)})   (no target)`,
    );
  }
  console.log(
    `consumer peak RSS (PREFETCH ${prefetch}, every run, ledger too) ${`${fmt.mb(checks.consumerPeakRss.value)} MB`.padStart(6)}   ` +
      `target < ${checks.consumerPeakRss.target} MB   ${verdict(checks.consumerPeakRss.met)}`,
  );
  if (checks.delivered200 !== undefined) {
    console.log(
      `delivered/s, provider 200 ms (burst)                        ${fmt.int(checks.delivered200.value).padStart(6)}   ` +
        `target >= ${fmt.int(checks.delivered200.target)} (${targets.delivered200Share} x ${prefetch} / 0.2 s)   ${verdict(checks.delivered200.met)}`,
    );
    console.log(
      `delivered/s, provider 0 ms (burst)                          ${fmt.int(checks.delivered0.value).padStart(6)}   ` +
        `target >= ${fmt.int(checks.delivered0.target)}   ${verdict(checks.delivered0.met)}`,
    );
  }
  for (const check of checks.ledger ?? []) {
    console.log(
      `delivered/s with the ledger / without, provider ${check.latencyMs} ms`.padEnd(60) +
        `${fmt.ratio(check.value).padStart(6)}   (${fmt.int(check.withLedger)} / ${fmt.int(check.without)}; PostgreSQL ` +
        `${fmt.pct(check.postgresCpuPercent)} of a core, ${check.statementsPerEmail.toFixed(3)} statements per email)   ` +
        `target >= ${targets.ledgerRatio}   ${verdict(check.met)}`,
    );
  }
  for (const round of report.rounds) {
    console.log(
      `producer p99 at ${fmt.int(settings.hang.rate)} POST/s, hanging/healthy, round ${round.round}  ${fmt.ratio(round.ratio).padStart(6)}   ` +
        `(${fmt.ms(round.hang.p99)} ms / ${fmt.ms(round.ok.p99)} ms; retry tiers ${fmt.int(round.hang.retriedPerS)}/s while hanging)   ` +
        `target <= ${targets.hangP99Ratio}   ${verdict(round.met)}`,
    );
  }
  console.log(
    `emails the provider received twice                          ${String(checks.duplicates.value).padStart(6)}   ${checks.duplicates.met ? 'OK' : 'DUPLICATES'}`,
  );
  if (report.flagged.length > 0) console.log(`FLAGGED runs (refused requests or errors): ${report.flagged.join(', ')}`);
  if (report.short) console.log('SHORT runs: these figures check the bench, they are not the figures to quote');
}

await runBench({
  main,
  cleanUp,
  finish: (report) => {
    printSummary(report);
    writeReport('end-to-end.json', report);
    return report.checks.duplicates.met && report.flagged.length === 0;
  },
});
