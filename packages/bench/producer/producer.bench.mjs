// `pnpm bench`: HTTP intake throughput of the real producer (validate, authenticate, confirmed
// publish to RabbitMQ, 202) against a plain Express + ajv server that answers 202 without publishing,
// and the producer with the ledger (LEDGER=on, a database of the bench's own; with and without an
// Idempotency-Key on every request) against the same producer without it (LEDGER=off).
// All run as child processes on loopback; autocannon loads each in turn. Method and figures: docs/benchmarks.md.
import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import contract from '@mailer/contract';
import { awaitQueueDepth, removeBenchTopology } from '../support/broker.mjs';
import { EMAIL_BYTES, batchBody, singleBody } from '../support/fixtures.mjs';
import { BENCH_RECIPIENT_HASH_SECRET, createBenchDatabase, postgresCpuSeconds } from '../support/postgres.mjs';
import { cpuSeconds, localBrokerPid, machineCpuSeconds, memoryMb } from '../support/proc.mjs';
import { meanDurationsMs, readHistograms } from '../support/metrics.mjs';
import { freePort, httpPostJson, startNode, stopAll, waitReady } from '../support/processes.mjs';
import {
  fmt,
  knob,
  printTable as printRows,
  resultsDir,
  root,
  runBench,
  verdict,
  writeReport,
} from '../support/report.mjs';

const { DEFAULT_DELIVERY_LIMIT, DEFAULT_RETRY_DELAYS_MS, buildTopology } = contract;

const benchDir = import.meta.dirname;

const env = process.env;
const settings = {
  durationS: knob('BENCH_DURATION_S', 10, 2),
  warmupS: knob('BENCH_WARMUP_S', 2, 1),
  connections: knob('BENCH_CONNECTIONS', 50),
  batchConnections: knob('BENCH_BATCH_CONNECTIONS', 10),
  /** Rounds of (no ledger, ledger, ledger + key) single runs; the median ratio is judged. */
  ledgerRounds: knob('BENCH_LEDGER_ROUNDS', 3, 1),
  batchSize: 100,
  emailBytes: EMAIL_BYTES,
  amqpUrl: env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
  /** Measure the baseline's batch endpoint too (informational, no target): BENCH_BASELINE_BATCH=0 skips it. */
  baselineBatch: env.BENCH_BASELINE_BATCH !== '0',
};
const targets = {
  ratio: 0.85,
  producerP99Ms: 30,
  batchEmailsPerS: 10_000,
  /** The producer with the ledger over the producer without it (accepted/s, single), with and without a key. */
  ledgerRatio: 0.6,
  ledgerP99Ms: 50,
};
/** CPU (% of one core) used by the rest of the machine during a run above which its figures are marked noisy. */
const NOISY_OTHER_CPU = 25;

const prefix = `bench.${Date.now()}.${process.pid}`;
const topology = buildTopology({
  prefix,
  retryDelaysMs: DEFAULT_RETRY_DELAYS_MS,
  deliveryLimit: DEFAULT_DELIVERY_LIMIT,
});
const apiKey = randomBytes(24).toString('hex');
const auth = { authorization: `Bearer ${apiKey}` };

const children = [];
let topologyTouched = false;
let database;

let plainTarget;

/** Waits until the work queue holds `expected` emails, then purges it: what one run queued. */
async function countAndPurge(expected) {
  const { depth, waitedMs } = await awaitQueueDepth(settings.amqpUrl, topology.workQueue.name, expected, 10_000, {
    purge: true,
  });
  return { depth, expected, waitedMs };
}

let keyCounter = 0;
/** A new Idempotency-Key on every request autocannon sends: each one is a first request, never a replay. */
const withNewKey = (request) => ({
  ...request,
  headers: { ...request.headers, 'idempotency-key': `bench-${process.pid}-${++keyCounter}` },
});

function load({ port, path, body, connections, durationS, headers = {}, idempotent = false }) {
  return autocannon({
    url: `http://127.0.0.1:${port}${path}`,
    method: 'POST',
    connections,
    duration: durationS,
    headers: { 'content-type': 'application/json', ...headers },
    body,
    ...(idempotent ? { requests: [{ setupRequest: withNewKey }] } : {}),
  });
}

