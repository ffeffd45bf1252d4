import fc from 'fast-check';
import { advances, EMAIL_STATES, settle, type Progress } from './states';

const progress = fc.record({ state: fc.constantFrom(...EMAIL_STATES), attempt: fc.integer({ min: 0, max: 20 }) });

describe('state order', () => {
  test('when an attempt fails and the next is claimed, then each step advances', () => {
    const steps: Progress[] = [
      { state: 'queued', attempt: 0 },
      { state: 'sending', attempt: 1 },
      { state: 'retrying', attempt: 1 },
      { state: 'sending', attempt: 2 },
      { state: 'sent', attempt: 2 },
      { state: 'bounced', attempt: 2 },
    ];
    steps.slice(1).forEach((next, k) => expect(advances(steps[k]!, next)).toBe(true));
  });

  test('when a failure report of a later attempt arrives after sent, then it does not advance', () => {
    expect(advances({ state: 'sent', attempt: 1 }, { state: 'retrying', attempt: 3 })).toBe(false);
    expect(advances({ state: 'sent', attempt: 1 }, { state: 'parked', attempt: 3 })).toBe(false);
  });

  test('when the same progress arrives twice, then the second does not advance', () => {
    fc.assert(fc.property(progress, (p) => !advances(p, p)));
  });

  test('when updates arrive in any order, then the result is the same: the greatest of them', () => {
    const updatesAndShuffle = fc
      .array(progress, { minLength: 1, maxLength: 12 })
      .chain((updates) => fc.tuple(fc.constant(updates), fc.shuffledSubarray(updates, { minLength: updates.length })));
    fc.assert(
      fc.property(updatesAndShuffle, ([updates, shuffled]) => {
        expect(settle(shuffled)).toEqual(settle(updates));
      }),
    );
  });

  test('when two progresses differ, then exactly one advances over the other (a total order)', () => {
    fc.assert(
      fc.property(progress, progress, (a, b) => {
        fc.pre(a.state !== b.state || a.attempt !== b.attempt);
        expect(advances(a, b)).toBe(!advances(b, a));
      }),
    );
  });
});
