import { Slots } from './slots';

/** A pending acquire whose outcome the test can look at without awaiting it. */
interface Tracked {
  outcome: boolean | undefined;
}

function track(promise: Promise<boolean>): Tracked {
  const tracked: Tracked = { outcome: undefined };
  void promise.then((granted) => {
    tracked.outcome = granted;
  });
  return tracked;
}

/** Runs due timers and lets settled promises run their callbacks. */
const settle = (ms = 0): Promise<void> => jest.advanceTimersByTimeAsync(ms);

describe('Slots', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  const inOneSecond = () => Date.now() + 1000;

  it('when slots are free, then acquire grants at once until the capacity is reached', async () => {
    const slots = new Slots(2);

    await expect(slots.acquire(inOneSecond())).resolves.toBe(true);
    await expect(slots.acquire(inOneSecond())).resolves.toBe(true);
    expect(slots.inUse).toBe(2);

    const third = track(slots.acquire(inOneSecond()));
    await settle();
    expect(third.outcome).toBeUndefined();
    expect(slots.inUse).toBe(2);
  });

  it('when a slot is released with nobody waiting, then it is free for the next acquire', async () => {
    const slots = new Slots(1);
    await slots.acquire(inOneSecond());

    slots.release();

    expect(slots.inUse).toBe(0);
    await expect(slots.acquire(inOneSecond())).resolves.toBe(true);
  });

  it('when a slot is released while several wait, then the longest waiter gets it and the count stays full', async () => {
    const slots = new Slots(1);
    await slots.acquire(inOneSecond());
    const first = track(slots.acquire(inOneSecond()));
    const second = track(slots.acquire(inOneSecond()));

    slots.release();
    await settle();

    expect(first.outcome).toBe(true);
    expect(second.outcome).toBeUndefined();
    expect(slots.inUse).toBe(1);

    slots.release();
    await settle();

    expect(second.outcome).toBe(true);
    expect(slots.inUse).toBe(1);
  });

  it('when no slot comes free before the deadline, then the waiter gives up with false at the deadline', async () => {
    const slots = new Slots(1);
    await slots.acquire(inOneSecond());
    const waiter = track(slots.acquire(Date.now() + 500));

    await settle(499);
    expect(waiter.outcome).toBeUndefined();

    await settle(1);
    expect(waiter.outcome).toBe(false);
    expect(slots.inUse).toBe(1);
  });

  it('when a waiter has given up, then a later release frees the slot instead of granting it to nobody', async () => {
    const slots = new Slots(1);
    await slots.acquire(inOneSecond());
    const gaveUp = track(slots.acquire(Date.now() + 100));
    await settle(100);

    slots.release();

    expect(gaveUp.outcome).toBe(false);
    expect(slots.inUse).toBe(0);
    await expect(slots.acquire(inOneSecond())).resolves.toBe(true);
  });

  it('when an earlier waiter gave up, then the release goes to the next waiter in line', async () => {
    const slots = new Slots(1);
    await slots.acquire(inOneSecond());
    const impatient = track(slots.acquire(Date.now() + 100));
    const patient = track(slots.acquire(Date.now() + 5000));
    await settle(100);

    slots.release();
    await settle();

    expect(impatient.outcome).toBe(false);
    expect(patient.outcome).toBe(true);
  });

  it('when a granted waiter reaches its deadline later, then it is not also refused', async () => {
    const slots = new Slots(1);
    await slots.acquire(inOneSecond());
    const waiter = track(slots.acquire(Date.now() + 100));

    slots.release();
    await settle(1000);

    expect(waiter.outcome).toBe(true);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('when the deadline has already passed and no slot is free, then acquire gives up at once', async () => {
    const slots = new Slots(1);
    await slots.acquire(inOneSecond());
    const late = track(slots.acquire(Date.now() - 1));

    await settle();

    expect(late.outcome).toBe(false);
  });
});
