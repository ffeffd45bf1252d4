import { combineReadiness } from './health';

describe('combineReadiness', () => {
  it('when every part is ready, then the whole is ready', () => {
    expect(combineReadiness([{ ready: true }, { ready: true }])).toEqual({ ready: true });
  });

  it('when the ledger is down, then the whole is not ready and says why', () => {
    expect(combineReadiness([{ ready: true }, { ready: false, reason: 'ledger-unavailable' }])).toEqual({
      ready: false,
      reason: 'ledger-unavailable',
    });
  });

  it('when the broker and the ledger are both down, then both reasons are given, broker first', () => {
    expect(
      combineReadiness([
        { ready: false, reason: 'not connected to the broker' },
        { ready: false, reason: 'ledger-unavailable' },
      ]),
    ).toEqual({ ready: false, reason: 'not connected to the broker; ledger-unavailable' });
  });
});
