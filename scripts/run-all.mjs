// Runs the producer and the consumer together, their JSON logs prefixed by service:
//   node scripts/run-all.mjs [--env-file=dev.env]
// The option is passed on to both (`pnpm dev` uses dev.env). Ctrl-C or SIGTERM stops both
// cleanly; it exits when both have.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const services = {
  producer: 'packages/producer/dist/main.js',
  consumer: 'packages/consumer/dist/main.js',
};

const nodeOptions = process.argv.slice(2).filter((arg) => arg.startsWith('--env-file='));

const children = Object.entries(services).map(([name, main]) => {
  const child = spawn(process.execPath, [...nodeOptions, main], { stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${name.padEnd(8)} | ${line}\n`));
  }
  return { name, child, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1))) };
});

const stop = (signal) => {
  for (const { child } of children) if (child.exitCode === null) child.kill(signal);
};
process.on('SIGINT', () => stop('SIGTERM'));
process.on('SIGTERM', () => stop('SIGTERM'));

// If one service stops by itself, stop the other too: half a pipeline is not a dev environment.
for (const { exited } of children) void exited.then(() => stop('SIGTERM'));

const codes = await Promise.all(children.map(({ exited }) => exited));
process.exit(codes.every((code) => code === 0) ? 0 : 1);
