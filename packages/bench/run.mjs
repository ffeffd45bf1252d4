// `pnpm bench [-- options]`: runs the producer, ledger, end-to-end and feedback benches, each in a process
// of its own (each cleans up its own children and broker topology, also on Ctrl-C).
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { resultsDir } from './support/report.mjs';

const usage = `usage: pnpm bench [-- options]   (builds first)

Runs the producer bench, the ledger bench, the end-to-end bench, the feedback bench, then the events bench, against the local RabbitMQ
(AMQP_URL) and PostgreSQL (TEST_DATABASE_URL's server; each bench makes a database of its own
and drops it), and writes logs and figures to bench-results/. Method, knobs and figures: docs/benchmarks.md.

options:
  --short           runs of a few seconds each: checks that the bench works; figures not to quote
  --only=NAME       one bench: producer, ledger, end-to-end, feedback or events
  --cpu-prof        only the end-to-end CPU-per-email runs (consumer and baseline), the consumer
                    under node --cpu-prof; then prints where its CPU went (bench-results/profiles)
  --help            this text
`;

const benches = {
  producer: 'producer/producer.bench.mjs',
  ledger: 'ledger/batching.bench.mjs',
  'end-to-end': 'end-to-end/end-to-end.bench.mjs',
  feedback: 'feedback/feedback.bench.mjs',
  events: 'events/events.bench.mjs',
};

const options = { short: false, only: undefined, cpuProfile: false };
for (const arg of process.argv.slice(2)) {
  // `pnpm bench -- --short` passes the `--` on.
  if (arg === '--') continue;
  if (arg === '--help' || arg === '-h') {
    process.stdout.write(usage);
    process.exit(0);
  } else if (arg === '--short') {
    options.short = true;
  } else if (arg === '--cpu-prof') {
    options.cpuProfile = true;
  } else if (arg.startsWith('--only=') && arg.slice('--only='.length) in benches) {
    options.only = arg.slice('--only='.length);
  } else {
    process.stderr.write(`bench: unknown option ${arg}\n\n${usage}`);
    process.exit(2);
  }
}
if (options.cpuProfile && options.only === 'producer') {
  process.stderr.write('bench: --cpu-prof profiles the consumer, in the end-to-end bench\n');
  process.exit(2);
}

const env = { ...process.env };
if (options.short) env.BENCH_SHORT = '1';
if (options.cpuProfile) Object.assign(env, { BENCH_CPU_PROF: '1', BENCH_SCOPE: 'cost' });
const chosen = options.cpuProfile ? ['end-to-end'] : options.only ? [options.only] : Object.keys(benches);

let current;
let interrupted = false;
// Ctrl-C reaches the bench too (same process group) and it cleans up: wait for it. A SIGTERM sent
// to this process alone is passed on to the bench, by its PID.
process.on('SIGINT', () => {
  interrupted = true;
});
process.on('SIGTERM', () => {
  interrupted = true;
  if (current !== undefined) process.kill(current.pid, 'SIGTERM');
});

/** Runs `node <file> [...args]`; resolves with its exit code (or 1 after a signal). */
function run(file, args = []) {
  return new Promise((resolve) => {
    current = spawn(process.execPath, [join(import.meta.dirname, file), ...args], { env, stdio: 'inherit' });
    current.once('error', () => resolve(1));
    current.once('exit', (code) => resolve(code ?? 1));
  }).finally(() => {
    current = undefined;
  });
}

const startedAt = Date.now();
for (const name of chosen) {
  const code = await run(benches[name]);
  if (interrupted) process.exit(130);
  if (code !== 0) process.exit(code);
}

if (options.cpuProfile) {
  const dir = join(resultsDir, 'profiles');
  const fresh = readdirSync(dir)
    .filter((file) => file.endsWith('.cpuprofile'))
    .map((file) => join(dir, file))
    .filter((file) => statSync(file).mtimeMs >= startedAt);
  if (fresh.length === 0) {
    process.stderr.write(`bench: no profile written to ${dir}\n`);
    process.exit(1);
  }
  process.exit(await run('tools/cpu-profile-summary.mjs', fresh));
}
