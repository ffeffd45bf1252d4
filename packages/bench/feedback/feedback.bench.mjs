// `pnpm bench -- --only=feedback`: what the feedback loop costs the producer (docs/benchmarks.md).
//   1. Intake against a suppression list of BENCH_SUPPRESSIONS entries (1,000,000) and against an empty
//      one: two producers with the ledger, each on a database of the bench's own, single POSTs with
//      50 connections, in alternating rounds. Every intake looks its recipients up in the list in the
//      statement that records them; the judged figure is the median ratio of accepted/s.
//   2. Provider events in: signed SNS Notifications (SignatureVersion 2, a key made here, served from
//      an SNS_CERT_DIR folder) posted to POST /v1/providers/ses/events, each answered 200 after the
//      broker's confirm: events verified and queued per second, with the provider-events queue
//      counted afterwards (every 200 must be on it).
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { URL } from 'node:url';
import autocannon from 'autocannon';
import contract from '@mailer/contract';
import ledgerPackage from '@mailer/ledger';
import { awaitQueueDepth, removeBenchTopology } from '../support/broker.mjs';
import { singleBody } from '../support/fixtures.mjs';
import { BENCH_RECIPIENT_HASH_SECRET, createBenchDatabase } from '../support/postgres.mjs';
import { cpuSeconds, machineCpuSeconds } from '../support/proc.mjs';
import { freePort, httpPostJson, startNode, stopAll, waitReady } from '../support/processes.mjs';
import { fmt, knob, printTable, resultsDir, root, runBench, verdict, writeReport } from '../support/report.mjs';

const { DEFAULT_DELIVERY_LIMIT, DEFAULT_RETRY_DELAYS_MS, buildTopology } = contract;
const { createPool } = ledgerPackage;

const env = process.env;
const settings = {
  suppressions: knob('BENCH_SUPPRESSIONS', 1_000_000, 100_000),
  rounds: knob('BENCH_FEEDBACK_ROUNDS', 3, 1),
  durationS: knob('BENCH_DURATION_S', 10, 2),
  warmupS: knob('BENCH_WARMUP_S', 2, 1),
  connections: knob('BENCH_CONNECTIONS', 50),
  /** Distinct signed SNS messages cycled through (each a new MessageId). */
  snsMessages: knob('BENCH_SNS_MESSAGES', 20_000, 2_000),
  amqpUrl: env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
};
const targets = { suppressionRatio: 0.9 };
const TOPIC_ARN = 'arn:aws:sns:us-east-1:123456789012:mailer-bench-events';

const prefix = `bench.feedback.${Date.now()}.${process.pid}`;
const topology = buildTopology({
  prefix,
  retryDelaysMs: DEFAULT_RETRY_DELAYS_MS,
  deliveryLimit: DEFAULT_DELIVERY_LIMIT,
});
const apiKey = randomBytes(24).toString('hex');
const children = [];
const databases = [];
let certDir;
let topologyTouched = false;

/**
 * Fills the list with `count` entries of random keys, as the ledger writes them (32-byte keys,
 * masked addresses), then ANALYZE: what a deployment that has been sending for years holds.
 */
async function fillSuppressions(url, count) {
  const pool = createPool({ url, max: 1 });
  try {
    const started = Date.now();
    // In chunks: the ledger's pool bounds each statement's time.
    const chunk = 100_000;
    for (let first = 1; first <= count; first += chunk) {
      await pool.query(
        `INSERT INTO suppressions (recipient_hash, key_id, masked, reason, created_by)
         SELECT decode(md5(i::text || 'a') || md5(i::text || 'b'), 'hex'), 'bench', 'b***@example.org', 'hard-bounce', 'bench'
         FROM generate_series($1::int, $2::int) AS i`,
        [first, Math.min(count, first + chunk - 1)],
      );
    }
    // Vacuumed and frozen as a list kept for years would be: a freshly filled table is vacuumed by
    // autovacuum (and its hint bits set by the first reads) in the middle of the runs otherwise.
    await pool.query('VACUUM (FREEZE, ANALYZE) suppressions');
    return Date.now() - started;
  } finally {
    await pool.end();
  }
}

function startProducer(name, port, extraEnv) {
  const handle = startNode(
    name,
    [join(root, 'packages/producer/dist/main.js')],
    {
      PORT: String(port),
      HOST: '127.0.0.1',
      AMQP_URL: settings.amqpUrl,
      AMQP_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      API_KEYS: JSON.stringify([
        { name: 'bench', key_sha256: createHash('sha256').update(apiKey).digest('hex'), senders: ['example.com'] },
      ]),
      RECIPIENT_HASH_SECRET: BENCH_RECIPIENT_HASH_SECRET,
      MIGRATE_ON_START: 'false',
      ...extraEnv,
    },
    join(resultsDir, `${name.replace(/\W+/g, '-')}.log`),
  );
  children.push(handle);
  return { name, port, handle };
}