/** The producer's own histograms a request's stages are read from (docs/metrics.md). */
const STAGE_HISTOGRAMS = [
  'mailer_http_request_duration_seconds',
  'mailer_ledger_operation_duration_seconds',
  'mailer_producer_publish_duration_seconds',
];

/**
 * Mean ms per call of each stage of the answered requests over a run, from the producer's
 * histograms: the request (202s of `path`), each ledger operation that succeeded, the publish
 * (to the broker's confirm). Calls per request show the round trips; the request's mean less
 * the stages' is the time spent in the producer itself (and waiting for a CPU).
 */
function stagesOf(means, path) {
  const stages = [];
  for (const [series, { calls, meanMs }] of Object.entries(means)) {
    const labels = Object.fromEntries([...series.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (series.startsWith('mailer_http_request_duration_seconds')) {
      if (labels.route === path && labels.status === '202') stages.push({ stage: 'request', calls, meanMs });
    } else if (series.startsWith('mailer_ledger_operation_duration_seconds')) {
      if (labels.outcome === 'ok') stages.push({ stage: labels.operation, calls, meanMs });
    } else if (labels.outcome === 'confirmed') {
      stages.push({ stage: 'publish', calls, meanMs });
    }
  }
  return stages;
}

const cpuPercent = (before, after, seconds) =>
  before === undefined || after === undefined ? Number.NaN : ((after - before) / seconds) * 100;

/** Warm-up, then one measured run, with the CPU each side used during the measured part. */
async function measure({ label, target, brokerPid, path, body, connections, perRequest, headers, idempotent }) {
  const options = { port: target.port, path, body, connections, headers, idempotent };
  const warm = await load({ ...options, durationS: settings.warmupS });

  const ledgerOn = target.ledger === true;
  const transactionsBefore = ledgerOn ? await database.transactions({ settled: true }) : undefined;
  const producer = target !== plainTarget;
  const histogramsBefore = producer ? await readHistograms(target.port, STAGE_HISTOGRAMS) : undefined;
  const before = {
    server: cpuSeconds(target.handle.pid),
    broker: cpuSeconds(brokerPid),
    postgres: postgresCpuSeconds(),
    self: process.cpuUsage(),
    machine: machineCpuSeconds(),
    at: performance.now(),
  };
  const result = await load({ ...options, durationS: settings.durationS });
  const wall = (performance.now() - before.at) / 1000;
  const selfUsage = process.cpuUsage(before.self);
  const machine = machineCpuSeconds();
  const postgresAfter = postgresCpuSeconds();
  const memory = memoryMb(target.handle.pid);
  const histogramsAfter = producer ? await readHistograms(target.port, STAGE_HISTOGRAMS) : undefined;
  // Every 202 of a producer (warm-up and measured run) is an email on the work queue: counted,
  // then purged, so that the next run starts with an empty queue.
  const queue = target === plainTarget ? undefined : await countAndPurge((warm['2xx'] + result['2xx']) * perRequest);
  // Requests answered after autocannon stopped counting also wrote: statements are divided by the
  // emails of every request sent, answered or not.
  const transactions = ledgerOn ? (await database.transactions({ settled: true })) - transactionsBefore : undefined;

  const seconds = result.duration;
  const accepted = result['2xx'];
  const run = {
    label,
    path,
    connections,
    emailsPerRequest: perRequest,
    requestBytes: Buffer.byteLength(body),
    durationS: seconds,
    accepted,
    acceptedPerS: accepted / seconds,
    emailsPerS: (accepted * perRequest) / seconds,
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
      mean: result.latency.average,
    },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count])),
    warmup: { durationS: warm.duration, accepted: warm['2xx'], non2xx: warm.non2xx, errors: warm.errors },
    cpuPercent: {
      server: cpuPercent(before.server, cpuSeconds(target.handle.pid), wall),
      broker: cpuPercent(before.broker, cpuSeconds(brokerPid), wall),
      postgres: cpuPercent(before.postgres, postgresAfter, wall),
      loadgen: ((selfUsage.user + selfUsage.system) / 1e6 / wall) * 100,
      machine: cpuPercent(before.machine?.busy, machine?.busy, wall),
      iowait: cpuPercent(before.machine?.iowait, machine?.iowait, wall),
    },
    memoryMb: memory,
    queue,
    ledger: ledgerOn,
    idempotencyKeys: idempotent === true,
    stages: producer ? stagesOf(meanDurationsMs(histogramsBefore, histogramsAfter), path) : [],
  };
  if (ledgerOn) {
    const emailsSent = result.requests.sent * perRequest;
    run.statementsPerEmail = transactions / emailsSent;
    run.postgresCpuMsPerEmail = ((postgresAfter - before.postgres) * 1000) / (accepted * perRequest);
  }
  // What the rest of the machine used meanwhile (other test runs, the kernel's loopback work not
  // charged to a process): high values mean the figures of this run are noisier than usual.
  run.cpuPercent.other = Math.max(
    0,
    run.cpuPercent.machine -
      run.cpuPercent.server -
      (run.cpuPercent.broker || 0) -
      (run.cpuPercent.postgres || 0) -
      run.cpuPercent.loadgen,
  );
  run.noisy = run.cpuPercent.other > NOISY_OTHER_CPU;
  run.flagged = run.non2xx > 0 || run.errors > 0 || run.timeouts > 0 || warm.non2xx > 0 || warm.errors > 0;
  printRun(run);
  return run;
}

