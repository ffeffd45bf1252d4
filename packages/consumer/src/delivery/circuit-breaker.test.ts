import { CircuitBreaker } from './circuit-breaker';

function circuit(threshold = 3, coolDownMs = 1000) {
  const clock = { now: 0 };
  const breaker = new CircuitBreaker({ failureThreshold: threshold, coolDownMs, now: () => clock.now });
  return { breaker, clock };
}

describe('CircuitBreaker', () => {
  it('when failures stay under the threshold, then it stays closed', () => {
    const { breaker } = circuit(3);
    breaker.recordFailure();
    breaker.recordFailure();

    expect(breaker.state).toBe('closed');
    expect(breaker.tryAcquire()).toBe(true);
  });

  it('when a success comes between failures, then the count starts again', () => {
    const { breaker } = circuit(3);
    breaker.recordFailure();
    breaker.recordFailure();
    breaker.recordSuccess();
    breaker.recordFailure();
    breaker.recordFailure();

    expect(breaker.state).toBe('closed');
  });

  it('when failures reach the threshold, then it opens and refuses sends during the cool-down', () => {
    const { breaker, clock } = circuit(3, 1000);
    for (let i = 0; i < 3; i += 1) breaker.recordFailure();

    expect(breaker.state).toBe('open');
    clock.now = 999;
    expect(breaker.tryAcquire()).toBe(false);
  });

  it('when the cool-down has passed, then exactly one probe goes through', () => {
    const { breaker, clock } = circuit(1, 1000);
    breaker.recordFailure();
    clock.now = 1000;

    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.state).toBe('half-open');
    expect(breaker.tryAcquire()).toBe(false);
  });

  it('when the probe succeeds, then it closes by itself', () => {
    const { breaker, clock } = circuit(1, 1000);
    breaker.recordFailure();
    clock.now = 1000;
    breaker.tryAcquire();
    breaker.recordSuccess();

    expect(breaker.state).toBe('closed');
    expect(breaker.tryAcquire()).toBe(true);
  });

  it('when the probe fails, then it opens again for a new cool-down', () => {
    const { breaker, clock } = circuit(5, 1000);
    breaker.open();
    clock.now = 1000;
    breaker.tryAcquire();
    breaker.recordFailure();

    expect(breaker.state).toBe('open');
    clock.now = 1999;
    expect(breaker.tryAcquire()).toBe(false);
    clock.now = 2000;
    expect(breaker.tryAcquire()).toBe(true);
  });

  it('when the provider says it cannot send at all, then open() opens it at once', () => {
    const { breaker } = circuit(5);
    breaker.open();

    expect(breaker.state).toBe('open');
    expect(breaker.tryAcquire()).toBe(false);
  });

  it('when it closes again after being open, then its close listeners are told once, and not for successes while closed', () => {
    const { breaker, clock } = circuit(5, 1000);
    const closed: string[] = [];
    breaker.onClose(() => closed.push(breaker.state));
    breaker.recordSuccess();
    expect(closed).toEqual([]);

    breaker.open();
    clock.now = 1000;
    breaker.tryAcquire();
    breaker.recordSuccess();
    breaker.recordSuccess();

    expect(closed).toEqual(['closed']);
  });
});
