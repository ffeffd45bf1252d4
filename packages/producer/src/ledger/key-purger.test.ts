import type { Logger } from '@mailer/service';
import { KeyPurger } from './key-purger';

/** A logger that keeps the lines at info and above (pure logic: no transport to wait for). */
function logged() {
  const lines: { level: string; message: string }[] = [];
  const keep = (level: string) => (message: string) => lines.push({ level, message });
  const logger: Logger = { debug: () => undefined, info: keep('info'), warn: keep('warn'), error: keep('error') };
  return { logger, lines };
}

describe('KeyPurger', () => {
  it('when a round is full, then it purges again until one is not, within maxRounds', async () => {
    const rounds = [3, 3, 1, 3];
    const { logger } = logged();
    const purger = new KeyPurger({ purge: () => Promise.resolve(rounds.shift() ?? 0), logger, limit: 3 });

    expect(await purger.tick()).toBe(7);
    expect(rounds).toEqual([3]);
  });

  it('when every round is full, then it stops at maxRounds and goes on at the next tick', async () => {
    const { logger } = logged();
    let calls = 0;
    const purger = new KeyPurger({ purge: () => Promise.resolve((calls++, 5)), logger, limit: 5, maxRounds: 2 });

    expect(await purger.tick()).toBe(10);
    expect(calls).toBe(2);
  });

  it('when the ledger is out of reach, then it warns once per run of failures and says when it works again', async () => {
    const { logger, lines } = logged();
    let down = true;
    const purger = new KeyPurger({
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

  it('when a tick is under way, then another does not start beside it and stop waits for it', async () => {
    const { logger } = logged();
    let release: (n: number) => void = () => undefined;
    let calls = 0;
    const purger = new KeyPurger({
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