function printRun(run) {
  const perReq = run.emailsPerRequest > 1 ? ` (${fmt.int(run.emailsPerS)} emails/s)` : '';
  const noisy =
    run.cpuPercent.other > NOISY_OTHER_CPU
      ? `  (noisy: other jobs used ${fmt.pct(run.cpuPercent.other)} of a core)`
      : '';
  const problems = run.flagged
    ? `  << FLAGGED: ${run.non2xx} non-2xx, ${run.errors} errors, ${run.timeouts} timeouts, status ${JSON.stringify(run.statusCodes)}; warm-up ${run.warmup.non2xx} non-2xx, ${run.warmup.errors} errors`
    : '';
  const ledger = run.ledger
    ? `  postgres ${fmt.pct(run.cpuPercent.postgres)}, ${run.statementsPerEmail.toFixed(3)} statements and ` +
      `${run.postgresCpuMsPerEmail.toFixed(3)} ms PostgreSQL CPU per email`
    : '';
  const request = run.stages.find((s) => s.stage === 'request');
  const stages =
    request === undefined
      ? ''
      : `\n    stages, mean ms (calls per request): request ${request.meanMs.toFixed(1)}; ` +
        run.stages
          .filter((s) => s !== request)
          .map((s) => `${s.stage} ${s.meanMs.toFixed(1)} (${(s.calls / request.calls).toFixed(2)})`)
          .join(', ');
  console.log(
    `  ${run.label.padEnd(18)} ${fmt.int(run.acceptedPerS).padStart(7)} accepted/s${perReq}  ` +
      `p50 ${fmt.ms(run.latencyMs.p50)} ms  p99 ${fmt.ms(run.latencyMs.p99)} ms  non-2xx ${run.non2xx}  ` +
      `cpu server ${fmt.pct(run.cpuPercent.server)} broker ${fmt.pct(run.cpuPercent.broker)}${ledger} ` +
      `autocannon ${fmt.pct(run.cpuPercent.loadgen)} other ${fmt.pct(run.cpuPercent.other)}  rss ${fmt.mb(run.memoryMb.rss)} MB${noisy}${problems}${stages}`,
  );
}

