import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from 'amqplib';
import {
  DEFAULT_DELIVERY_LIMIT,
  DEFAULT_RETRY_DELAYS_MS,
  ENVELOPE_VERSION,
  buildTopology,
  encodeEnvelope,
  type Topology,
} from '@mailer/contract';
import { declareTopology } from '@mailer/amqp';
import {
  AMQP_URL,
  MIXED_PARKED,
  deleteTopology,
  drainQueue,
  queueDepth,
  publishParked,
  runService,
  uniquePrefix,
  until,
  type Service,
} from '@mailer/testkit';
import { runCaptured } from '../src/testing';

const mains = {
  cli: path.resolve(__dirname, '../dist/main.js'),
  consumer: path.resolve(__dirname, '../../consumer/dist/main.js'),
};
const REPLAYED_AT = 'x-mailer-replayed-at';

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `mailer` as its own process, stdin not a terminal (as a script runs it). */
function mailer(args: readonly string[], env: Record<string, string>): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [mains.cli, ...args],
      { env: { PATH: process.env['PATH'] ?? '', ...env } },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : (child.exitCode ?? null), stdout, stderr }),
    );
    child.stdin?.end();
  });
}

// Two tests start five or six processes (the built CLI, a consumer): one CLI start took 1.5-3.5 s
// on a busy machine (a bare node 0.35 s), and those tests 29 s and 37 s there.
jest.setTimeout(120_000);

