import type { EmailRequest } from '@mailer/contract';
import { ProviderError } from '../providers/provider';
import {
  SendGuard,
  decideClaim,
  isLedgerUnavailable,
  type ClaimAnswer,
  type DeliveryLedger,
  type FailureRecord,
} from './send-guard';

const ID = '01a2207a-0000-7000-8000-0000000000aa';
const request: EmailRequest = {
  from: { email: 'sender@example.com' },
  to: [{ email: 'to@example.org' }],
  cc: [{ email: 'cc@example.org' }],
  bcc: [{ email: 'bcc@example.org' }],
  subject: 'Hello',
  text: 'Hi.',
  tags: { tag: 'welcome' },
};
const email = { id: ID, client: 'billing', acceptedAt: new Date('2026-12-03T07:59:00.000Z'), request };

const unavailable = () =>
  Object.assign(new Error('ledger unavailable while running x'), { reason: 'ledger-unavailable' });

/** A ledger whose claims answer in the order given; every call is written down. */
class ScriptedLedger implements DeliveryLedger {
  readonly calls: string[] = [];
  readonly failures: FailureRecord[] = [];
  accepted: unknown[] = [];

  constructor(private readonly answers: (ClaimAnswer | Error)[]) {}

  claimAttempt(claim: { id: string; attempt: number; provider?: string }): Promise<ClaimAnswer> {
    this.calls.push(`claim ${claim.attempt} ${claim.provider ?? '-'}`);
    const answer = this.answers.shift() ?? new Error('no answer scripted');
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
  }
  recordAccepted(emails: readonly unknown[]): Promise<void> {
    this.calls.push('accepted');
    this.accepted = [...emails];
    return Promise.resolve();
  }
  recordSent(): Promise<'advanced'> {
    this.calls.push('sent');
    return Promise.resolve('advanced');
  }
  recordFailure(report: FailureRecord): Promise<'advanced'> {
    this.calls.push(`failure ${report.provider ?? '-'} ${report.next ?? 'no next'}`);
    this.failures.push(report);
    return Promise.resolve('advanced');
  }
  suppressedAmong(lists: readonly (readonly Buffer[])[]): Promise<boolean[]> {
    return Promise.resolve(lists.map(() => false));
  }
  recordSuppressedAtSend(): Promise<'advanced'> {
    this.calls.push('suppressed');
    return Promise.resolve('advanced');
  }
  ping(): Promise<void> {
    return Promise.resolve();
  }
}

const inDoubt: ClaimAnswer = { outcome: 'in-doubt', attempt: 2, provider: 'smtp', startedAt: new Date(0) };

describe('decideClaim', () => {
  it.each<[ClaimAnswer, 'resend' | 'park', unknown]>([
    [{ outcome: 'claimed' }, 'resend', { step: 'send' }],
    [{ outcome: 'claimed' }, 'park', { step: 'send' }],
    [{ outcome: 'unknown' }, 'resend', { step: 'record-accepted' }],
    [
      { outcome: 'already-sent', provider: 'ses', providerMessageId: 'm-1' },
      'resend',
      { step: 'skip', reason: 'already-sent' },
    ],
    [{ outcome: 'superseded', state: 'retrying', attempt: 2 }, 'park', { step: 'skip', reason: 'superseded' }],
    [inDoubt, 'resend', { step: 'claim-again' }],
    [inDoubt, 'park', { step: 'park-in-doubt', provider: 'smtp' }],
  ])('when the ledger answers %j under IN_DOUBT=%s, then the step is %j', (answer, policy, step) => {
    expect(decideClaim(answer, policy)).toEqual(step);
  });
});

describe('isLedgerUnavailable', () => {
  it('when an error has reason ledger-unavailable, then it is the ledger being out of reach; others are not', () => {
    expect(isLedgerUnavailable(unavailable())).toBe(true);
    expect(isLedgerUnavailable(new Error('syntax error'))).toBe(false);
    expect(isLedgerUnavailable(undefined)).toBe(false);
  });
});

