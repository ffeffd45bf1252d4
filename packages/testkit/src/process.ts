import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

/** A service started by {@link runService}. */
export interface Service {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<number | null>;
  /** Everything it wrote to stdout and stderr so far. */
  readonly output: () => string;
  /** Resolves with the first JSON log line matching `match`. */
  readonly logged: (match: (line: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>;
}

/**
 * The recipient hash secret every service a test starts gets unless its `env` names another
 * (`RECIPIENT_HASH_SECRET` is required with the ledger on). A test value: never use it elsewhere.
 */
export const TEST_RECIPIENT_HASH_SECRET = 'test-recipient-hash-secret-not-for-production';

/**
 * Runs a built service (`dist/main.js`) as its own process, as `pnpm start` does. The consumer's
 * HTTP port is any free one (`HTTP_PORT=0`) unless `env` names one: test processes run side by side.
 * The recipient hash secret is {@link TEST_RECIPIENT_HASH_SECRET} unless `env` names one.
 */
export function runService(main: string, env: Record<string, string>): Service {
  const child = spawn(process.execPath, [main], {
    env: {
      PATH: process.env['PATH'] ?? '',
      HTTP_PORT: '0',
      RECIPIENT_HASH_SECRET: TEST_RECIPIENT_HASH_SECRET,
      ...env,
    },
  });
  let output = '';
  const lines = () =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{') && line.endsWith('}'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const wake of [...waiters]) wake();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = once(child, 'close').then(([code]) => code as number | null);
  return {
    child,
    exited,
    output: () => output,
    logged: (match) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = lines().find(match);
          if (found === undefined) return;
          waiters.delete(check);
          resolve(found);
        };
        waiters.add(check);
        check();
        void exited.then(() => reject(new Error(`exited before the expected log line:\n${output}`)));
      }),
  };
}

/** A TCP port free on loopback right now. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/**
 * Stops each service still running with SIGKILL, by its pid, and resolves once every one has
 * exited: what a test's clean-up does with the services it started.
 */
export async function killServices(services: readonly Service[]): Promise<void> {
  for (const service of services) {
    if (service.child.exitCode === null && service.child.signalCode === null && service.child.pid !== undefined)
      process.kill(service.child.pid, 'SIGKILL');
  }
  await Promise.all(services.map((service) => service.exited));
}
