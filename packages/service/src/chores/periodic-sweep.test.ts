import type { Logger } from '../log/logger';
import { PeriodicSweep, type PeriodicSweepOptions } from './periodic-sweep';

const purge = { task: 'purge expired idempotency keys', result: 'expired idempotency keys purged' };

/** A sweep of expired keys, as the producer makes it. */
const keyPurge = (
  options: Omit<PeriodicSweepOptions, 'task' | 'result' | 'sweep'> & { purge: PeriodicSweepOptions['sweep'] },
) => new PeriodicSweep({ ...purge, ...options, sweep: options.purge });

/** A logger that keeps the lines at info and above (pure logic: no transport to wait for). */
function logged() {
  const lines: { level: string; message: string }[] = [];
  const keep = (level: string) => (message: string) => lines.push({ level, message });
  const logger: Logger = { debug: () => undefined, info: keep('info'), warn: keep('warn'), error: keep('error') };
  return { logger, lines };
}

describe('PeriodicSweep', () => {
  it('when a round is full, then it purges again until one is not, within maxRounds', async () => {
    const rounds = [3, 3, 1, 3];
    const { logger } = logged();
    const purger = keyPurge({ purge: () => Promise.resolve(rounds.shift() ?? 0), logger, limit: 3 });

    expect(await purger.tick()).toBe(7);
    expect(rounds).toEqual([3]);
  });

  it('when every round is full, then it stops at maxRounds and goes on at the next tick', async () => {
    const { logger } = logged();
    let calls = 0;
    const purger = keyPurge({ purge: () => Promise.resolve((calls++, 5)), logger, limit: 5, maxRounds: 2 });

    expect(await purger.tick()).toBe(10);
    expect(calls).toBe(2);
  });

  it('when the ledger is out of reach, then it warns once per run of failures and says when it works again', async () => {
    const { logger, lines } = logged();
    let down = true;
    const purger = keyPurge({
      purge: () => (down ? Promise.reject(new Error('connect ECONNREFUSED')) : Promise.resolve(0)),
      logger,
    });

    await purger.tick();
    await purger.tick();
    down = false;
    await purger.tick();

    expect(lines.map((line) => [line.level, line.message])).toEqual([
      ['warn', 'could not purge expired idempotency keys; trying again later'],
      ['info', 'expired idempotency keys purged again'],
    ]);
  });

  it('when a sweep announces and does something, then it says so at info with the count; a purge only at debug', async () => {
    const { logger, lines } = logged();
    const abandon = new PeriodicSweep({
      task: 'mark stale queued emails abandoned',
      result: 'stale queued emails marked abandoned',
      sweep: () => Promise.resolve(2),
      logger,
      announce: true,
    });
    await abandon.tick();
    await keyPurge({ purge: () => Promise.resolve(2), logger }).tick();

    expect(lines).toEqual([{ level: 'info', message: 'stale queued emails marked abandoned' }]);
  });

  it('when a tick is under way, then another does not start beside it and stop waits for it', async () => {
    const { logger } = logged();
    let release: (n: number) => void = () => undefined;
    let calls = 0;
    const purger = keyPurge({
      purge: () => (calls++, new Promise<number>((resolve) => (release = resolve))),
      logger,
    });

    const first = purger.tick();
    expect(await purger.tick()).toBe(0);
    const stopped = purger.stop();
    release(0);
    await Promise.all([first, stopped]);
    expect(calls).toBe(1);
  });
});
