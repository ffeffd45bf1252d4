import { inFlightRetryAfterSeconds } from './problems';
import { idsOfAnswer } from './routes/emails';

describe('inFlightRetryAfterSeconds', () => {
  it.each([
    [0, 1],
    [1, 1],
    [1000, 1],
    [1001, 2],
    [59_000, 2],
  ])('when the key goes stale in %p ms, then Retry-After is %p', (staleInMs, seconds) => {
    expect(inFlightRetryAfterSeconds(staleInMs)).toBe(seconds);
  });
});

describe('idsOfAnswer', () => {
  it('when a stored answer is replayed, then its ids are found for one email and for a batch', () => {
    expect(idsOfAnswer({ id: 'a', status: 'queued' })).toEqual(['a']);
    expect(
      idsOfAnswer({
        items: [
          { index: 0, id: 'a', status: 'queued' },
          { index: 1, id: 'b', status: 'queued' },
        ],
      }),
    ).toEqual(['a', 'b']);
    expect(idsOfAnswer(null)).toEqual([]);
    expect(idsOfAnswer({ items: [null, 7] })).toEqual([]);
  });
});
