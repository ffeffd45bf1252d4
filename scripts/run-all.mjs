// Runs the services with their Node flags (scripts/node-flags.mjs):
//   node scripts/run-all.mjs [producer|consumer ...] [--env-file=dev.env]
// Without names it runs both, their JSON logs prefixed by service; one service's output is passed
// through as it is. The option is passed on to each (`pnpm dev` uses dev.env). Ctrl-C or SIGTERM
// stops them cleanly; it exits when all have: 0 if each exited 0 or, once asked to stop, by the
// signal it was sent; 1 otherwise. The package.json scripts `exec` this file, so pnpm sees that
// code itself: a shell between them would turn Ctrl-C into pnpm's "Command failed".
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { nodeFlags } from './node-flags.mjs';

const services = {
  producer: 'packages/producer/dist/main.js',
  consumer: 'packages/consumer/dist/main.js',
};

const args = process.argv.slice(2);
const envFiles = args.filter((arg) => arg.startsWith('--env-file='));
const names = args.filter((arg) => !arg.startsWith('--'));
const unknown = names.filter((name) => !(name in services));
if (unknown.length > 0) {
  process.stderr.write(`run-all: unknown service ${unknown.join(', ')}; use ${Object.keys(services).join(', ')}\n`);
  process.exit(2);
}
const chosen = names.length > 0 ? names : Object.keys(services);

/** Set once the services are asked to stop (Ctrl-C, SIGTERM, or one of them ended). */
let stopping = false;

const children = chosen.map((name) => {
  // One service's output is passed through as it is; several get their lines prefixed.
  const prefixed = chosen.length > 1;
  const child = spawn(process.execPath, [...nodeFlags[name], ...envFiles, services[name]], {
    stdio: ['ignore', prefixed ? 'pipe' : 'inherit', prefixed ? 'pipe' : 'inherit'],
  });
  if (prefixed) {
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${name.padEnd(8)} | ${line}\n`));
    }
  }
  // 'close' rather than 'exit': the last lines it wrote are passed on before this exits.
  const exited = new Promise((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, asked: stopping })),
  );
  return { name, child, exited };
});
const stop = (signal) => {
  stopping = true;
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill(signal);
};
// Ctrl-C reaches the services from the terminal too (one process group); they stop on either.
process.on('SIGINT', () => stop('SIGTERM'));
process.on('SIGTERM', () => stop('SIGTERM'));

// If one service stops by itself, stop the others too: half a pipeline is not a dev environment.
for (const { exited } of children) void exited.then(() => stop('SIGTERM'));

/** A clean end: exit 0, or death by the stop signal after it was asked to stop. */
const clean = ({ code, signal, asked }) => code === 0 || (asked && (signal === 'SIGTERM' || signal === 'SIGINT'));

const results = await Promise.all(children.map(({ exited }) => exited));
process.exit(results.every(clean) ? 0 : 1);
