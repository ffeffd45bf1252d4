import type { Logger } from '@mailer/amqp';
import { ProviderHold } from './provider-hold';

/** A kept message as the hold sees it; `channel` aborts when its channel closes. */
interface TestHeld {
  readonly id: string;
  readonly taken: { readonly closed: AbortSignal };
}

function heldOn(channel: AbortController, id: string): TestHeld {
  return { id, taken: { closed: channel.signal } };
}

function setUp(maxHoldMs = 60_000) {
  const warnings: string[] = [];
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (message) => warnings.push(message),
    error: () => undefined,
  };
  const resumed: { held: TestHeld; done: () => void }[] = [];
  let changes = 0;
  const hold = new ProviderHold<TestHeld>({
    maxHoldMs,
    logger,
    resume: (held, done) => resumed.push({ held, done }),
    changed: () => (changes += 1),
  });
  return { hold, resumed, warnings, changes: () => changes };
}

const idsOf = (resumed: { held: TestHeld }[]) => resumed.map(({ held }) => held.id);

describe('ProviderHold', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('when a message is kept, then consuming pauses until it was handed back and handled again', () => {
    const { hold, resumed, changes } = setUp();
    hold.keep(heldOn(new AbortController(), 'a'), 5_000);

    expect(hold.paused).toBe(true);
    expect(hold.holding).toBe(1);
    expect(changes()).toBe(1);

    jest.advanceTimersByTime(4_999);
    expect(resumed).toHaveLength(0);
    jest.advanceTimersByTime(1);

    expect(idsOf(resumed)).toEqual(['a']);
    expect(hold.holding).toBe(0);
    expect(hold.paused).toBe(true);

    resumed[0]?.done();

    expect(hold.paused).toBe(false);
    expect(changes()).toBe(2);
  });

  it('when a later message asks to be tried sooner, then every kept message is handed back then', () => {
    const { hold, resumed } = setUp();
    hold.keep(heldOn(new AbortController(), 'a'), 5_000);
    hold.keep(heldOn(new AbortController(), 'b'), 1_000);
    hold.keep(heldOn(new AbortController(), 'c'), 3_000);

    jest.advanceTimersByTime(1_000);

    expect(idsOf(resumed)).toEqual(['a', 'b', 'c']);
    jest.advanceTimersByTime(10_000);
    expect(resumed).toHaveLength(3);
  });

  it('when a round starts, then it is logged once, not for every message kept', () => {
    const { hold, warnings } = setUp();
    hold.keep(heldOn(new AbortController(), 'a'), 1_000);
    hold.keep(heldOn(new AbortController(), 'b'), 1_000);

    expect(warnings).toHaveLength(1);
  });

  it('when a message has been kept for the longest hold, then it may not be kept again', () => {
    const { hold } = setUp(60_000);
    const taken: { heldSince?: number } = {};

    expect(hold.mayKeep(taken)).toBe(true);
    jest.advanceTimersByTime(59_999);
    expect(hold.mayKeep(taken)).toBe(true);
    jest.advanceTimersByTime(1);

    expect(hold.mayKeep(taken)).toBe(false);
  });

  it("when a channel closes, then its messages are let go and the others' are still handed back", () => {
    const { hold, resumed } = setUp();
    const channelA = new AbortController();
    hold.keep(heldOn(channelA, 'a'), 1_000);
    hold.keep(heldOn(new AbortController(), 'b'), 1_000);

    channelA.abort();
    const dropped = hold.drop();

    expect(dropped.map(({ id }) => id)).toEqual(['a']);
    jest.advanceTimersByTime(1_000);
    expect(idsOf(resumed)).toEqual(['b']);
  });

  it('when the last kept message is let go, then consuming may resume and no wake-up is left', () => {
    const { hold, resumed } = setUp();
    const channelA = new AbortController();
    hold.keep(heldOn(channelA, 'a'), 1_000);

    channelA.abort();
    hold.drop();

    expect(hold.paused).toBe(false);
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(1_000);
    expect(resumed).toHaveLength(0);
  });

  it('when cleared (the worker stops), then nothing kept is handed back', () => {
    const { hold, resumed } = setUp();
    hold.keep(heldOn(new AbortController(), 'a'), 1_000);

    hold.clear();
    jest.advanceTimersByTime(1_000);

    expect(resumed).toHaveLength(0);
    expect(hold.paused).toBe(false);
  });
});
