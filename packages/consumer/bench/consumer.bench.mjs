// `pnpm bench`, second part: end to end, from POST /v1/emails to the provider, with the real
// producer and consumer processes and a fake Postmark of fixed latency. See README.md beside this file.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';
import { URL } from 'node:url';
import contract from '@mailer/contract';
import { removeBenchTopology } from '../../producer/bench/broker.mjs';
import { batchBody, singleBody } from '../../producer/bench/fixtures.mjs';
import {
  cpuSeconds,
  findListenerPid,
  freePort,
  logTail,
  memoryMb,
  runBench,
  startNode,
  stopAll,
  waitReady,
} from '../../producer/bench/support.mjs';
import { nodeFlags } from '../../../scripts/node-flags.mjs';
import { startFakePostmark } from './fake-postmark.mjs';
import { batchBurst, pacedSingles } from './load.mjs';
import { resetPeakRss, startNodeWatched, waitForLine } from './processes.mjs';

const { DEFAULT_DELIVERY_LIMIT, buildTopology, delayName } = contract;

const benchDir = import.meta.dirname;
const root = resolve(benchDir, '../../..');
const resultsDir = join(root, 'bench-results');

const env = process.env;
const num = (name, fallback) => Number(env[name] ?? fallback);
const settings = {
  amqpUrl: env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
  prefetch: num('BENCH_PREFETCH', 100),
  /** Provider latencies measured, in ms. */
  latenciesMs: [200, 0],
  /** Emails posted in one burst per latency, to measure how fast the consumer drains them. */
  burst: { 200: num('BENCH_BURST_200', 4000), 0: num('BENCH_BURST_0', 16_000) },
  burstConcurrency: 4,
  /** Open-loop single POSTs per second for the 202 -> send latency: well under the consumer's capacity. */
  pacedRate: { 200: num('BENCH_PACED_RATE_200', 200), 0: num('BENCH_PACED_RATE_0', 1000) },
  pacedS: num('BENCH_PACED_S', 8),
  /** The producer under load with healthy vs hanging providers: open-loop single POSTs at a fixed rate. */
  hang: {
    rate: num('BENCH_HANG_RATE', 1000),
    /** Pairs of phases (provider ok, provider hanging). */
    rounds: num('BENCH_HANG_ROUNDS', 3),
    durationS: num('BENCH_HANG_S', 6),
    warmupS: num('BENCH_HANG_WARMUP_S', 2),
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
  /** 0.8 x the ideal for `prefetch` sends in flight that each take 200 ms. */
  delivered200PerS: (0.8 * settings.prefetch) / 0.2,
  delivered0PerS: 2000,
  consumerPeakRssMb: 200,
  hangP99Ratio: 1.2,
};

const prefix = `bench.e2e.${Date.now()}.${process.pid}`;
const topology = buildTopology({
  prefix,
  retryDelaysMs: settings.retryDelaysMs,
  deliveryLimit: DEFAULT_DELIVERY_LIMIT,
});
const apiKey = randomBytes(24).toString('hex');
const auth = { authorization: `Bearer ${apiKey}` };
const postmarkToken = randomBytes(16).toString('hex');

const children = [];
let fake;
let topologyTouched = false;

const fmt = {
  int: (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-'),
  ms: (n) => (Number.isFinite(n) ? (Math.abs(n) >= 100 ? String(Math.round(n)) : n.toFixed(1)) : '-'),
  pct: (n) => (Number.isFinite(n) ? `${Math.round(n)}%` : '-'),
  ratio: (n) => (Number.isFinite(n) ? n.toFixed(2) : '-'),
  mb: (n) => (Number.isFinite(n) ? `${Math.round(n)}` : '-'),
};
const verdict = (ok) => (ok ? 'MET' : 'MISSED');

/** The q-quantile (0..1) of `values` by the nearest-rank method; NaN when empty. */
function quantile(values, q) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

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

/** CPU % of one core each process used between two `cpuMark`s. */
function cpuMark(pids) {
  return {
    at: performance.now(),
    pids,
    seconds: Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)])),
  };
}
function cpuSince(mark) {
  const wall = (performance.now() - mark.at) / 1000;
  return Object.fromEntries(
    Object.entries(mark.seconds).map(([k, before]) => {
      const after = cpuSeconds(mark.pids[k]);
      return [k, before === undefined || after === undefined ? Number.NaN : ((after - before) / wall) * 100];
    }),
  );
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
async function measured(provider, pids, consumerPid, load) {
  fake.configure(provider);
  fake.startWindow();
  const mark = cpuMark(pids);
  const { result, rss } = await withPeakRss(consumerPid, load);
  return { result, rss, cpu: cpuSince(mark), window: fake.readWindow() };
}

/** Open-loop singles at a rate the consumer keeps up with: the time from each 202 to its send. */
async function pacedRun(latencyMs, pids, consumerPid) {
  const rate = settings.pacedRate[latencyMs];
  const {
    result: load,
    rss,
    cpu,
    window,
  } = await measured({ mode: 'ok', latencyMs }, pids, consumerPid, async () => {
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
  const latencies = sendLatencies(load.accepted);
  const run = {
    label: `paced ${latencyMs} ms`,
    latencyMs,
    kind: 'paced',
    ratePerS: rate,
    accepted: load.accepted.size,
    failures: load.failures,
    acceptP99Ms: quantile(load.latencies, 0.99),
    sendMs: percentiles(latencies),
    deliveredPerS: load.accepted.size / load.elapsedS,
    providerInflight: window,
    cpuPercent: cpu,
    consumerRssMb: rss,
  };
  console.log(
    `  ${run.label.padEnd(14)} ${fmt.int(rate)} POST/s for ${settings.pacedS} s: ${fmt.int(run.accepted)} accepted, all sent; ` +
      `202 -> sent p50 ${fmt.ms(run.sendMs.p50)} ms p99 ${fmt.ms(run.sendMs.p99)} ms ` +
      `(-> handed over p50 ${fmt.ms(run.sendMs.handedOverP50)} ms p99 ${fmt.ms(run.sendMs.handedOverP99)} ms); ` +
      `cpu producer ${fmt.pct(cpu.producer)} consumer ${fmt.pct(cpu.consumer)} broker ${fmt.pct(cpu.broker)}; consumer peak ${fmt.mb(rss.peak)} MB`,
  );
  return run;
}

/** A burst far larger than the prefetch, posted as fast as possible: how fast the consumer drains it. */
async function burstRun(latencyMs, pids, consumerPid) {
  const count = settings.burst[latencyMs];
  const {
    result: load,
    rss,
    cpu,
    window,
  } = await measured({ mode: 'ok', latencyMs }, pids, consumerPid, async () => {
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
  const latencies = sendLatencies(load.accepted);
  const run = {
    label: `burst ${latencyMs} ms`,
    latencyMs,
    kind: 'burst',
    accepted: load.accepted.size,
    failures: load.failures,
    postedInS: load.elapsedS,
    deliveredPerS: (arrivals.length - 1) / ((last - first) / 1000),
    sendMs: percentiles(latencies),
    providerInflight: window,
    cpuPercent: cpu,
    consumerRssMb: rss,
  };
  console.log(
    `  ${run.label.padEnd(14)} ${fmt.int(count)} emails posted in ${run.postedInS.toFixed(1)} s, sent in ${((last - first) / 1000).toFixed(1)} s: ` +
      `${fmt.int(run.deliveredPerS)} delivered/s, ${window.averageInflight.toFixed(0)} sends in flight on average (peak ${window.maxInflight}); ` +
      `cpu producer ${fmt.pct(cpu.producer)} consumer ${fmt.pct(cpu.consumer)} broker ${fmt.pct(cpu.broker)}; consumer peak ${fmt.mb(rss.peak)} MB`,
  );
  return run;
}

/**
 * One phase of the producer under load: open-loop single POSTs at a fixed rate with the provider
 * in `mode`, after a warm-up in the same mode (long enough for an open circuit to probe and close).
 */
async function producerPhase(mode, pids, consumerPid) {
  const provider = { mode, latencyMs: 0 };
  fake.configure(provider);
  const load = { port: producerPort, body: single, headers: auth, ratePerS: settings.hang.rate };
  const warm = await pacedSingles({ ...load, durationS: settings.hang.warmupS });
  const { result, rss, cpu, window } = await measured(provider, pids, consumerPid, () =>
    pacedSingles({ ...load, durationS: settings.hang.durationS }),
  );
  const failures = { ...warm.failures };
  for (const [key, count] of Object.entries(result.failures)) failures[key] = (failures[key] ?? 0) + count;
  return {
    mode,
    accepted: result.accepted.size,
    failures,
    latencies: result.latencies,
    p99: quantile(result.latencies, 0.99),
    providerInflight: window,
    cpuPercent: cpu,
    consumerRssMb: rss,
  };
}

/**
 * The producer at a fixed rate with healthy providers and with every provider hanging, phases
 * alternating (ok, hang, ok, hang...) so that drift on a shared machine hits both alike; the
 * latencies of all phases of a mode are pooled for its percentiles.
 */
async function producerUnderLoad(pids, consumerPid) {
  const phases = [];
  for (let round = 0; round < settings.hang.rounds; round += 1) {
    for (const mode of ['ok', 'hang']) {
      const phase = await producerPhase(mode, pids, consumerPid);
      phases.push(phase);
      console.log(
        `  producer, provider ${mode.padEnd(4)} ${fmt.int(settings.hang.rate)} POST/s for ${settings.hang.durationS} s: ` +
          `${fmt.int(phase.accepted)} accepted, p99 ${fmt.ms(phase.p99)} ms; provider requests in flight on average ` +
          `${phase.providerInflight.averageInflight.toFixed(0)}; cpu producer ${fmt.pct(phase.cpuPercent.producer)} ` +
          `consumer ${fmt.pct(phase.cpuPercent.consumer)} broker ${fmt.pct(phase.cpuPercent.broker)}`,
      );
    }
  }
  const pooled = (mode) => {
    const of = phases.filter((p) => p.mode === mode);
    const latencies = of.flatMap((p) => p.latencies);
    const failures = {};
    for (const p of of)
      for (const [key, count] of Object.entries(p.failures)) failures[key] = (failures[key] ?? 0) + count;
    return {
      label: mode === 'ok' ? 'producer, provider ok' : 'producer, provider hangs',
      kind: 'producer',
      mode,
      ratePerS: settings.hang.rate,
      phases: of.length,
      accepted: of.reduce((sum, p) => sum + p.accepted, 0),
      failures,
      latencyMs: {
        p50: quantile(latencies, 0.5),
        p90: quantile(latencies, 0.9),
        p99: quantile(latencies, 0.99),
        max: quantile(latencies, 1),
        phaseP99s: of.map((p) => p.p99),
      },
      cpuPercent: {
        producer: of.reduce((sum, p) => sum + p.cpuPercent.producer, 0) / of.length,
        consumer: of.reduce((sum, p) => sum + p.cpuPercent.consumer, 0) / of.length,
        broker: of.reduce((sum, p) => sum + p.cpuPercent.broker, 0) / of.length,
      },
      providerInflightAverage: of.reduce((sum, p) => sum + p.providerInflight.averageInflight, 0) / of.length,
      consumerRssMb: { peak: Math.max(...of.map((p) => p.consumerRssMb.peak)) },
    };
  };
  return { healthy: pooled('ok'), hanging: pooled('hang') };
}

/**
 * Waits until the broker uses under `maxPercent` of a core over a second (at most `timeoutMs`): a
 * run right after the producer bench would otherwise share the cores with RabbitMQ still cleaning
 * up the hundreds of thousands of messages that bench queued. Resolves with the ms waited.
 */
async function brokerSettled(brokerPid, { maxPercent = 10, timeoutMs = 60_000 } = {}) {
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

let producerPort;
let single;
let batch;

async function startServices() {
  mkdirSync(resultsDir, { recursive: true });
  fake = await startFakePostmark({ token: postmarkToken, latencyMs: 200 });
  producerPort = await freePort();
  topologyTouched = true;
  const shared = {
    AMQP_URL: settings.amqpUrl,
    AMQP_PREFIX: prefix,
    RETRY_DELAYS: settings.retryDelaysMs.map(delayName).join(','),
    LOG_LEVEL: 'info',
  };
  const producer = startNode(
    'producer',
    [...nodeFlags.producer, join(root, 'packages/producer/dist/main.js')],
    {
      ...shared,
      PORT: String(producerPort),
      HOST: '127.0.0.1',
      API_KEYS: JSON.stringify([
        { name: 'bench', key_sha256: createHash('sha256').update(apiKey).digest('hex'), senders: ['example.com'] },
      ]),
    },
    join(resultsDir, 'e2e-producer.log'),
  );
  children.push(producer);
  const producerReadyMs = await waitReady(producer, producerPort);
  // The producer declared the topology; the consumer finds it as it expects.
  const consumer = startNodeWatched(
    'consumer',
    [...nodeFlags.consumer, join(root, 'packages/consumer/dist/main.js')],
    {
      ...shared,
      PROVIDERS: 'postmark',
      POSTMARK_SERVER_TOKEN: postmarkToken,
      POSTMARK_API_HOST: fake.host,
      POSTMARK_TIMEOUT: settings.hang.providerTimeout,
      CIRCUIT_COOL_DOWN: settings.hang.circuitCoolDown,
      PREFETCH: String(settings.prefetch),
    },
    join(resultsDir, 'e2e-consumer.log'),
  );
  children.push(consumer);
  const started = performance.now();
  await waitForLine(consumer, (json) => json.message === 'consuming').catch((error) => {
    throw new Error(`${error.message}:\n${logTail(consumer.logFile)}`);
  });
  consumer.stopWatching();
  console.log(
    `producer pid ${producer.pid} on :${producerPort} ready in ${producerReadyMs} ms; consumer pid ${consumer.pid} consuming in ` +
      `${Math.round(performance.now() - started)} ms (prefix ${prefix}, PREFETCH ${settings.prefetch}); fake Postmark on ${fake.host}`,
  );
  return { producer, consumer };
}

async function cleanUp() {
  await stopAll(children);
  await fake?.close();
  fake = undefined;
  if (!topologyTouched) return true;
  topologyTouched = false;
  return removeBenchTopology(settings.amqpUrl, topology, prefix);
}

async function main() {
  single = singleBody();
  batch = batchBody(100);
  const amqp = new URL(settings.amqpUrl);
  const brokerPid = ['127.0.0.1', 'localhost', '[::1]'].includes(amqp.hostname)
    ? findListenerPid(Number(amqp.port || 5672))
    : undefined;
  console.log(
    `\nend-to-end bench: ${cpus().length} cpus, node ${process.version}; producer -> RabbitMQ -> consumer (PREFETCH ${settings.prefetch}) ` +
      `-> fake Postmark of fixed latency; cpu figures are % of one core`,
  );
  const settledMs = await brokerSettled(brokerPid);
  console.log(`broker (pid ${brokerPid ?? 'not found'}) under 10% of a core after ${settledMs} ms`);
  const { producer, consumer } = await startServices();
  const pids = { producer: producer.pid, consumer: consumer.pid, broker: brokerPid };

  // Smoke test: one email all the way through before any figure is taken.
  fake.configure({ latencyMs: 0 });
  const smoke = await pacedSingles({ port: producerPort, body: single, headers: auth, ratePerS: 1, durationS: 1 });
  if (smoke.accepted.size !== 1)
    throw new Error(`smoke test: the producer did not accept the bench email (${JSON.stringify(smoke.failures)})`);
  await awaitArrivals(new Set(smoke.accepted.keys()), 30_000);

  const runs = [];
  for (const latencyMs of settings.latenciesMs) {
    runs.push(await pacedRun(latencyMs, pids, consumer.pid));
    runs.push(await burstRun(latencyMs, pids, consumer.pid));
  }

  // The producer with healthy providers and with every provider hanging, alternating.
  const { healthy, hanging } = await producerUnderLoad(pids, consumer.pid);
  runs.push(healthy, hanging);

  const duplicates = [...fake.arrivals.values()].filter((a) => a.count > 1).length;
  const rssPeak = Math.max(...runs.map((r) => r.consumerRssMb.peak));
  const byLabel = (label) => runs.find((r) => r.label === label);
  const checks = {
    delivered200: { value: byLabel('burst 200 ms').deliveredPerS, target: targets.delivered200PerS },
    delivered0: { value: byLabel('burst 0 ms').deliveredPerS, target: targets.delivered0PerS },
    consumerPeakRss: { value: rssPeak, target: targets.consumerPeakRssMb },
    hangP99Ratio: { value: hanging.latencyMs.p99 / healthy.latencyMs.p99, target: targets.hangP99Ratio },
    duplicates: { value: duplicates },
  };
  checks.delivered200.met = checks.delivered200.value >= checks.delivered200.target;
  checks.delivered0.met = checks.delivered0.value >= checks.delivered0.target;
  checks.consumerPeakRss.met = checks.consumerPeakRss.value < checks.consumerPeakRss.target;
  checks.hangP99Ratio.met = checks.hangP99Ratio.value <= checks.hangP99Ratio.target;
  checks.duplicates.met = duplicates === 0;
  const flagged = runs.filter((r) => (r.non2xx ?? 0) + (r.errors ?? 0) > 0 || Object.keys(r.failures ?? {}).length > 0);
  return {
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    prefix,
    settings,
    targets,
    runs,
    providerStats: { ...fake.stats },
    checks,
    flagged: flagged.map((r) => r.label),
  };
}

function printSummary(report) {
  const rows = report.runs
    .filter((r) => r.kind !== 'producer')
    .map((r) => [
      r.label,
      r.kind === 'paced' ? `${fmt.int(r.ratePerS)}/s x ${settings.pacedS} s` : `${fmt.int(r.accepted)} at once`,
      fmt.int(r.deliveredPerS),
      fmt.ms(r.sendMs.p50),
      fmt.ms(r.sendMs.p99),
      r.providerInflight.averageInflight.toFixed(0),
      fmt.pct(r.cpuPercent.consumer),
      fmt.pct(r.cpuPercent.producer),
      fmt.pct(r.cpuPercent.broker),
      fmt.mb(r.consumerRssMb.peak),
    ]);
  const head = [
    'run',
    'load',
    'delivered/s',
    '202->send p50 ms',
    'p99 ms',
    'sends in flight',
    'consumer cpu',
    'producer cpu',
    'mq cpu',
    'consumer peak MB',
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(`\n${line(head)}`);
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  const { checks } = report;
  console.log('');
  console.log(
    `delivered/s, provider 200 ms (burst)     ${fmt.int(checks.delivered200.value).padStart(8)}   target >= ${fmt.int(checks.delivered200.target)} (0.8 x ${settings.prefetch} / 0.2 s)   ${verdict(checks.delivered200.met)}`,
  );
  console.log(
    `delivered/s, provider 0 ms (burst)       ${fmt.int(checks.delivered0.value).padStart(8)}   target >= ${fmt.int(checks.delivered0.target)}   ${verdict(checks.delivered0.met)}`,
  );
  console.log(
    `consumer peak RSS                        ${`${fmt.mb(checks.consumerPeakRss.value)} MB`.padStart(8)}   target < ${checks.consumerPeakRss.target} MB   ${verdict(checks.consumerPeakRss.met)}`,
  );
  const healthy = report.runs.find((r) => r.label === 'producer, provider ok');
  const hanging = report.runs.find((r) => r.label === 'producer, provider hangs');
  console.log(
    `producer p99 at ${fmt.int(settings.hang.rate)} req/s, hanging/healthy  ${fmt.ratio(checks.hangP99Ratio.value).padStart(8)}   ` +
      `(${fmt.ms(hanging.latencyMs.p99)} ms / ${fmt.ms(healthy.latencyMs.p99)} ms)   target <= ${checks.hangP99Ratio.target}   ${verdict(checks.hangP99Ratio.met)}`,
  );
  console.log(
    `  p99 of each phase: ok ${healthy.latencyMs.phaseP99s.map(fmt.ms).join(', ')} ms; hang ${hanging.latencyMs.phaseP99s.map(fmt.ms).join(', ')} ms; ` +
      `p50 ok ${fmt.ms(healthy.latencyMs.p50)} ms, hang ${fmt.ms(hanging.latencyMs.p50)} ms; ` +
      `provider requests in flight on average: ok ${healthy.providerInflightAverage.toFixed(1)}, hang ${hanging.providerInflightAverage.toFixed(1)}`,
  );
  console.log(
    `emails the provider received twice       ${String(checks.duplicates.value).padStart(8)}   ${checks.duplicates.met ? 'OK' : 'DUPLICATES'}`,
  );
  if (report.flagged.length > 0) console.log(`FLAGGED runs (refused requests or errors): ${report.flagged.join(', ')}`);
}

await runBench({
  main,
  cleanUp,
  finish: (report) => {
    printSummary(report);
    const file = join(resultsDir, 'end-to-end.json');
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`\nfigures written to ${relative(process.cwd(), file) || file}`);
    return report.checks.duplicates.met && report.flagged.length === 0;
  },
});
