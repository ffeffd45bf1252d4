import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_DELIVERY_LIMIT, DEFAULT_RETRY_DELAYS_MS, buildTopology } from '@mailer/contract';
import {
  AMQP_URL,
  createScratchDatabase,
  deleteTopology,
  freePort,
  uniquePrefix,
  type ScratchDatabase,
} from '@mailer/testkit';

const root = path.resolve(__dirname, '../../..');

describe('pnpm dev', () => {
  const prefix = uniquePrefix('pnpm-dev');
  let captureDir: string;
  // dev.env's `mailer` database is the developer's: another checkout's migrations may have moved
  // it on (a test run once failed on "schema version 5, which this code does not know").
  let database: ScratchDatabase;

  beforeAll(async () => {
    captureDir = await mkdtemp(path.join(tmpdir(), 'pnpm-dev-'));
    database = await createScratchDatabase('pnpm_dev');
  });

  afterAll(async () => {
    await deleteTopology(
      buildTopology({ prefix, retryDelaysMs: DEFAULT_RETRY_DELAYS_MS, deliveryLimit: DEFAULT_DELIVERY_LIMIT }),
    );
    await rm(captureDir, { recursive: true, force: true });
    await database.drop();
  });

  it('when Ctrl-C reaches its process group, then both services stop cleanly and pnpm exits 0', async () => {
    // Its own process group, as a terminal's foreground job: Ctrl-C signals every process in it.
    const dev = spawn('pnpm', ['dev'], {
      cwd: root,
      detached: true,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        AMQP_URL,
        AMQP_PREFIX: prefix,
        PORT: String(await freePort()),
        HTTP_PORT: String(await freePort()),
        CAPTURE_DIR: captureDir,
        // The environment wins over --env-file=dev.env.
        DATABASE_URL: database.url,
      },
    });
    let output = '';
    const ready = new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (output.includes('"message":"producer listening"') && output.includes('"message":"consuming"')) resolve();
      };
      dev.stdout.on('data', onData);
      dev.stderr.on('data', onData);
    });
    const closed = once(dev, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    try {
      await Promise.race([ready, closed.then(() => Promise.reject(new Error(`pnpm dev ended early:\n${output}`)))]);
      process.kill(-(dev.pid ?? 0), 'SIGINT');

      expect(await closed).toEqual([0, null]);
      expect(output).not.toContain('ELIFECYCLE');
      for (const service of ['producer', 'consumer']) {
        expect(output).toMatch(new RegExp(`${service} +\\| \\{[^\\n]*"message":"stopped"`));
      }
    } finally {
      if (dev.exitCode === null && dev.signalCode === null) process.kill(-(dev.pid ?? 0), 'SIGKILL');
    }
  });
});