describe('mailer dead-letters, on the broker', () => {
  let prefix: string;
  let topology: Topology;
  let env: Record<string, string>;
  let ids: Record<string, string>;

  /** Parks the emails as the consumer does: a valid envelope and its delivery history. */
  async function park(
    emails: readonly { tag: string; reason: string; kind: string; tried: string; replayedAt?: string }[],
    idOf: (tag: string) => string = (tag) => `${prefix}.${tag}`,
  ): Promise<void> {
    const model = await connect(AMQP_URL);
    try {
      await declareTopology(await model.createChannel(), topology);
    } finally {
      await model.close();
    }
    await publishParked(
      topology,
      emails.map(({ tag, reason, kind, tried, replayedAt }, index) => {
        const id = idOf(tag);
        ids[tag] = id;
        return {
          id,
          reason,
          kind,
          tried,
          attempts: 5,
          parkedAt: new Date(Date.now() - (10 - index) * 3_600_000),
          body: encodeEnvelope({
            version: ENVELOPE_VERSION,
            id,
            accepted_at: new Date().toISOString(),
            client: 'billing',
            request: {
              from: { email: 'billing@example.com' },
              to: [{ email: `${tag}@example.org` }],
              subject: tag,
              text: 'hello',
            },
          }),
          headers: replayedAt === undefined ? {} : { [REPLAYED_AT]: replayedAt },
        };
      }),
    );
  }

  const listed = async (): Promise<string[]> => {
    const { code, stdout, stderr } = await mailer(['dead-letters', 'list', '--json'], env);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    return (JSON.parse(stdout) as { id: string }[]).map(({ id }) => id);
  };

  beforeAll(() => {
    for (const main of Object.values(mains)) {
      if (!existsSync(main)) throw new Error(`${main} is missing: run "pnpm run build" first (pnpm test does)`);
    }
  });

  beforeEach(() => {
    prefix = uniquePrefix('cli-dead-letters');
    topology = buildTopology({ prefix, retryDelaysMs: DEFAULT_RETRY_DELAYS_MS, deliveryLimit: DEFAULT_DELIVERY_LIMIT });
    env = { AMQP_URL, AMQP_PREFIX: prefix, LEDGER: 'off' };
    ids = {};
  });

  afterEach(async () => {
    await deleteTopology(topology);
  });

  it('when a filtered set is replayed, then exactly those are delivered by a consumer, the others stay parked and none is lost', async () => {
    await park(MIXED_PARKED);
    const all = MIXED_PARKED.map(({ tag }) => ids[tag]);
    expect(await listed()).toEqual(all);

    const replay = await mailer(
      ['dead-letters', 'replay', '--kind', 'provider-unavailable,transient', '--rate', '50', '--json'],
      env,
    );
    expect({ code: replay.code, stderr: replay.stderr }).toEqual({ code: 0, stderr: '' });
    const moved = [ids['down-1'], ids['down-2'], ids['down-3']];
    expect(JSON.parse(replay.stdout)).toEqual({ replayed: moved, skipped_without_id: 0, kept: 3 });
    const stayed = [ids['reject-1'], ids['invalid-1'], ids['reject-2']];
    expect(await listed()).toEqual(stayed);

    // A consumer delivers what was replayed (capture: each sent email is a file named by its id).
    const captureDir = await mkdtemp(path.join(tmpdir(), 'mailer-cli-dead-letters-'));
    let consumer: Service | undefined;
    try {
      consumer = runService(mains.consumer, {
        ...env,
        PROVIDERS: 'capture',
        CAPTURE_DIR: captureDir,
        LOG_LEVEL: 'info',
      });
      const sent = consumer;
      await Promise.all(
        moved.map((id) => sent.logged((line) => line['message'] === 'email sent' && line['email_id'] === id)),
      );
      await until(async () => (await queueDepth(topology.workQueue.name)) === 0, 'the work queue is empty');
      const files = (await readdir(captureDir)).filter((name) => name.endsWith('.eml')).sort();
      expect(files).toEqual(moved.map((id) => `${id}.eml`).sort());
      // Six parked: three delivered, three still parked, in their order.
      expect(await listed()).toEqual(stayed);
      expect(files.length + stayed.length).toBe(all.length);
    } finally {
      if (consumer?.child.pid !== undefined && consumer.child.exitCode === null) {
        process.kill(consumer.child.pid, 'SIGTERM');
        await consumer.exited;
      }
      await rm(captureDir, { recursive: true, force: true });
    }
  });

  it('when a replay is given --limit 1 (as `pnpm replay -- --limit 1`), then it moves exactly the oldest', async () => {
    await park(MIXED_PARKED.slice(0, 3));
    const run = await mailer(['dead-letters', 'replay', '--limit', '1'], env);
    expect({ code: run.code, stdout: run.stdout }).toEqual({
      code: 0,
      stdout: 'replayed 1 parked email(s); 2 left parked\n',
    });
    expect((await drainQueue(topology.workQueue.name, 1)).map((m) => m.properties.messageId as string)).toEqual([
      ids['down-1'],
    ]);
    expect(await listed()).toEqual([ids['reject-1'], ids['down-2']]);
  });

  it('when a purge is answered no, nothing is deleted; answered yes, exactly the emails it listed are', async () => {
    await park(MIXED_PARKED);
    const person = (answer: string, asked: string[]) => ({
      interactive: true,
      ask: (question: string) => {
        asked.push(question);
        return Promise.resolve(answer);
      },
    });
    const asked: string[] = [];
    const no = await runCaptured(['dead-letters', 'purge', '--reason', 'recipient-rejected'], env, person('n', asked));
    expect(no.code).toBe(1);
    expect(no.stderr).toContain('purge cancelled: nothing was deleted');
    expect(no.stderr).toContain(ids['reject-1']);
    expect(asked).toEqual(['Delete these 2 parked email(s) for good? [y/N] ']);
    expect(await listed()).toHaveLength(6);

    const yes = await runCaptured(
      ['dead-letters', 'purge', '--reason', 'recipient-rejected', '--json'],
      env,
      person('yes', asked),
    );
    expect(yes.code).toBe(0);
    expect(JSON.parse(yes.stdout)).toEqual({ purged: [ids['reject-1'], ids['reject-2']], kept: 4 });
    expect(yes.stderr).toContain('[####################] 2/2 purged');
    expect(await listed()).toEqual([ids['down-1'], ids['down-2'], ids['invalid-1'], ids['down-3']]);

    // A script (no terminal) must say --yes; without it nothing is even read.
    const refused = await mailer(['dead-letters', 'purge', '--reason', 'invalid'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('give --yes');
    expect(await listed()).toHaveLength(4);
    const forced = await mailer(['dead-letters', 'purge', '--reason', 'invalid', '--yes'], env);
    expect({ code: forced.code, stdout: forced.stdout }).toEqual({ code: 0, stdout: 'purged 1 parked email(s)\n' });
    expect(await listed()).toEqual([ids['down-1'], ids['down-2'], ids['down-3']]);
    expect(await queueDepth(topology.workQueue.name)).toBe(0);
  });

  it('when a replay resumes from its journal, then a confirmed copy is not made twice, but one parked again since is', async () => {
    const started = new Date(Date.now() - 60_000);
    // "copied" was copied by the interrupted run and its parked original is still here;
    // "again" was copied by it too, delivered, failed and parked again (its copy's replayed time).
    await park([
      { tag: 'copied', reason: 'max-attempts', kind: 'transient', tried: 'smtp' },
      { tag: 'again', reason: 'max-attempts', kind: 'transient', tried: 'smtp', replayedAt: new Date().toISOString() },
      { tag: 'fresh', reason: 'max-attempts', kind: 'transient', tried: 'smtp' },
    ]);
    const dir = await mkdtemp(path.join(tmpdir(), 'mailer-cli-journal-'));
    const journal = path.join(dir, 'replay.journal');
    try {
      writeFileSync(
        journal,
        `# mailer dead-letters replay journal, started ${started.toISOString()}\n${ids['copied']}\n${ids['again']}\n`,
      );
      const run = await mailer(['dead-letters', 'replay', '--journal', journal, '--json'], env);
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      expect(JSON.parse(run.stdout)).toMatchObject({ replayed: [ids['copied'], ids['again'], ids['fresh']], kept: 0 });
      const copies = await drainQueue(topology.workQueue.name, 2);
      expect(copies.map((message) => message.properties.messageId as string)).toEqual([ids['again'], ids['fresh']]);
      expect(await queueDepth(topology.workQueue.name)).toBe(0);
      expect(await listed()).toEqual([]);
      // Completed: the journal is gone, so the next replay starts afresh.
      expect(existsSync(journal)).toBe(false);

      writeFileSync(journal, 'not a journal\n');
      const bad = await mailer(['dead-letters', 'replay', '--journal', journal], env);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('is not a replay journal');
      expect(readFileSync(journal, 'utf8')).toBe('not a journal\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('when the ledger cannot be read during a replay, then it stops with exit 1 and the email stays parked', async () => {
    // Ids the ledger would look up (UUIDs; it answers "no such email" for others without asking).
    await park(MIXED_PARKED.slice(0, 2), () => randomUUID());
    const { code, stdout, stderr } = await mailer(['dead-letters', 'replay'], {
      ...env,
      LEDGER: 'on',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:9/none',
    });
    expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
    expect(stderr).toMatch(/^mailer: stopped: .*; what was not done is still parked$/m);
    expect(await listed()).toEqual([ids['down-1'], ids['reject-1']]);
    expect(await queueDepth(topology.workQueue.name)).toBe(0);
  });

  it('when the first node of AMQP_URL is down and the next is up, then the command works on the next', async () => {
    await park(MIXED_PARKED.slice(0, 1));
    const { code, stdout, stderr } = await mailer(['dead-letters', 'list', '--json'], {
      ...env,
      AMQP_URL: `amqp://guest:guest@127.0.0.1:9,${AMQP_URL}`,
    });
    expect(code).toBe(0);
    expect(stderr).toMatch(/^mailer: warning: broker connection failed; retrying \(.*"127\.0\.0\.1:9"/);
    expect(stderr).not.toContain('guest');
    expect((JSON.parse(stdout) as { id: string }[]).map(({ id }) => id)).toEqual([ids['down-1']]);
  });

  it('when the broker cannot be reached, then the command fails at once with exit 1 and says so', async () => {
    const down = await mailer(['dead-letters', 'list'], { ...env, AMQP_URL: 'amqp://guest:guest@127.0.0.1:9' });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('RabbitMQ is not reachable at 127.0.0.1:9');
    expect(down.stderr).not.toContain('Retrying');
    expect(down.stderr).not.toContain('guest:guest');
    expect(down.stdout).toBe('');
  });
});
