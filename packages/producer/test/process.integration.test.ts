import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import path from 'node:path';
import { connect } from 'amqplib';
import { DEFAULT_DELIVERY_LIMIT, DEFAULT_RETRY_DELAYS_MS, buildTopology } from '@mailer/contract';
import { readMigrations } from '@mailer/ledger';
import {
  AMQP_URL,
  createScratchDatabase,
  deleteTopology,
  drainQueue,
  freePort,
  TEST_RECIPIENT_HASH_SECRET,
  uniquePrefix,
} from '@mailer/testkit';
import { useScratchLedger } from './support/ledger';
import { TEST_KEY, testApiKeys, validEmail } from './support/producer';

const main = path.resolve(__dirname, '../dist/main.js');

const apiKeysEnv = JSON.stringify(
  testApiKeys.map((key) => ({ name: key.name, key_sha256: key.keyHash.toString('hex'), senders: key.senders })),
);

interface Running {
  readonly child: ChildProcessWithoutNullStreams;
  readonly output: () => string;
  /** Resolves with the first log line whose message is `message`. */
  readonly logged: (message: string) => Promise<Record<string, unknown>>;
  readonly exited: Promise<number | null>;
}

const scratch = useScratchLedger('process');

/** Runs the built producer as its own process, as `pnpm start` would, on the file's ledger. */
function runProducer(env: Record<string, string>): Running {
  const child = spawn(process.execPath, [main], {
    env: {
      PATH: process.env['PATH'] ?? '',
      AMQP_URL,
      LOG_LEVEL: 'info',
      DATABASE_URL: scratch.current().database.url,
      RECIPIENT_HASH_SECRET: TEST_RECIPIENT_HASH_SECRET,
      ...env,
    },
  });
  let output = '';
  const waiters: { message: string; resolve: (line: Record<string, unknown>) => void }[] = [];
  const lines = (): Record<string, unknown>[] =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{') && line.endsWith('}'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const onData = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const line of lines()) {
      for (const waiter of waiters.filter((w) => w.message === line['message'])) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = once(child, 'close').then(([code]) => code as number | null);
  return {
    child,
    output: () => output,
    exited,
    logged: (message) =>
      new Promise((resolve, reject) => {
        const already = lines().find((line) => line['message'] === message);
        if (already !== undefined) {
          resolve(already);
          return;
        }
        waiters.push({ message, resolve });
        void exited.then(() => reject(new Error(`exited before logging "${message}":\n${output}`)));
      }),
  };
}

interface PendingRequest {
  /** Resolves when the server answered "100 Continue": it is handling the request. */
  readonly continued: Promise<void>;
  /** Sends the body and resolves with the response. */
  readonly finish: () => Promise<{ status: number; body: string }>;
}

function startRequest(port: number, body: string): PendingRequest {
  const req = httpRequest({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/v1/emails',
    headers: {
      authorization: `Bearer ${TEST_KEY}`,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      expect: '100-continue',
      connection: 'close',
    },
  });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
  });
  const continued = once(req, 'continue').then(() => undefined);
  req.flushHeaders();
  return {
    continued,
    finish: () => {
      req.end(body);
      return response;
    },
  };
}

/** The topology the producer declares with default settings. */
const defaultTopology = (prefix: string) =>
  buildTopology({ prefix, retryDelaysMs: DEFAULT_RETRY_DELAYS_MS, deliveryLimit: DEFAULT_DELIVERY_LIMIT });

const started: Running[] = [];

afterEach(() => {
  for (const running of started.splice(0)) {
    if (running.child.exitCode === null && running.child.pid !== undefined) process.kill(running.child.pid, 'SIGKILL');
  }
});

beforeAll(() => {
  if (!existsSync(main)) throw new Error(`${main} is missing: run "pnpm run build" first (pnpm test does)`);
});

