import { Holdings } from './holdings';

const KB = 1024;

describe('Holdings', () => {
  it('when bytes are unbounded, then the window is whatever the prefetch leaves', () => {
    const holdings = new Holdings(Number.POSITIVE_INFINITY, 10);
    expect(holdings.window()).toBe(10);

    holdings.add(5 * KB);
    holdings.add(5 * KB);

    expect(holdings.window()).toBe(8);
    expect(holdings.bytesExhausted()).toBe(false);
  });

  it('when bytes are bounded and no body has been seen, then the window is one', () => {
    expect(new Holdings(100 * KB, 10).window()).toBe(1);
  });

  it('when bodies have been seen, then the window is the free bytes over the largest recent body', () => {
    const holdings = new Holdings(100 * KB, 50);
    holdings.add(20 * KB);

    // 80 KB free, 20 KB per body.
    expect(holdings.window()).toBe(4);
  });

  it('when the held bodies fill the bound, then no more fit', () => {
    const holdings = new Holdings(100 * KB, 50);
    for (let i = 0; i < 5; i += 1) holdings.add(20 * KB);

    expect(holdings.window()).toBe(0);
    expect(holdings.bytesExhausted()).toBe(true);
    expect(holdings.heldBytes).toBe(100 * KB);
  });

  it('when nothing is held, then one message is taken even if it is larger than the bound', () => {
    const holdings = new Holdings(100 * KB, 50);
    holdings.add(500 * KB);
    holdings.remove(500 * KB);

    expect(holdings.window()).toBe(1);
    expect(holdings.bytesExhausted()).toBe(false);
  });

  it('when a one-message consumer learns the bodies are small, then it is restarted wider', () => {
    const holdings = new Holdings(100 * KB, 50);
    holdings.add(1 * KB);

    expect(holdings.shouldRestart(1, 1)).toBe(true);
  });

  it('when a consumer has the right window, then it is kept', () => {
    const holdings = new Holdings(100 * KB, 50);
    holdings.add(20 * KB);
    // Started with a window of 5 (100 KB / 20 KB), holding one of them.
    expect(holdings.shouldRestart(5, 1)).toBe(false);
  });

  it('when a much larger body arrives, then the consumer is restarted narrower', () => {
    const holdings = new Holdings(100 * KB, 50);
    holdings.add(1 * KB);
    holdings.add(40 * KB);

    expect(holdings.shouldRestart(50, 2)).toBe(true);
  });

  it('when messages of an earlier consumer are still held, then the current one is not restarted', () => {
    const holdings = new Holdings(100 * KB, 50);
    holdings.add(1 * KB);
    holdings.add(1 * KB);

    expect(holdings.shouldRestart(1, 1)).toBe(false);
  });
});
