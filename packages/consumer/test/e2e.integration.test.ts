import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_DELIVERY_LIMIT, DEFAULT_RETRY_DELAYS_MS, buildTopology } from '@mailer/contract';
import { AMQP_URL, deleteTopology, uniquePrefix } from '@mailer/testkit';
import { parseMime } from './support/conformance';

const mains = {
  producer: path.resolve(__dirname, '../../producer/dist/main.js'),
  consumer: path.resolve(__dirname, '../dist/main.js'),
};

const KEY = 'e2e-key-0123456789';

interface Service {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<number | null>;
  /** Resolves with the first JSON log line matching `match`. */
  readonly logged: (match: (line: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>;
}

/** Runs a built service as its own process, as `pnpm start` does. */
function run(main: string, env: Record<string, string>): Service {
  const child = spawn(process.execPath, [main], { env: { PATH: process.env['PATH'] ?? '', ...env } });
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
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    exited,
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

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

describe('producer and consumer, as processes', () => {
  const prefix = uniquePrefix('e2e');
  const services: Service[] = [];
  let captureDir: string;

  beforeAll(async () => {
    for (const main of Object.values(mains)) {
      if (!existsSync(main)) throw new Error(`${main} is missing: run "pnpm run build" first (pnpm test does)`);
    }
    captureDir = await mkdtemp(path.join(tmpdir(), 'mailer-e2e-'));
  });

  afterAll(async () => {
    for (const service of services) {
      if (service.child.exitCode === null && service.child.pid !== undefined)
        process.kill(service.child.pid, 'SIGKILL');
    }
    await rm(captureDir, { recursive: true, force: true });
    await deleteTopology(
      buildTopology({ prefix, retryDelaysMs: DEFAULT_RETRY_DELAYS_MS, deliveryLimit: DEFAULT_DELIVERY_LIMIT }),
    );
  });

  it('when an email is POSTed, then the capture provider writes it as .eml with the same subject and recipients, and both stop cleanly', async () => {
    const port = await freePort();
    const common = { AMQP_URL, AMQP_PREFIX: prefix, LOG_LEVEL: 'info' };
    const apiKeys = JSON.stringify([
      { name: 'e2e', key_sha256: createHash('sha256').update(KEY).digest('hex'), senders: ['example.com'] },
    ]);
    const producer = run(mains.producer, { ...common, PORT: String(port), API_KEYS: apiKeys });
    const consumer = run(mains.consumer, { ...common, CAPTURE_DIR: captureDir });
    services.push(producer, consumer);
    await producer.logged((line) => line['message'] === 'broker connected');
    await consumer.logged((line) => line['message'] === 'consuming');

    const response = await fetch(`http://127.0.0.1:${port}/v1/emails`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        from: { email: 'receipts@example.com', name: 'Receipts' },
        to: [{ email: 'ann@example.org' }, { email: 'bob@example.org' }],
        cc: [{ email: 'carol@example.org' }],
        subject: 'Your receipt #1234',
        text: 'Thanks!',
      }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };

    const captured = await consumer.logged((line) => line['message'] === 'email captured' && line['email_id'] === id);
    const mime = await parseMime(await readFile(String(captured['file'])), []);
    expect(mime.subject).toBe('Your receipt #1234');
    expect(mime.to).toEqual(['ann@example.org', 'bob@example.org']);
    expect(mime.cc).toEqual(['carol@example.org']);
    expect(mime.headers['x-mailer-email-id']).toBe(id);

    producer.child.kill('SIGTERM');
    consumer.child.kill('SIGTERM');
    expect(await producer.exited).toBe(0);
    expect(await consumer.exited).toBe(0);
  });
});
