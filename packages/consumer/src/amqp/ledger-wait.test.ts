import type { Logger } from '@mailer/amqp';
import { LedgerWait } from './ledger-wait';

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

interface Kept {
  readonly taken: { readonly closed: AbortSignal };
  readonly name: string;
}

const kept = (name: string, closed = new AbortController()): Kept => ({ taken: { closed: closed.signal }, name });

/** A ledger that refuses `failures` pings, then answers; `asked` counts them. */
function ledger(failures: number) {
  const state = { asked: 0 };
  const ping = () => {
    state.asked += 1;
    return state.asked <= failures ? Promise.reject(new Error('ECONNREFUSED')) : Promise.resolve();
  };
  return { state, ping };
}

describe('LedgerWait', () => {
  it('when events are kept, then it pauses, asks until the ledger answers, hands them back in order and resumes', async () => {
    const { state, ping } = ledger(2);
    const resumed: string[] = [];
    let changes = 0;
    let done: () => void = () => undefined;
    const allBack = new Promise<void>((resolve) => (done = resolve));
    const wait = new LedgerWait<Kept>({
      ping,
      retryMs: { initial: 1, max: 4 },
      logger: quiet,
      resume: (held) => {
        resumed.push(held.name);
        if (resumed.length === 2) done();
      },
      changed: () => (changes += 1),
    });

    wait.keep(kept('a'), new Error('down'));
    wait.keep(kept('b'), new Error('down'));
    expect(wait.paused).toBe(true);
    expect(wait.waiting).toBe(2);
    await allBack;

    expect(resumed).toEqual(['a', 'b']);
    expect(state.asked).toBe(3);
    expect(wait.paused).toBe(false);
    expect(wait.waiting).toBe(0);
    expect(changes).toBe(3);
  });

  it('when a kept event’s channel closes, then drop lets go of it alone', () => {
    const wait = new LedgerWait<Kept>({
      ping: () => new Promise<void>(() => undefined),
      retryMs: { initial: 1, max: 4 },
      logger: quiet,
      resume: () => undefined,
      changed: () => undefined,
    });
    const closed = new AbortController();
    wait.keep(kept('gone', closed), undefined);
    wait.keep(kept('stays'), undefined);

    closed.abort();

    expect(wait.drop().map((k) => k.name)).toEqual(['gone']);
    expect(wait.waiting).toBe(1);
    expect(wait.close().map((k) => k.name)).toEqual(['stays']);
  });

  it('when closed, then it stops asking and hands nothing back', () => {
    jest.useFakeTimers();
    const { state, ping } = ledger(0);
    const resumed: string[] = [];
    const wait = new LedgerWait<Kept>({
      ping,
      retryMs: { initial: 5, max: 5 },
      logger: quiet,
      resume: (held) => resumed.push(held.name),
      changed: () => undefined,
    });
    wait.keep(kept('a'), undefined);

    wait.close();
    // Past the first poll's time: a poll still set would ask now.
    jest.advanceTimersByTime(100);
    jest.useRealTimers();

    expect(state.asked).toBe(0);
    expect(resumed).toEqual([]);
  });
});
