import { InFlight } from './in-flight';

/** A handling the test ends when it wants. */
function gate(): { promise: Promise<void>; open: () => void; fail: () => void } {
  let open = (): void => undefined;
  let fail = (): void => undefined;
  const promise = new Promise<void>((resolve, reject) => {
    open = () => resolve();
    fail = () => reject(new Error('handling failed'));
  });
  return { promise, open, fail };
}

/** Lets settled promises run their callbacks. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('InFlight', () => {
  it('when two deliveries of one email are run, then the second starts once the first has ended', async () => {
    const inFlight = new InFlight();
    const first = gate();
    const started: string[] = [];
    inFlight.run('email-1', () => {
      started.push('first');
      return first.promise;
    });
    inFlight.run('email-1', () => {
      started.push('second');
      return Promise.resolve();
    });
    await turn();
    expect(started).toEqual(['first']);
    expect(inFlight.size).toBe(2);

    first.open();
    await turn();

    expect(started).toEqual(['first', 'second']);
    expect(inFlight.size).toBe(0);
  });

  it('when the earlier handling of an email fails, then the next one still starts', async () => {
    const inFlight = new InFlight();
    const first = gate();
    let second = false;
    inFlight.run('email-1', () => first.promise);
    inFlight.run('email-1', () => {
      second = true;
      return Promise.resolve();
    });

    first.fail();
    await turn();

    expect(second).toBe(true);
  });

  it('when deliveries of different emails (or without an id) are run, then they run at once', async () => {
    const inFlight = new InFlight();
    const held = gate();
    const started: string[] = [];
    for (const id of ['email-1', 'email-2', undefined]) {
      inFlight.run(id, () => {
        started.push(String(id));
        return held.promise;
      });
    }
    await turn();

    expect(started).toEqual(['email-1', 'email-2', 'undefined']);
    expect(inFlight.size).toBe(3);
    held.open();
  });

  it('when a tracked handling ends, then it is no longer counted and its end is told', async () => {
    const inFlight = new InFlight();
    const held = gate();
    let ended = false;
    inFlight.track(
      () => held.promise,
      () => {
        ended = true;
      },
    );
    expect(inFlight.size).toBe(1);

    held.open();
    await turn();

    expect(inFlight.size).toBe(0);
    expect(ended).toBe(true);
  });

  describe('drain', () => {
    beforeEach(() => {
      jest.useFakeTimers();
    });

    afterEach(() => {
      jest.useRealTimers();
    });

    it('when the handlings end within the time, then it resolves as they end', async () => {
      const inFlight = new InFlight();
      const held = gate();
      inFlight.track(() => held.promise);
      let drained = false;
      void inFlight.drain(10_000).then(() => {
        drained = true;
      });
      await jest.advanceTimersByTimeAsync(0);
      expect(drained).toBe(false);

      held.open();
      await jest.advanceTimersByTimeAsync(0);

      expect(drained).toBe(true);
    });

    it('when a handling outlasts the time, then it resolves at the time all the same', async () => {
      const inFlight = new InFlight();
      inFlight.track(() => gate().promise);
      let drained = false;
      void inFlight.drain(10_000).then(() => {
        drained = true;
      });

      await jest.advanceTimersByTimeAsync(9_999);
      expect(drained).toBe(false);
      await jest.advanceTimersByTimeAsync(1);

      expect(drained).toBe(true);
      expect(inFlight.size).toBe(1);
    });
  });
});
