import { EndpointSlots } from './endpoint-slots';

describe('EndpointSlots', () => {
  let clock = 0;
  const now = () => clock;
  const live = () => new AbortController().signal;

  beforeEach(() => {
    clock = 0;
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('when an endpoint is under its bound, then each delivery goes at once; other endpoints are not counted', async () => {
    const slots = new EndpointSlots(2, 1000, now);
    expect(await slots.acquire('a', live())).toBeInstanceOf(Function);
    expect(await slots.acquire('a', live())).toBeInstanceOf(Function);
    expect(await slots.acquire('b', live())).toBeInstanceOf(Function);
    expect(slots.inFlight('a')).toBe(2);
    expect(slots.inFlight('b')).toBe(1);
  });

  it('when a request finishes while a delivery waits, then the waiter gets its slot before any newcomer', async () => {
    const slots = new EndpointSlots(1, 1000, now);
    const first = await slots.acquire('a', live());
    const waiting = slots.acquire('a', live());
    first?.();
    // The slot was taken for the waiter when it was freed: a newcomer finds the bound reached.
    expect(slots.inFlight('a')).toBe(1);
    const newcomer = slots.acquire('a', live());
    const second = await waiting;
    expect(second).toBeInstanceOf(Function);
    second?.();
    expect(await newcomer).toBeInstanceOf(Function);
  });

  it('when a delivery waited the hold time without a slot, then it is told to go to the wait queue', async () => {
    const slots = new EndpointSlots(1, 1000, now);
    await slots.acquire('a', live());
    const waiting = slots.acquire('a', live());
    jest.advanceTimersByTime(1000);
    expect(await waiting).toBeUndefined();
    expect(slots.inFlight('a')).toBe(1);
  });

  it('when the oldest request in flight started over the hold time ago, then a new delivery goes to the wait queue at once', async () => {
    const slots = new EndpointSlots(1, 1000, now);
    await slots.acquire('a', live());
    clock = 1001;
    expect(await slots.acquire('a', live())).toBeUndefined();
  });

  it('when the channel of a waiting delivery closes, then it stops waiting and the slot stays free for the others', async () => {
    const slots = new EndpointSlots(1, 1000, now);
    const first = await slots.acquire('a', live());
    const closing = new AbortController();
    const waiting = slots.acquire('a', closing.signal);
    closing.abort();
    expect(await waiting).toBeUndefined();
    first?.();
    expect(slots.inFlight('a')).toBe(0);
    expect(await slots.acquire('a', live())).toBeInstanceOf(Function);
  });

  it('when a release is called twice, then it frees one slot only', async () => {
    const slots = new EndpointSlots(2, 1000, now);
    const first = await slots.acquire('a', live());
    await slots.acquire('a', live());
    first?.();
    first?.();
    expect(slots.inFlight('a')).toBe(1);
  });
});