const cpuPercent = (before, after, seconds) => ((after - before) / seconds) * 100;

/**
 * Warm-up, then one measured autocannon run, with the producer's and the machine's CPU meanwhile.
 * PostgreSQL's CPU is not read here: the idle producer's connections close during the other's
 * runs, and a sum over the server's live processes then goes down.
 */
async function measure(label, target, options) {
  const run = (durationS) =>
    autocannon({
      url: `http://127.0.0.1:${target.port}${options.path}`,
      method: 'POST',
      connections: settings.connections,
      duration: durationS,
      headers: options.headers,
      ...(options.requests === undefined ? { body: options.body } : { requests: options.requests }),
    });
  const warm = await run(settings.warmupS);
  const before = {
    server: cpuSeconds(target.handle.pid),
    machine: machineCpuSeconds(),
    at: performance.now(),
  };
  const result = await run(settings.durationS);
  const wall = (performance.now() - before.at) / 1000;
  const server = cpuPercent(before.server, cpuSeconds(target.handle.pid), wall);
  const machine = cpuPercent(before.machine.busy, machineCpuSeconds().busy, wall);
  const measured = {
    label,
    accepted: result['2xx'],
    acceptedPerS: result['2xx'] / result.duration,
    warmAccepted: warm['2xx'],
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.non2xx + result.errors + result.timeouts + warm.non2xx + warm.errors,
    cpu: { server, machine },
    sent: warm.requests.sent + result.requests.sent,
  };
  console.log(
    `  ${label.padEnd(28)} ${fmt.int(measured.acceptedPerS).padStart(7)}/s  p50 ${fmt.ms(measured.p50)} ms  ` +
      `p99 ${fmt.ms(measured.p99)} ms  failed ${measured.failures}  cpu producer ${fmt.pct(server)} machine ${fmt.pct(machine)}`,
  );
  return measured;
}

/** Waits for what the runs queued on `queue` (at least `expected`), purging it, and says how many. */
async function countAndPurge(queue, expected) {
  const { depth } = await awaitQueueDepth(settings.amqpUrl, queue, expected, 15_000, { purge: true });
  return depth;
}

async function intakeRuns() {
  const [empty, full] = [await createBenchDatabase('mailer_bench_fb'), await createBenchDatabase('mailer_bench_fb')];
  databases.push(empty, full);
  const fillMs = await fillSuppressions(full.url, settings.suppressions);
  console.log(
    `suppression list of ${fmt.int(settings.suppressions)} entries made in ${fmt.int(fillMs)} ms (database ${full.name})`,
  );
  topologyTouched = true;
  const [emptyPort, fullPort] = [await freePort(), await freePort()];
  const withEmpty = startProducer('producer empty list', emptyPort, { LEDGER: 'on', DATABASE_URL: empty.url });
  const withFull = startProducer('producer full list', fullPort, { LEDGER: 'on', DATABASE_URL: full.url });
  await Promise.all([waitReady(withEmpty.handle, emptyPort), waitReady(withFull.handle, fullPort)]);
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` };
  const body = singleBody();
  for (const target of [withEmpty, withFull]) {
    const { status, body: answer } = await httpPostJson(target.port, '/v1/emails', body, {
      authorization: headers.authorization,
    });
    if (status !== 202) throw new Error(`${target.name} answered ${status} to the bench email: ${answer}`);
  }
  const rounds = [];
  let queued = 2;
  let answered = 2;
  for (let round = 1; round <= settings.rounds; round++) {
    // Alternate which goes first, so neither always meets a warmer or busier machine.
    const order = round % 2 === 1 ? [withEmpty, withFull] : [withFull, withEmpty];
    const results = {};
    for (const target of order) {
      const label = `${target === withEmpty ? 'empty list' : 'full list'} #${round}`;
      results[target === withEmpty ? 'empty' : 'full'] = await measure(label, target, {
        path: '/v1/emails',
        headers,
        body,
      });
      const run = results[target === withEmpty ? 'empty' : 'full'];
      answered += run.accepted + run.warmAccepted;
      queued = await countAndPurge(topology.workQueue.name, run.accepted + run.warmAccepted);
      run.queued = queued;
    }
    rounds.push({ round, ...results, ratio: results.full.acceptedPerS / results.empty.acceptedPerS });
  }
  await stopAll([withEmpty.handle, withFull.handle]);
  return { rounds, answered };
}

