import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseSesEvent } from './events';

/**
 * The fixtures are the SES Developer Guide's own examples, each file naming its source in
 * `_source` (line numbers of the guide's listings removed, nothing else changed).
 */
function fixture(name: string): Record<string, unknown> {
  const file = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', `${name}.json`), 'utf8')) as {
    _source: string;
    payload: Record<string, unknown>;
  };
  return file.payload;
}

/** A documented payload with parts replaced (deep enough for `mail` and the event's own object). */
function variant(name: string, changes: (event: Record<string, Record<string, unknown>>) => void): string {
  const event = structuredClone(fixture(name)) as Record<string, Record<string, unknown>>;
  changes(event);
  return JSON.stringify(event);
}

const KEY = '22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324';
const EMAIL_ID = '0190a0b0-0000-7000-8000-000000000001';
const parse = (name: string) => parseSesEvent(JSON.stringify(fixture(name)), KEY);

describe('parseSesEvent on the documented examples', () => {
  it('when an event-publishing Bounce is Permanent/General, then its one recipient bounced hard and is suppressed', () => {
    expect(parse('event-bounce')).toEqual({
      kind: 'outcome',
      provider: 'ses',
      eventKey: KEY,
      providerMessageId: 'EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000',
      occurredAt: new Date('2017-08-05T00:41:02.669Z'),
      recipients: [
        {
          address: 'recipient@example.com',
          outcome: 'bounced',
          bounceKind: 'hard',
          providerType: 'Permanent',
          providerSubtype: 'General',
          diagnostic: 'smtp; 550 5.1.1 user unknown',
          suppress: { reason: 'hard-bounce' },
        },
      ],
    });
  });

  it('when an identity notification (notificationType) Bounce names two recipients, then both bounced and are suppressed', () => {
    const parsed = parse('identity-bounce-no-dsn');
    expect(parsed).toMatchObject({ kind: 'outcome', occurredAt: new Date('2016-01-27T14:59:38.237Z') });
    expect(parsed.kind === 'outcome' ? parsed.recipients : []).toEqual([
      {
        address: 'jane@example.com',
        outcome: 'bounced',
        bounceKind: 'hard',
        providerType: 'Permanent',
        providerSubtype: 'General',
        suppress: { reason: 'hard-bounce' },
      },
      {
        address: 'richard@example.com',
        outcome: 'bounced',
        bounceKind: 'hard',
        providerType: 'Permanent',
        providerSubtype: 'General',
        suppress: { reason: 'hard-bounce' },
      },
    ]);
  });

  it('when an identity Bounce carries a DSN, then the diagnostic code is kept', () => {
    const parsed = parse('identity-bounce-with-dsn');
    expect(parsed.kind === 'outcome' ? parsed.recipients : []).toEqual([
      expect.objectContaining({
        address: 'jane@example.com',
        diagnostic: 'smtp; 550 5.1.1 <jane@example.com>... User',
      }),
    ]);
  });

  it('when an event-publishing Complaint arrives, then the recipient complained and is suppressed', () => {
    expect(parse('event-complaint')).toMatchObject({
      kind: 'outcome',
      occurredAt: new Date('2017-08-05T00:41:02.669Z'),
      recipients: [
        {
          address: 'recipient@example.com',
          outcome: 'complained',
          providerType: 'abuse',
          suppress: { reason: 'complaint' },
        },
      ],
    });
  });

  it.each(['identity-complaint-no-feedback', 'identity-complaint-with-feedback'])(
    'when an identity Complaint (%s) arrives, then every complained recipient is suppressed',
    (name) => {
      const parsed = parse(name);
      expect(parsed.kind).toBe('outcome');
      const recipients = parsed.kind === 'outcome' ? parsed.recipients : [];
      expect(recipients.length).toBeGreaterThan(0);
      expect(recipients.every((r) => r.outcome === 'complained' && r.suppress?.reason === 'complaint')).toBe(true);
    },
  );

  it('when an event-publishing Delivery arrives, then its recipient was delivered, with the SMTP response', () => {
    expect(parse('event-delivery')).toEqual({
      kind: 'outcome',
      provider: 'ses',
      eventKey: KEY,
      providerMessageId: 'EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000',
      occurredAt: new Date('2016-10-19T23:21:04.133Z'),
      recipients: [
        { address: 'recipient@example.com', outcome: 'delivered', diagnostic: '250 2.6.0 Message received' },
      ],
    });
  });

  it('when an identity Delivery arrives, then its recipient was delivered', () => {
    expect(parse('identity-delivery')).toMatchObject({
      kind: 'outcome',
      recipients: [{ address: 'jane@example.com', outcome: 'delivered' }],
    });
  });

  it('when a DeliveryDelay arrives, then the delayed recipient is delivery_delayed with the delay type, not suppressed', () => {
    expect(parse('event-delayed-delivery')).toMatchObject({
      kind: 'outcome',
      occurredAt: new Date('2020-06-16T00:25:40.095Z'),
      recipients: [
        {
          address: 'recipient@example.com',
          outcome: 'delivery_delayed',
          providerType: 'TransientCommunicationFailure',
          diagnostic: 'smtp; 421 4.4.1 Unable to connect to remote host',
        },
      ],
    });
    const parsed = parse('event-delayed-delivery');
    expect(parsed.kind === 'outcome' ? parsed.recipients[0]?.suppress : 'none').toBeUndefined();
  });

  it.each(['event-send', 'event-open', 'event-click', 'event-subscription', 'event-reject', 'event-failure'])(
    'when the event is %s, then it is ignored',
    (name) => {
      expect(parse(name)).toMatchObject({ kind: 'ignored' });
    },
  );
});

