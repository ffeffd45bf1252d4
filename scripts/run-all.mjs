// Runs the services with their Node flags (scripts/node-flags.mjs):
//   node scripts/run-all.mjs [producer|consumer ...] [--env-file=dev.env]
// Without names it runs both, their JSON logs prefixed by service; one service's output is passed
// through as it is. The option is passed on to each (`pnpm dev` uses dev.env). Ctrl-C or SIGTERM
// stops them cleanly; it exits when all have.
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
  return { name, child, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1))) };
});

const stop = (signal) => {
  for (const { child } of children) if (child.exitCode === null) child.kill(signal);
};
process.on('SIGINT', () => stop('SIGTERM'));
process.on('SIGTERM', () => stop('SIGTERM'));

// If one service stops by itself, stop the others too: half a pipeline is not a dev environment.
for (const { exited } of children) void exited.then(() => stop('SIGTERM'));

const codes = await Promise.all(children.map(({ exited }) => exited));
process.exit(codes.every((code) => code === 0) ? 0 : 1);
