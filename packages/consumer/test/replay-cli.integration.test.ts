import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { connect } from 'amqplib';
import { DEFAULT_DELIVERY_LIMIT, buildTopology } from '@mailer/contract';
import { AMQP_URL, deleteTopology, queueDepth, uniquePrefix } from '@mailer/testkit';
import { testLedger } from './support/consumer';

const replayMain = path.resolve(__dirname, '../dist/replay-main.js');

/** Runs the built replay command to its end, as `pnpm replay -- <args>` does. */
async function replay(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [replayMain, ...args], {
    env: { PATH: process.env['PATH'] ?? '', AMQP_URL, LOG_LEVEL: 'info', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

describe('the replay command line', () => {
  const prefix = uniquePrefix('replay-cli');
  const env: Record<string, string> = { AMQP_PREFIX: prefix, RETRY_DELAYS: '60s' };
  const topology = buildTopology({ prefix, retryDelaysMs: [60_000], deliveryLimit: DEFAULT_DELIVERY_LIMIT });
  const depths = async () => ({
    parked: await queueDepth(topology.deadQueue.name),
    work: await queueDepth(topology.workQueue.name),
  });

  beforeAll(async () => {
    env['DATABASE_URL'] = (await testLedger()).url;
    if (!existsSync(replayMain))
      throw new Error(`${replayMain} is missing: run "pnpm run build" first (pnpm test does)`);
    // A replay with nothing parked declares the topology and moves nothing.
    expect(await replay(['--limit', '1'], env)).toMatchObject({ code: 0 });
    const model = await connect(AMQP_URL);
    try {
      const channel = await model.createConfirmChannel();
      for (const id of ['parked-1', 'parked-2']) {
        channel.publish(topology.deadExchange.name, '', Buffer.from('{}'), { persistent: true, messageId: id });
      }
      await channel.waitForConfirms();
    } finally {
      await model.close();
    }
    expect(await depths()).toEqual({ parked: 2, work: 0 });
  });

  afterAll(async () => {
    await deleteTopology(topology);
  });

  it.each([[['--help']], [['--', '--help']], [['-h']]])(
    'when it is run with %j, then it prints the usage, exits 0 and moves nothing',
    async (args) => {
      const result = await replay(args, env);

      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^usage: pnpm replay \[-- --limit N\]\n/);
      expect(result.stdout).toContain('--limit N');
      expect(result.stderr).toBe('');
      expect(await depths()).toEqual({ parked: 2, work: 0 });
    },
  );

  it.each([
    [['--all'], "replay: Unknown option '--all'"],
    [['--', '--dry-run'], "replay: Unknown option '--dry-run'"],
    [['--limit'], "replay: Option '--limit <value>' argument missing"],
    [['--limit', '0'], 'replay: --limit must be a whole number from 1'],
    [['everything'], "replay: Unexpected argument 'everything'"],
  ])(
    'when it is run with %j, then it refuses with the usage on stderr, exits 2 and moves nothing',
    async (args, problem) => {
      const result = await replay(args, env);

      expect(result.code).toBe(2);
      expect(result.stderr.startsWith(problem)).toBe(true);
      expect(result.stderr).toContain('usage: pnpm replay');
      expect(result.stdout).toBe('');
      expect(await depths()).toEqual({ parked: 2, work: 0 });
    },
  );

  it('when it is run with --limit 1, then it moves exactly one parked email (the checks above could see a move)', async () => {
    const result = await replay(['--', '--limit', '1'], env);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain('"message":"replayed parked emails"');
    expect(await depths()).toEqual({ parked: 1, work: 1 });
  });
});