describe('parseSesEvent on the cases the issue names', () => {
  it('when a Permanent/General bounce names one of two recipients, then only that one has an outcome', () => {
    const message = variant('event-bounce', (event) => {
      event['mail'] = { ...event['mail'], destination: ['recipient@example.com', 'other@example.com'] };
    });
    const parsed = parseSesEvent(message, KEY);
    expect(parsed.kind === 'outcome' ? parsed.recipients.map((r) => r.address) : []).toEqual(['recipient@example.com']);
  });

  it('when the bounce is Transient, then the recipient bounced soft and is not suppressed', () => {
    const message = variant('event-bounce', (event) => {
      event['bounce'] = { ...event['bounce'], bounceType: 'Transient', bounceSubType: 'MailboxFull' };
    });
    expect(parseSesEvent(message, KEY)).toMatchObject({
      recipients: [
        { outcome: 'bounced', bounceKind: 'soft', providerType: 'Transient', providerSubtype: 'MailboxFull' },
      ],
    });
    const parsed = parseSesEvent(message, KEY);
    expect(parsed.kind === 'outcome' ? parsed.recipients[0]?.suppress : 'none').toBeUndefined();
  });

  it('when the bounce is Undetermined, then the recipient bounced undetermined and is not suppressed', () => {
    const message = variant('event-bounce', (event) => {
      event['bounce'] = { ...event['bounce'], bounceType: 'Undetermined', bounceSubType: 'Undetermined' };
    });
    const parsed = parseSesEvent(message, KEY);
    expect(parsed).toMatchObject({ recipients: [{ outcome: 'bounced', bounceKind: 'undetermined' }] });
    expect(parsed.kind === 'outcome' ? parsed.recipients[0]?.suppress : 'none').toBeUndefined();
  });

  it.each([
    ['NoEmail', 'hard-bounce'],
    ['Suppressed', 'hard-bounce'],
    ['OnAccountSuppressionList', 'hard-bounce'],
    ['UnsubscribedRecipient', 'unsubscribed'],
  ])('when the bounce is Permanent/%s, then the recipient is suppressed (%s)', (subtype, reason) => {
    const message = variant('event-bounce', (event) => {
      event['bounce'] = { ...event['bounce'], bounceSubType: subtype };
    });
    expect(parseSesEvent(message, KEY)).toMatchObject({ recipients: [{ bounceKind: 'hard', suppress: { reason } }] });
  });

  it('when the mail carries an email_id tag that is a UUID, then it is the email id', () => {
    const message = variant('event-delivery', (event) => {
      event['mail'] = { ...event['mail'], tags: { ...(event['mail']?.['tags'] as object), email_id: [EMAIL_ID] } };
    });
    expect(parseSesEvent(message, KEY)).toMatchObject({ emailId: EMAIL_ID });
  });

  it('when the email_id tag is not a UUID, then there is no email id (the provider message id still maps it)', () => {
    const message = variant('event-delivery', (event) => {
      event['mail'] = { ...event['mail'], tags: { email_id: ['../../etc'] } };
    });
    const parsed = parseSesEvent(message, KEY);
    expect(parsed.kind === 'outcome' ? parsed.emailId : 'not an outcome').toBeUndefined();
    expect(parsed).toMatchObject({ providerMessageId: 'EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000' });
  });

  it('when the event has fields SES added later, then they are ignored', () => {
    const message = variant('event-bounce', (event) => {
      event['newTopLevel'] = { x: 1 };
      event['bounce'] = { ...event['bounce'], newField: 'y' };
    });
    expect(parseSesEvent(message, KEY)).toEqual(parse('event-bounce'));
  });

  it('when a diagnostic is very long, then it is cut', () => {
    const message = variant('event-bounce', (event) => {
      event['bounce'] = {
        ...event['bounce'],
        bouncedRecipients: [{ emailAddress: 'a@example.com', diagnosticCode: 'd'.repeat(5000) }],
      };
    });
    const parsed = parseSesEvent(message, KEY);
    expect(parsed.kind === 'outcome' ? parsed.recipients[0]?.diagnostic?.length : 0).toBe(1003);
  });

  it.each([
    ['not JSON', '{'],
    ['an array', '[]'],
    ['no type', JSON.stringify({ mail: {} })],
    ['a Bounce without bounce', variant('event-bounce', (event) => delete event['bounce'])],
    ['a Bounce without mail', variant('event-bounce', (event) => delete event['mail'])],
    [
      'no bounced recipients',
      variant('event-bounce', (event) => (event['bounce'] = { ...event['bounce'], bouncedRecipients: [] })),
    ],
    [
      'a recipient without address',
      variant('event-bounce', (event) => (event['bounce'] = { ...event['bounce'], bouncedRecipients: [{}] })),
    ],
    [
      'a bad timestamp',
      variant('event-delivery', (event) => (event['delivery'] = { ...event['delivery'], timestamp: 'soon' })),
    ],
    [
      'a recipient that is a number',
      variant('event-delivery', (event) => (event['delivery'] = { ...event['delivery'], recipients: [7] })),
    ],
    [
      'too many recipients',
      variant(
        'event-delivery',
        (event) => (event['delivery'] = { ...event['delivery'], recipients: Array(1001).fill('a@example.com') }),
      ),
    ],
  ])('when the event has %s, then it is invalid, and the problem names no address', (_name, message) => {
    const parsed = parseSesEvent(message, KEY);
    expect(parsed.kind).toBe('invalid');
    expect(JSON.stringify(parsed)).not.toContain('@');
  });
});
