import {
  ProviderEventHeaders,
  RecipientHasher,
  encodeProviderEvent,
  maskAddress,
  type ProviderEvent,
  type ProviderEventOutcome,
  type SuppressionEntry,
} from '@mailer/contract';
import { LedgerUnavailableError } from '@mailer/ledger';
import { DEADLOCK_TRIES, handleProviderEvent, triesOf, type FeedbackLedger, type IncomingEvent } from './handle-event';

const hasher = new RecipientHasher({
  current: 'unit-current-secret-0123456789abcdefghij',
  previous: ['unit-previous-secret-0123456789abcdefghi'],
});
const EMAIL_ID = '01a2207a-0000-7000-8000-0000000000aa';
const RECEIVED_AT = '2026-12-07T21:00:00.000Z';
const ADDRESS = 'philippa.ravenscroft@example.com';

/** A ledger port whose answers a test scripts; it records every call. */
class ScriptedLedger implements FeedbackLedger {
  readonly applied: ProviderEvent[] = [];
  readonly added: SuppressionEntry[][] = [];
  readonly removed: { hashes: readonly Buffer[]; note: string | undefined; by: string }[] = [];
  constructor(
    private readonly answers: (ProviderEventOutcome | Error)[] = ['applied'],
    private readonly listChanges = true,
  ) {}
  applyProviderEvent(event: ProviderEvent): Promise<ProviderEventOutcome> {
    this.applied.push(event);
    const answer = this.answers.shift() ?? 'applied';
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
  }
  addSuppressions(entries: readonly SuppressionEntry[]): Promise<boolean[]> {
    this.added.push([...entries]);
    return Promise.resolve(entries.map(() => this.listChanges));
  }
  removeSuppression(hashes: readonly Buffer[], note: string | undefined, by: string): Promise<boolean> {
    this.removed.push({ hashes, note, by });
    return Promise.resolve(this.listChanges);
  }
  ping(): Promise<void> {
    return Promise.resolve();
  }
}

function postmark(record: Record<string, unknown>, headers: Record<string, unknown> = {}): IncomingEvent {
  return {
    body: encodeProviderEvent({
      version: 1,
      provider: 'postmark',
      received_at: RECEIVED_AT,
      body: JSON.stringify(record),
    }),
    headers,
  };
}

/** An SES event as the producer queues it; `eventKey` null: a message without one. */
function ses(event: unknown, eventKey: string | null): IncomingEvent {
  return {
    body: encodeProviderEvent({
      version: 1,
      provider: 'ses',
      received_at: RECEIVED_AT,
      ...(eventKey === null ? {} : { event_key: eventKey }),
      body: JSON.stringify(event),
    }),
    headers: {},
  };
}

const hardBounce = {
  RecordType: 'Bounce',
  ID: 42,
  Type: 'HardBounce',
  TypeCode: 1,
  MessageID: 'pm-message-1',
  Metadata: { email_id: EMAIL_ID },
  Details: `550 5.1.1 <${ADDRESS}>: user unknown`,
  Email: ADDRESS,
  BouncedAt: '2026-12-07T20:59:00Z',
  Inactive: true,
};

const deps = (ledger: FeedbackLedger, maxTries = 5) => ({ ledger, hasher, maxTries, pause: () => Promise.resolve() });

