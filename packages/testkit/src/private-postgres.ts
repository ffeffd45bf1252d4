import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/**
 * A PostgreSQL server of the test's own, on its own port and data folder, so a test can stop
 * and start it while the machine's server is left alone. initdb and pg_ctl refuse to run as
 * root: they run as the postgres user on a folder it owns.
 */
export interface PrivatePostgres {
  /** URL of its `postgres` database. */
  readonly url: string;
  start(): Promise<void>;
  /** `fast` ends sessions cleanly; `immediate` is a crash. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Stops it if running and removes its folder. */
  remove(): Promise<void>;
}

async function asPostgres(command: string): Promise<void> {
  const asRoot = process.getuid?.() === 0;
  await (asRoot ? run('su', ['postgres', '-c', command]) : run('sh', ['-c', command]));
}

/** Creates (initdb) and starts a private server. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const { stdout } = await run('pg_config', ['--bindir']);
  const bin = stdout.trim();
  const dir = mkdtempSync(join(tmpdir(), 'ledger-pg-'));
  if (process.getuid?.() === 0) {
    const { stdout: ids } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(ids.trim()), Number(gid.trim()));
  }
  const port = await freePort();
  const data = join(dir, 'data');
  await asPostgres(`${bin}/initdb -D ${data} -A trust -U postgres >${dir}/initdb.log 2>&1`);
  const ctl = `${bin}/pg_ctl -D ${data} -w -t 60`;
  const server: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: () =>
      asPostgres(`${ctl} -o '-p ${port} -k ${dir} -c listen_addresses=127.0.0.1' -l ${dir}/log start >/dev/null`),
    stop: (mode = 'fast') => asPostgres(`${ctl} -m ${mode} stop >/dev/null`),
    async remove() {
      await asPostgres(`${ctl} -m immediate stop >/dev/null 2>&1 || true`);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
