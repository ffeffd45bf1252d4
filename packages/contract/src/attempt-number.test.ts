import { attemptBaseOf, ledgerAttemptOf, replayedAttemptBase } from './attempt-number';

describe('attempt numbers', () => {
  it('when a message has no history, then its ledger attempt is 1; retries count on from x-mailer-attempts', () => {
    expect(ledgerAttemptOf({})).toBe(1);
    expect(ledgerAttemptOf({ 'x-mailer-attempts': 2 })).toBe(3);
  });

  it('when a replayed message carries a base, then its attempts count on from it', () => {
    expect(attemptBaseOf({ 'x-mailer-attempt-base': 6 })).toBe(6);
    expect(ledgerAttemptOf({ 'x-mailer-attempt-base': 6 })).toBe(7);
    expect(ledgerAttemptOf({ 'x-mailer-attempt-base': 'junk', 'x-mailer-attempts': 1 })).toBe(2);
  });

  it('when a parked copy is replayed, then the base passes both the ledger attempt and its own history', () => {
    expect(replayedAttemptBase({ 'x-mailer-attempts': 3 }, 4)).toBe(4);
    expect(replayedAttemptBase({ 'x-mailer-attempts': 3, 'x-mailer-attempt-base': 6 }, 4)).toBe(9);
    expect(replayedAttemptBase({ 'x-mailer-attempts': 2 }, undefined)).toBe(2);
  });
});