describe('handleProviderEvent', () => {
  it('when a Postmark hard bounce arrives, then the ledger gets the recipient keyed and masked, the diagnostic masked, and a suppression', async () => {
    const ledger = new ScriptedLedger(['applied']);

    const decision = await handleProviderEvent(deps(ledger), postmark(hardBounce));

    expect(decision).toEqual({
      action: 'ack',
      result: 'applied',
      facts: { provider: 'postmark', outcome: 'bounced', eventKey: 'bounce:42' },
      suppressions: ['hard-bounce'],
    });
    expect(ledger.applied).toEqual([
      {
        provider: 'postmark',
        eventKey: 'bounce:42',
        emailId: EMAIL_ID,
        providerMessageId: 'pm-message-1',
        occurredAt: new Date('2026-12-07T20:59:00Z'),
        receivedAt: new Date(RECEIVED_AT),
        recipients: [
          {
            hashes: hasher.candidates(ADDRESS),
            masked: maskAddress(ADDRESS),
            outcome: 'bounced',
            bounceKind: 'hard',
            providerType: 'HardBounce',
            providerSubtype: '1',
            diagnostic: `550 5.1.1 <${maskAddress(ADDRESS)}>: user unknown`,
            suppress: { reason: 'hard-bounce' },
          },
        ],
      },
    ]);
    expect(JSON.stringify(ledger.applied)).not.toContain('philippa.ravenscroft@');
  });

  it('when the ledger says duplicate, then it is acked as a duplicate and counts no suppression', async () => {
    const decision = await handleProviderEvent(deps(new ScriptedLedger(['duplicate'])), postmark(hardBounce));

    expect(decision).toMatchObject({ action: 'ack', result: 'duplicate', suppressions: [] });
  });

  it('when the email is unknown, then it is retried with one more try, and parked once the tries are spent', async () => {
    const first = await handleProviderEvent(deps(new ScriptedLedger(['email-unknown'])), postmark(hardBounce));
    const later = await handleProviderEvent(
      deps(new ScriptedLedger(['email-unknown'])),
      postmark(hardBounce, { [ProviderEventHeaders.tries]: 3 }),
    );
    const last = await handleProviderEvent(
      deps(new ScriptedLedger(['email-unknown'])),
      postmark(hardBounce, { [ProviderEventHeaders.tries]: 4 }),
    );

    expect(first).toMatchObject({ action: 'retry', tries: 1 });
    expect(later).toMatchObject({ action: 'retry', tries: 4 });
    expect(last).toMatchObject({ action: 'park', reason: 'email-unknown', tries: 5 });
  });

  it('when the ledger cannot be reached, then the event waits for it', async () => {
    const ledger = new ScriptedLedger([new LedgerUnavailableError('connection refused')]);

    expect(await handleProviderEvent(deps(ledger), postmark(hardBounce))).toMatchObject({
      action: 'ledger-unavailable',
    });
  });

  it('when PostgreSQL deadlocks, then the call is made again, up to its tries, then the event is requeued', async () => {
    const deadlock = () => Object.assign(new Error('deadlock detected'), { code: '40P01' });
    const twice = new ScriptedLedger([deadlock(), deadlock(), 'applied']);
    const always = new ScriptedLedger(Array.from({ length: DEADLOCK_TRIES }, deadlock));

    expect(await handleProviderEvent(deps(twice), postmark(hardBounce))).toMatchObject({ result: 'applied' });
    expect(twice.applied).toHaveLength(3);
    expect(await handleProviderEvent(deps(always), postmark(hardBounce))).toMatchObject({ action: 'requeue' });
    expect(always.applied).toHaveLength(DEADLOCK_TRIES);
  });

  it('when the ledger refuses the event as out of bounds, then it is parked as refused; another error requeues it', async () => {
    const refused = await handleProviderEvent(
      deps(new ScriptedLedger([new RangeError('an event key has 1 to 500 characters')])),
      postmark(hardBounce),
    );
    const failed = await handleProviderEvent(deps(new ScriptedLedger([new Error('boom')])), postmark(hardBounce));

    expect(refused).toMatchObject({
      action: 'park',
      reason: 'refused',
      detail: 'an event key has 1 to 500 characters',
    });
    expect(failed).toMatchObject({ action: 'requeue' });
  });

  it('when the message is not a provider event, then it is parked undecodable, the ledger untouched', async () => {
    const ledger = new ScriptedLedger();

    const decision = await handleProviderEvent(deps(ledger), { body: Buffer.from('not json'), headers: {} });

    expect(decision).toEqual({
      action: 'park',
      reason: 'undecodable',
      detail: 'the message body is not JSON',
      facts: { provider: 'unknown', outcome: 'none' },
    });
    expect(ledger.applied).toEqual([]);
  });

  it("when the payload is not its provider's shape, or an SES event has no key, then it is parked invalid", async () => {
    const ledger = new ScriptedLedger();

    const postmarkBad = await handleProviderEvent(deps(ledger), postmark({ RecordType: 'Bounce', ID: 'x' }));
    const sesNoKey = await handleProviderEvent(deps(ledger), ses({ eventType: 'Delivery' }, null));

    expect(postmarkBad).toMatchObject({ action: 'park', reason: 'invalid', facts: { provider: 'postmark' } });
    expect(sesNoKey).toMatchObject({ action: 'park', reason: 'invalid', detail: 'an SES event has no event_key' });
    expect(ledger.applied).toEqual([]);
  });

  it('when the event changes nothing (a Postmark Open), then it is acked as ignored', async () => {
    const ledger = new ScriptedLedger();

    expect(await handleProviderEvent(deps(ledger), postmark({ RecordType: 'Open' }))).toMatchObject({
      action: 'ack',
      result: 'ignored',
    });
    expect(ledger.applied).toEqual([]);
  });

  it('when a SubscriptionChange only suppresses, then it goes to the list sourced to the event, never to email-unknown', async () => {
    const change = {
      RecordType: 'SubscriptionChange',
      ChangedAt: '2026-12-07T20:00:00Z',
      Recipient: ADDRESS,
      SuppressSending: true,
      SuppressionReason: 'ManualSuppression',
    };
    const ledger = new ScriptedLedger();
    const again = new ScriptedLedger([], false);

    const decision = await handleProviderEvent(deps(ledger), postmark(change));
    const repeat = await handleProviderEvent(deps(again), postmark(change));

    expect(decision).toMatchObject({ action: 'ack', result: 'applied', facts: { outcome: 'suppression' } });
    expect(decision).toMatchObject({ suppressions: ['unsubscribed'] });
    expect(ledger.applied).toEqual([]);
    expect(ledger.added).toEqual([
      [
        {
          hashes: hasher.candidates(ADDRESS),
          masked: maskAddress(ADDRESS),
          reason: 'unsubscribed',
          createdBy: 'provider',
          source: { provider: 'postmark', eventKey: expect.stringMatching(/^subscription:-:/) as unknown },
        },
      ],
    ]);
    expect(repeat).toMatchObject({ action: 'ack', result: 'duplicate', suppressions: [] });
  });

  it('when a SubscriptionChange reactivates, then the entry is removed by the provider', async () => {
    const ledger = new ScriptedLedger();

    const decision = await handleProviderEvent(
      deps(ledger),
      postmark({
        RecordType: 'SubscriptionChange',
        MessageID: 'pm-message-2',
        ChangedAt: '2026-12-07T20:00:00Z',
        Recipient: ADDRESS,
        SuppressSending: false,
      }),
    );

    expect(decision).toMatchObject({ action: 'ack', result: 'applied', facts: { outcome: 'reactivation' } });
    expect(ledger.removed).toEqual([
      {
        hashes: hasher.candidates(ADDRESS),
        note: expect.stringContaining('reactivated by postmark') as unknown,
        by: 'provider',
      },
    ]);
    expect(ledger.removed[0]?.note).not.toContain('philippa.ravenscroft@');
    expect(ledger.applied).toEqual([]);
  });

  it('when an SES event is read, then its key is the SNS message id', async () => {
    const ledger = new ScriptedLedger(['applied']);

    const decision = await handleProviderEvent(
      deps(ledger),
      ses(
        {
          eventType: 'Delivery',
          mail: { timestamp: '2026-12-07T20:00:00Z', messageId: 'ses-1', destination: [ADDRESS] },
          delivery: { timestamp: '2026-12-07T20:00:05Z', recipients: [ADDRESS], smtpResponse: '250 ok' },
        },
        'sns-abc',
      ),
    );

    expect(decision).toMatchObject({
      action: 'ack',
      facts: { provider: 'ses', outcome: 'delivered', eventKey: 'sns-abc' },
    });
    expect(ledger.applied[0]).toMatchObject({ eventKey: 'sns-abc', providerMessageId: 'ses-1' });
  });
});

describe('triesOf', () => {
  it('when the header is a whole number (or its digits), then that is the count; anything else is 0', () => {
    expect(triesOf({ [ProviderEventHeaders.tries]: 7 })).toBe(7);
    expect(triesOf({ [ProviderEventHeaders.tries]: '3' })).toBe(3);
    expect(triesOf({ [ProviderEventHeaders.tries]: -1 })).toBe(0);
    expect(triesOf({ [ProviderEventHeaders.tries]: 'x' })).toBe(0);
    expect(triesOf({})).toBe(0);
  });
});