describe('the producer process', () => {
  it('when several settings are wrong, then it names every problem and exits 2', async () => {
    const running = runProducer({ PORT: 'eighty', API_KEYS: '[]', PUBLISH_TIMEOUT: '-1' });
    started.push(running);

    expect(await running.exited).toBe(2);
    expect(running.output()).toContain('PORT must be a whole number');
    expect(running.output()).toContain('API_KEYS must be a non-empty JSON list');
    expect(running.output()).toContain('PUBLISH_TIMEOUT must be a duration');
  });

  it('when MIGRATE_ON_START=true on an empty database, then it migrates at start-up and records what it accepts', async () => {
    const empty = await createScratchDatabase('producer_migrate');
    const prefix = uniquePrefix('migrate');
    const port = await freePort();
    const running = runProducer({
      PORT: String(port),
      API_KEYS: apiKeysEnv,
      AMQP_PREFIX: prefix,
      DATABASE_URL: empty.url,
      MIGRATE_ON_START: 'true',
    });
    // Stopped below, before its database is dropped.
    try {
      const migrated = await running.logged('ledger schema migrated');
      await running.logged('broker connected');
      await running.logged('producer listening');
      const response = await fetch(`http://127.0.0.1:${port}/v1/emails`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(validEmail()),
      });
      const { id } = (await response.json()) as { id: string };
      const shown = await fetch(`http://127.0.0.1:${port}/v1/emails/${id}`, {
        headers: { authorization: `Bearer ${TEST_KEY}` },
      });

      expect(migrated['applied']).toEqual(readMigrations().map((migration) => migration.version));
      expect(response.status).toBe(202);
      expect(((await shown.json()) as { status: string }).status).toBe('queued');
      await drainQueue(`${prefix}.work`, 1);
    } finally {
      if (running.child.pid !== undefined) process.kill(running.child.pid, 'SIGKILL');
      await running.exited;
      await empty.drop();
      await deleteTopology(defaultTopology(prefix));
    }
  });

  it('when MIGRATE_ON_START=true and PostgreSQL cannot be reached, then it says so in one error line and exits 1', async () => {
    const running = runProducer({
      PORT: String(await freePort()),
      API_KEYS: apiKeysEnv,
      AMQP_PREFIX: uniquePrefix('migrate-unreachable'),
      DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/mailer`,
      MIGRATE_ON_START: 'true',
    });
    started.push(running);

    const stopping = await running.logged(
      'stopping: MIGRATE_ON_START=true and PostgreSQL is not reachable (check DATABASE_URL)',
    );
    expect(await running.exited).toBe(1);
    expect(stopping['level']).toBe('error');
    expect(stopping['error']).toContain('ECONNREFUSED');
  });

  it('when a queue exists with other arguments, then start-up stops with a clear message', async () => {
    const prefix = uniquePrefix('mismatch');
    const model = await connect(AMQP_URL);
    const channel = await model.createChannel();
    await channel.assertQueue(`${prefix}.work`, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await model.close();
    try {
      const running = runProducer({ PORT: String(await freePort()), API_KEYS: apiKeysEnv, AMQP_PREFIX: prefix });
      started.push(running);

      expect(await running.exited).toBe(1);
      expect(running.output()).toContain(`queue \\"${prefix}.work\\" already exists with other arguments`);
    } finally {
      await deleteTopology(defaultTopology(prefix));
    }
  });

  it('when SIGTERM arrives during requests, then in-flight requests finish with 202 and it exits 0', async () => {
    const prefix = uniquePrefix('sigterm');
    const port = await freePort();
    const running = runProducer({ PORT: String(port), API_KEYS: apiKeysEnv, AMQP_PREFIX: prefix });
    started.push(running);
    try {
      await running.logged('broker connected');
      await running.logged('producer listening');
      // Each request sends its headers, and the server's "100 Continue" proves it is being handled;
      // the body follows only after SIGTERM, so these requests are truly in flight at shutdown.
      const inFlight = Array.from({ length: 20 }, () => startRequest(port, JSON.stringify(validEmail())));
      await Promise.all(inFlight.map((r) => r.continued));
      const stopping = running.logged('shutting down');
      running.child.kill('SIGTERM');
      await stopping;

      const responses = await Promise.all(inFlight.map((r) => r.finish()));
      expect(responses.map((r) => r.status)).toEqual(Array.from({ length: 20 }, () => 202));
      expect(await running.exited).toBe(0);
      expect(running.output()).toContain('"message":"stopped"');
      const ids = responses.map((r) => (JSON.parse(r.body) as { id: string }).id);
      const queued = await drainQueue(`${prefix}.work`, 20);
      expect(queued.map((m) => String(m.properties.messageId)).sort()).toEqual(ids.sort());
      // Recorded too: the pool closed only after the server drained.
      const rows = await scratch
        .current()
        .rows<{ n: number }>('SELECT count(*)::int AS n FROM emails WHERE id = ANY($1)', [ids]);
      expect(rows).toEqual([{ n: 20 }]);
    } finally {
      await deleteTopology(defaultTopology(prefix));
    }
  });

  it('when SIGTERM arrives under keep-alive load, then no request sent after it gets 202, every 202 is queued, and it exits 0 within the bound', async () => {
    const prefix = uniquePrefix('sigterm-keepalive');
    const port = await freePort();
    const shutdownTimeoutMs = 20_000;
    const running = runProducer({
      PORT: String(port),
      API_KEYS: apiKeysEnv,
      AMQP_PREFIX: prefix,
      SHUTDOWN_TIMEOUT: `${shutdownTimeoutMs}ms`,
    });
    started.push(running);
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    try {
      await running.logged('broker connected');
      await running.logged('producer listening');
      const body = JSON.stringify(validEmail());
      const state = { signalled: false, exited: false, signalledAt: 0 };
      void running.exited.then(() => (state.exited = true));
      interface Outcome {
        readonly sentAfterSignal: boolean;
        readonly reusedSocket: boolean;
        readonly status?: number;
        readonly connection?: string;
        readonly json?: { id?: string; type?: string };
      }
      const outcomes: Outcome[] = [];
      const send = () =>
        new Promise<Outcome>((resolve) => {
          const sentAfterSignal = state.signalled;
          const req = httpRequest({
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/v1/emails',
            agent,
            headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
          });
          req.on('error', () => resolve({ sentAfterSignal, reusedSocket: req.reusedSocket }));
          req.on('response', (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (text += chunk));
            res.on('end', () =>
              resolve({
                sentAfterSignal,
                reusedSocket: req.reusedSocket,
                status: res.statusCode ?? 0,
                ...(res.headers.connection === undefined ? {} : { connection: res.headers.connection }),
                json: JSON.parse(text) as { id?: string; type?: string },
              }),
            );
          });
          req.end(body);
        });
      // Load keeps going until the process is gone: shutdown must not wait for it to stop.
      const worker = async () => {
        while (!state.exited) outcomes.push(await send());
      };
      const workers = Array.from({ length: 8 }, () => worker());
      while (outcomes.filter((o) => o.status === 202).length < 200) await new Promise((r) => setImmediate(r));

      const stopping = running.logged('shutting down');
      const signalSentAt = Date.now();
      running.child.kill('SIGTERM');
      await stopping;
      state.signalled = true;
      const code = await running.exited;
      // The bound is the configured shutdown timeout, after which connections are cut.
      const exitedAfterMs = Date.now() - signalSentAt;
      await Promise.all(workers);

      expect(code).toBe(0);
      expect(exitedAfterMs).toBeLessThan(shutdownTimeoutMs);
      const before = outcomes.filter((o) => !o.sentAfterSignal);
      const after = outcomes.filter((o) => o.sentAfterSignal);
      expect(before.some((o) => o.reusedSocket)).toBe(true);
      expect(after.length).toBeGreaterThan(0);
      expect(after.filter((o) => o.status === 202)).toEqual([]);
      for (const refused of after.filter((o) => o.status !== undefined)) {
        expect(refused).toMatchObject({ status: 503, connection: 'close', json: { type: '/problems/not-ready' } });
      }
      const accepted = outcomes.filter((o) => o.status === 202).map((o) => String(o.json?.id));
      process.stdout.write(
        `keep-alive shutdown: ${before.length} sent before the signal was seen (${accepted.length} got 202), ` +
          `${after.length} after (${after.filter((o) => o.status === 503).length} got 503, ` +
          `${after.filter((o) => o.status === undefined).length} found the connection closed); exit after ${exitedAfterMs} ms\n`,
      );
      const queued = await drainQueue(`${prefix}.work`, accepted.length);
      expect(queued.map((m) => String(m.properties.messageId)).sort()).toEqual(accepted.sort());
    } finally {
      agent.destroy();
      await deleteTopology(defaultTopology(prefix));
    }
  });
});