/** Signed Notifications, each with its own MessageId, carrying an SES Delivery event. */
async function signedNotifications(count) {
  const { SnsSigner } = await import(join(root, 'packages/producer/dist/feedback/sns/testing.js'));
  const signer = new SnsSigner();
  certDir = mkdtempSync(join(tmpdir(), 'mailer-bench-sns-'));
  const url = new URL(signer.certUrl);
  mkdirSync(join(certDir, url.hostname), { recursive: true });
  writeFileSync(join(certDir, url.hostname, url.pathname.slice(1)), signer.publicKeyPem);
  const bodies = [];
  for (let i = 0; i < count; i++) {
    const event = {
      eventType: 'Delivery',
      mail: {
        timestamp: new Date().toISOString(),
        messageId: `0100018bench${i}`,
        destination: [`customer-${i}@example.org`],
        tags: { email_id: ['0193c2a4-0000-7000-8000-000000000000'] },
      },
      delivery: {
        timestamp: new Date().toISOString(),
        recipients: [`customer-${i}@example.org`],
        smtpResponse: '250 ok',
      },
    };
    bodies.push(JSON.stringify(signer.notification(TOPIC_ARN, JSON.stringify(event), '2')));
  }
  return bodies;
}

async function ingestRun() {
  const bodies = await signedNotifications(settings.snsMessages);
  const port = await freePort();
  const producer = startProducer('producer sns', port, {
    LEDGER: 'off',
    SNS_TOPIC_ARNS: TOPIC_ARN,
    SNS_CERT_DIR: certDir,
  });
  await waitReady(producer.handle, port);
  let next = 0;
  const requests = [
    {
      setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }),
    },
  ];
  const run = await measure('sns notifications in', producer, {
    path: '/v1/providers/ses/events',
    headers: { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': 'Notification' },
    requests,
  });
  const queued = await countAndPurge(topology.providerEventsQueue.name, run.accepted + run.warmAccepted);
  await stopAll([producer.handle]);
  return { ...run, queued };
}

async function main() {
  mkdirSync(resultsDir, { recursive: true });
  console.log(
    `feedback bench: ${settings.rounds} rounds of single POSTs x ${settings.connections} connections, ${settings.durationS} s each after ${settings.warmupS} s warm-up`,
  );
  const intake = await intakeRuns();
  const ingest = await ingestRun();
  const ratios = intake.rounds.map((r) => r.ratio);
  const sorted = [...ratios].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  return {
    settings,
    intake,
    ingest,
    checks: {
      suppressionRatio: {
        value: median,
        rounds: ratios,
        target: targets.suppressionRatio,
        met: median >= targets.suppressionRatio,
      },
      ingestPerS: { value: ingest.acceptedPerS },
      queued: { met: ingest.queued >= ingest.accepted + ingest.warmAccepted, depth: ingest.queued },
    },
  };
}

function finish(report) {
  const rows = [...report.intake.rounds.flatMap((r) => [r.empty, r.full]), report.ingest].map((r) => [
    r.label,
    fmt.int(r.acceptedPerS),
    fmt.ms(r.p50),
    fmt.ms(r.p99),
    String(r.failures),
    fmt.pct(r.cpu.server),
    fmt.pct(r.cpu.machine),
  ]);
  printTable(['run', 'per s', 'p50 ms', 'p99 ms', 'failed', 'producer cpu', 'machine cpu'], rows);
  const { checks } = report;
  console.log('');
  console.log(
    `intake, list of ${fmt.int(settings.suppressions)} / empty list (median)   ${fmt.ratio(checks.suppressionRatio.value)}   ` +
      `target >= ${targets.suppressionRatio}   (rounds: ${checks.suppressionRatio.rounds.map(fmt.ratio).join(', ')})   ${verdict(checks.suppressionRatio.met)}`,
  );
  console.log(
    `SNS notifications verified and queued per second         ${fmt.int(checks.ingestPerS.value)}   (no target)`,
  );
  console.log(
    `provider-events queue ${fmt.int(checks.queued.depth)} >= events answered 200 ${fmt.int(report.ingest.accepted + report.ingest.warmAccepted)}   ${checks.queued.met ? 'OK' : 'LOST EVENTS?'}`,
  );
  const failed = [...report.intake.rounds.flatMap((r) => [r.empty, r.full]), report.ingest].filter(
    (r) => r.failures > 0,
  );
  if (failed.length > 0)
    console.log(`FLAGGED runs (non-2xx, errors or timeouts): ${failed.map((r) => r.label).join(', ')}`);
  writeReport('feedback.json', report);
  return checks.queued.met && failed.length === 0;
}

async function cleanUp() {
  await stopAll(children);
  for (const database of databases.splice(0)) await database.drop();
  if (certDir !== undefined) rmSync(certDir, { recursive: true, force: true });
  if (!topologyTouched) return true;
  topologyTouched = false;
  return removeBenchTopology(settings.amqpUrl, topology, prefix);
}

await runBench({ main, cleanUp, finish });