async function startServers() {
  mkdirSync(resultsDir, { recursive: true });
  const [producerPort, ledgerPort, plainPort] = [await freePort(), await freePort(), await freePort()];
  topologyTouched = true;
  database = await createBenchDatabase('mailer_bench');
  const startProducer = (name, port, ledgerEnv) => {
    const handle = startNode(
      name,
      [join(root, 'packages/producer/dist/main.js')],
      {
        PORT: String(port),
        HOST: '127.0.0.1',
        AMQP_URL: settings.amqpUrl,
        AMQP_PREFIX: prefix,
        LOG_LEVEL: 'info',
        API_KEYS: JSON.stringify([
          { name: 'bench', key_sha256: createHash('sha256').update(apiKey).digest('hex'), senders: ['example.com'] },
        ]),
        ...ledgerEnv,
      },
      join(resultsDir, `${name.replace(/\W+/g, '-')}.log`),
    );
    children.push(handle);
    return { port, handle, ledger: ledgerEnv.LEDGER === 'on' };
  };
  const producer = startProducer('producer', producerPort, { LEDGER: 'off' });
  const ledger = startProducer('producer ledger', ledgerPort, {
    LEDGER: 'on',
    DATABASE_URL: database.url,
    MIGRATE_ON_START: 'false',
    RECIPIENT_HASH_SECRET: BENCH_RECIPIENT_HASH_SECRET,
  });
  const plain = {
    port: plainPort,
    handle: startNode(
      'plain server',
      [join(benchDir, 'plain-server.mjs')],
      { PORT: String(plainPort), HOST: '127.0.0.1' },
      join(resultsDir, 'plain-server.log'),
    ),
  };
  children.push(plain.handle);
  const [producerReadyMs, ledgerReadyMs, plainReadyMs] = await Promise.all([
    waitReady(producer.handle, producerPort),
    waitReady(ledger.handle, ledgerPort),
    waitReady(plain.handle, plainPort),
  ]);
  console.log(
    `producer (LEDGER=off) pid ${producer.handle.pid} on :${producerPort} ready in ${producerReadyMs} ms (prefix ${prefix}); ` +
      `producer (LEDGER=on, database ${database.name}) pid ${ledger.handle.pid} on :${ledgerPort} ready in ${ledgerReadyMs} ms; ` +
      `plain server pid ${plain.handle.pid} on :${plainPort} ready in ${plainReadyMs} ms`,
  );
  return { producer, ledger, plain };
}

/** One request to each before loading: a wrong status here would make every figure meaningless. */
async function smokeTest(server, body, headers) {
  const { status, body: answer } = await httpPostJson(server.port, '/v1/emails', body, headers);
  if (status !== 202) throw new Error(`${server.handle.name} answered ${status} to the bench email: ${answer}`);
}

async function cleanUp() {
  await stopAll(children);
  await database?.drop();
  database = undefined;
  if (!topologyTouched) return true;
  topologyTouched = false;
  return removeBenchTopology(settings.amqpUrl, topology, prefix);
}