describe('SendGuard', () => {
  it('when the claim is granted, then the provider may send, claimed under the attempt and provider', async () => {
    const ledger = new ScriptedLedger([{ outcome: 'claimed' }]);

    await expect(new SendGuard(ledger, email, 3, 'resend').beforeSend('ses')).resolves.toEqual({ send: true });
    expect(ledger.calls).toEqual(['claim 3 ses']);
  });

  it('when the email is unknown, then it is recorded from the envelope (every recipient) and claimed again', async () => {
    const ledger = new ScriptedLedger([{ outcome: 'unknown' }, { outcome: 'claimed' }]);

    await expect(new SendGuard(ledger, email, 1, 'resend').beforeSend('ses')).resolves.toEqual({ send: true });
    expect(ledger.calls).toEqual(['claim 1 ses', 'accepted', 'claim 1 ses']);
    expect(ledger.accepted).toEqual([
      {
        id: ID,
        client: 'billing',
        acceptedAt: email.acceptedAt,
        recipients: ['to@example.org', 'cc@example.org', 'bcc@example.org'],
        tags: { tag: 'welcome' },
      },
    ]);
  });

  it('when it was sent before or the attempt was superseded, then nothing is sent', async () => {
    const sent = new ScriptedLedger([{ outcome: 'already-sent', provider: 'ses', providerMessageId: null }]);
    const superseded = new ScriptedLedger([{ outcome: 'superseded', state: 'parked', attempt: 1 }]);

    await expect(new SendGuard(sent, email, 1, 'resend').beforeSend('ses')).resolves.toEqual({
      send: false,
      why: 'already-sent',
    });
    await expect(new SendGuard(superseded, email, 1, 'resend').beforeSend('ses')).resolves.toEqual({
      send: false,
      why: 'superseded',
    });
  });

  it('when the last try is in doubt and the policy is resend, then it claims again and sends', async () => {
    const ledger = new ScriptedLedger([inDoubt, { outcome: 'claimed' }]);

    await expect(new SendGuard(ledger, email, 2, 'resend').beforeSend('smtp')).resolves.toEqual({ send: true });
    expect(ledger.calls).toEqual(['claim 2 smtp', 'claim 2 smtp']);
  });

  it('when the last try is in doubt and the policy is park, then nothing is sent and it names the provider of that try', async () => {
    const ledger = new ScriptedLedger([inDoubt]);

    await expect(new SendGuard(ledger, email, 2, 'park').beforeSend('smtp')).resolves.toEqual({
      send: false,
      why: 'in-doubt',
      provider: 'smtp',
    });
    expect(ledger.calls).toEqual(['claim 2 smtp']);
  });

  it('when the ledger cannot be reached, then the verdict says so instead of sending or throwing', async () => {
    const error = unavailable();
    const ledger = new ScriptedLedger([error]);

    await expect(new SendGuard(ledger, email, 1, 'resend').beforeSend('ses')).resolves.toEqual({
      send: false,
      why: 'ledger-unavailable',
      error,
    });
  });

  it('when the ledger fails otherwise, then the error is thrown (a bug: the worker requeues)', async () => {
    const ledger = new ScriptedLedger([new Error('column does not exist')]);

    await expect(new SendGuard(ledger, email, 1, 'resend').beforeSend('ses')).rejects.toThrow('column does not exist');
  });

  it('when the ledger keeps answering in doubt, then it gives up rather than loop', async () => {
    const ledger = new ScriptedLedger([inDoubt, inDoubt, inDoubt]);

    await expect(new SendGuard(ledger, email, 1, 'resend').beforeSend('ses')).rejects.toThrow('gave no claim');
  });

  it('when a provider failed and the next is claimed, then that failure is recorded first, without next, in the same attempt', async () => {
    const ledger = new ScriptedLedger([{ outcome: 'claimed' }, { outcome: 'claimed' }]);
    const guard = new SendGuard(ledger, email, 4, 'resend');

    await guard.beforeSend('ses');
    guard.failed('ses', new ProviderError('transient', 'throttled', { ambiguous: true }));
    await guard.beforeSend('postmark');

    expect(ledger.calls).toEqual(['claim 4 ses', 'failure ses no next', 'claim 4 postmark']);
    expect(ledger.failures).toEqual([
      { id: ID, attempt: 4, provider: 'ses', kind: 'transient', error: 'throttled', ambiguous: true },
    ]);
    expect(guard.unrecorded()).toBeUndefined();
  });

  it('when the last provider failed, then its failure is left for the caller to record with next', async () => {
    const ledger = new ScriptedLedger([{ outcome: 'claimed' }]);
    const guard = new SendGuard(ledger, email, 1, 'resend');

    await guard.beforeSend('ses');
    guard.failed('ses', new ProviderError('recipient-rejected', '550 no such user'));

    expect(guard.unrecorded()).toEqual({
      id: ID,
      attempt: 1,
      provider: 'ses',
      kind: 'recipient-rejected',
      error: '550 no such user',
      ambiguous: false,
    });
    expect(ledger.calls).toEqual(['claim 1 ses']);
  });
});