function printTable(report) {
  const rows = report.runs.map((r) => [
    r.label,
    String(r.connections),
    fmt.int(r.acceptedPerS),
    fmt.int(r.emailsPerS),
    fmt.ms(r.latencyMs.p50),
    fmt.ms(r.latencyMs.p99),
    String(r.non2xx + r.errors + r.timeouts) + (r.flagged ? ' !' : ''),
    fmt.pct(r.cpuPercent.server),
    fmt.pct(r.cpuPercent.broker),
    r.ledger ? fmt.pct(r.cpuPercent.postgres) : '-',
    r.ledger ? r.statementsPerEmail.toFixed(3) : '-',
    fmt.pct(r.cpuPercent.loadgen),
    fmt.pct(r.cpuPercent.other) + (r.noisy ? ' ~' : ''),
    `${fmt.mb(r.memoryMb.rss)}/${fmt.mb(r.memoryMb.peak)}`,
  ]);
  const head = [
    'run',
    'conns',
    'req/s 2xx',
    'emails/s',
    'p50 ms',
    'p99 ms',
    'non-2xx/err',
    'srv cpu',
    'mq cpu',
    'pg cpu',
    'stmts/email',
    'ac cpu',
    'other cpu',
    'rss/peak MB',
  ];
  printRows(head, rows);
  const { checks } = report;
  console.log('');
  console.log(
    `ratio producer/baseline (accepted/s, single)  ${fmt.ratio(checks.ratio.value).padStart(8)}   target >= ${targets.ratio}   ${verdict(checks.ratio.met)}`,
  );
  console.log(
    `producer p99 (single)                        ${`${fmt.ms(checks.producerP99Ms.value)} ms`.padStart(8)}   target <= ${targets.producerP99Ms} ms   ${verdict(checks.producerP99Ms.met)}`,
  );
  console.log(
    `batch emails accepted/s                      ${fmt.int(checks.batchEmailsPerS.value).padStart(8)}   target >= ${fmt.int(targets.batchEmailsPerS)}   ${verdict(checks.batchEmailsPerS.met)}`,
  );
  const line = (name, value, target, check) =>
    console.log(
      `${name.padEnd(45)}${value.padStart(8)}   ${target}   ${check === undefined ? '' : verdict(check.met)}`,
    );
  const each = (check, format) => `(rounds: ${check.rounds.map(format).join(', ')})`;
  line(
    'ratio ledger/no ledger (accepted/s, median)',
    fmt.ratio(checks.ledgerRatio.value),
    `target >= ${targets.ledgerRatio}   ${each(checks.ledgerRatio, fmt.ratio)}`,
    checks.ledgerRatio,
  );
  line(
    'ratio ledger+key/no ledger (median)',
    fmt.ratio(checks.ledgerKeyRatio.value),
    `target >= ${targets.ledgerRatio}   ${each(checks.ledgerKeyRatio, fmt.ratio)}`,
    checks.ledgerKeyRatio,
  );
  line(
    'ledger p99 (single, median)',
    `${fmt.ms(checks.ledgerP99Ms.value)} ms`,
    `target <= ${targets.ledgerP99Ms} ms   ${each(checks.ledgerP99Ms, fmt.ms)}; without the ledger ${fmt.ms(checks.withoutLedgerP99Ms.value)} ms`,
    checks.ledgerP99Ms,
  );
  line(
    'ledger+key p99 (single, median)',
    `${fmt.ms(checks.ledgerKeyP99Ms.value)} ms`,
    `target <= ${targets.ledgerP99Ms} ms   ${each(checks.ledgerKeyP99Ms, fmt.ms)}`,
    checks.ledgerKeyP99Ms,
  );
  line('ratio ledger/no ledger (emails/s, batch)', fmt.ratio(checks.ledgerBatchRatio.value), '(no target)');
  if (checks.batchRatio !== undefined) {
    console.log(
      `ratio producer/baseline (emails/s, batch)    ${fmt.ratio(checks.batchRatio.value).padStart(8)}   (no target)`,
    );
  }
  console.log(
    `work queue depth ${fmt.int(checks.queue.depth)} >= 202-accepted emails ${fmt.int(checks.queue.expected)}, run by run ` +
      `(surplus ${fmt.int(checks.queue.depth - checks.queue.expected)}: requests answered after autocannon stopped counting)   ${checks.queue.met ? 'OK' : 'LOST MESSAGES?'}`,
  );
  const flagged = report.runs.filter((r) => r.flagged).map((r) => r.label);
  if (flagged.length > 0) console.log(`FLAGGED runs (non-2xx, errors or timeouts): ${flagged.join(', ')}`);
  const noisy = report.runs.filter((r) => r.noisy).map((r) => r.label);
  if (noisy.length > 0) {
    console.log(
      `~ noisy runs (other jobs used > ${NOISY_OTHER_CPU}% of a core meanwhile; compare ratios of a quieter run): ${noisy.join(', ')}`,
    );
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** The median of the rounds' ratios (with the ledger over without), against the ledger target. */
function ratioCheck(ratios) {
  const value = median(ratios);
  return { value, rounds: ratios, met: value >= targets.ledgerRatio };
}

/** The median of the rounds' p99s with the ledger, against the ledger target. */
function p99Check(p99s) {
  const value = median(p99s);
  return { value, rounds: p99s, met: value <= targets.ledgerP99Ms };
}

async function main() {
  const single = singleBody();
  const batch = batchBody(settings.batchSize);
  const brokerPid = localBrokerPid(settings.amqpUrl);
  console.log(
    `producer bench: ${cpus().length} cpus, node ${process.version}, ${settings.durationS} s per run after ${settings.warmupS} s warm-up; ` +
      `single body ${Buffer.byteLength(single)} B x ${settings.connections} connections, ` +
      `batch ${settings.batchSize} emails (${Math.round(Buffer.byteLength(batch) / 1024)} KiB) x ${settings.batchConnections} connections`,
  );
  console.log(
    `cpu figures are % of one core (${cpus().length * 100}% in all): server, broker (pid ${brokerPid ?? 'not found'}), ` +
      'autocannon (this process), other (rest of the machine: other jobs, kernel)',
  );
  const { producer, ledger, plain } = await startServers();
  plainTarget = plain;
  await smokeTest(producer, single, auth);
  await smokeTest(ledger, single, auth);
  await smokeTest(plain, single, {});
  await countAndPurge(2);

  const runs = [];
  const singleRun = { path: '/v1/emails', body: single, connections: settings.connections, perRequest: 1, brokerPid };
  const batchRun = {
    path: '/v1/emails/batch',
    body: batch,
    connections: settings.batchConnections,
    perRequest: settings.batchSize,
    brokerPid,
  };
  const baseline = await measure({ label: 'baseline single', target: plain, ...singleRun });
  runs.push(baseline);
  // Without the ledger, with it, with it and a key, in turn, for several rounds: on a machine this
  // noisy one comparison can be off either way; each round gives its ratios and the median is judged.
  const rounds = [];
  for (let round = 1; round <= settings.ledgerRounds; round++) {
    const suffix = settings.ledgerRounds > 1 ? ` #${round}` : '';
    const without = await measure({ label: `producer single${suffix}`, target: producer, headers: auth, ...singleRun });
    const withLedger = await measure({ label: `ledger single${suffix}`, target: ledger, headers: auth, ...singleRun });
    const withKey = await measure({
      label: `ledger+key single${suffix}`,
      target: ledger,
      headers: auth,
      idempotent: true,
      ...singleRun,
    });
    runs.push(without, withLedger, withKey);
    rounds.push({ without, withLedger, withKey });
  }
  const producerSingle = rounds[0].without;
  const producerBatch = await measure({ label: 'producer batch', target: producer, headers: auth, ...batchRun });
  runs.push(producerBatch);
  const ledgerBatch = await measure({ label: 'ledger batch', target: ledger, headers: auth, ...batchRun });
  runs.push(ledgerBatch);
  let baselineBatch;
  if (settings.baselineBatch) {
    baselineBatch = await measure({ label: 'baseline batch', target: plain, ...batchRun });
    runs.push(baselineBatch);
  }

  const producerRuns = runs.filter((r) => r.queue !== undefined);
  const depth = producerRuns.reduce((sum, r) => sum + r.queue.depth, 0);
  const expected = producerRuns.reduce((sum, r) => sum + r.queue.expected, 0);
  const waitedMs = producerRuns.reduce((sum, r) => sum + r.queue.waitedMs, 0);
  console.log(
    `work queue ${topology.workQueue.name}: ${fmt.int(depth)} messages over the runs (counted and purged after each, ` +
      `waited ${waitedMs} ms in all), 202-accepted ${fmt.int(expected)}`,
  );

  const report = {
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    prefix,
    settings,
    targets,
    runs,
    checks: {
      ratio: {
        value: producerSingle.acceptedPerS / baseline.acceptedPerS,
        met: producerSingle.acceptedPerS / baseline.acceptedPerS >= targets.ratio,
      },
      producerP99Ms: {
        value: producerSingle.latencyMs.p99,
        met: producerSingle.latencyMs.p99 <= targets.producerP99Ms,
      },
      batchEmailsPerS: {
        value: producerBatch.emailsPerS,
        met: producerBatch.emailsPerS >= targets.batchEmailsPerS,
      },
      ledgerRatio: ratioCheck(rounds.map((r) => r.withLedger.acceptedPerS / r.without.acceptedPerS)),
      ledgerKeyRatio: ratioCheck(rounds.map((r) => r.withKey.acceptedPerS / r.without.acceptedPerS)),
      ledgerP99Ms: p99Check(rounds.map((r) => r.withLedger.latencyMs.p99)),
      ledgerKeyP99Ms: p99Check(rounds.map((r) => r.withKey.latencyMs.p99)),
      withoutLedgerP99Ms: { value: median(rounds.map((r) => r.without.latencyMs.p99)) },
      ledgerBatchRatio: { value: ledgerBatch.emailsPerS / producerBatch.emailsPerS },
      batchRatio:
        baselineBatch === undefined ? undefined : { value: producerBatch.emailsPerS / baselineBatch.emailsPerS },
      queue: {
        queue: topology.workQueue.name,
        depth,
        expected,
        waitedMs,
        met: producerRuns.every((r) => r.queue.depth >= r.queue.expected),
      },
    },
  };
  return report;
}

await runBench({
  main,
  cleanUp,
  finish: (report) => {
    printTable(report);
    writeReport('producer.json', report);
    return report.checks.queue.met;
  },
});
