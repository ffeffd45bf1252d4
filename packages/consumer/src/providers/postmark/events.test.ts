import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parsePostmarkEvent } from './events';

/**
 * The fixtures are Postmark's documented example payloads, each file naming its source in
 * `_source`. The payload is taken as text, byte for byte: the Bounce example's ID
 * (4323372036854775807) does not survive a round trip through a JavaScript number.
 */
function body(name: string): string {
  const raw = readFileSync(path.join(__dirname, 'fixtures', `${name}.json`), 'utf8');
  return raw.slice(raw.indexOf('"payload":') + '"payload":'.length, raw.lastIndexOf('}')).trim();
}

/** A documented payload with fields replaced (the Bounce's big ID is not needed by these). */
function variant(name: string, changes: Record<string, unknown>): string {
  return JSON.stringify({ ...(JSON.parse(body(name)) as object), ...changes });
}

const keyOf = (address: string) => createHmac('sha256', 'test-secret').update(address).digest('hex').slice(0, 32);
const parse = (text: string) => parsePostmarkEvent(text, { keyOf });
const EMAIL_ID = '0190a0b0-0000-7000-8000-000000000001';

describe('parsePostmarkEvent on the documented examples', () => {
  it('when a HardBounce with Inactive: true arrives, then the recipient bounced hard and is suppressed, keyed by the exact bounce ID', () => {
    expect(parse(body('bounce'))).toEqual({
      kind: 'outcome',
      provider: 'postmark',
      eventKey: 'bounce:4323372036854775807',
      providerMessageId: '883953f4-6105-42a2-a16a-77a8eac79483',
      occurredAt: new Date('2019-11-05T16:33:54.907Z'),
      recipients: [
        {
          address: 'john@example.com',
          outcome: 'bounced',
          bounceKind: 'hard',
          providerType: 'HardBounce',
          providerSubtype: '1',
          diagnostic: 'Test bounce details',
          suppress: { reason: 'hard-bounce' },
        },
      ],
    });
  });

  it('when a SpamComplaint (TypeCode 100001) arrives, then the recipient complained and is suppressed', () => {
    expect(parse(body('spam-complaint'))).toEqual({
      kind: 'outcome',
      provider: 'postmark',
      eventKey: 'bounce:42',
      providerMessageId: '00000000-0000-0000-0000-000000000000',
      occurredAt: new Date('2019-11-05T16:33:54.907Z'),
      recipients: [
        {
          address: 'john@example.com',
          outcome: 'complained',
          providerType: 'SpamComplaint',
          providerSubtype: '100001',
          diagnostic: 'Test spam complaint details',
          suppress: { reason: 'complaint' },
        },
      ],
    });
  });

  it('when a Delivery arrives, then the recipient was delivered, keyed by message, time and the keyed hash (no address)', () => {
    const parsed = parse(body('delivery'));
    expect(parsed).toEqual({
      kind: 'outcome',
      provider: 'postmark',
      eventKey: `delivery:883953f4-6105-42a2-a16a-77a8eac79483:2019-11-05T16:33:54.907Z:${keyOf('john@example.com')}`,
      providerMessageId: '883953f4-6105-42a2-a16a-77a8eac79483',
      occurredAt: new Date('2019-11-05T16:33:54.907Z'),
      recipients: [{ address: 'john@example.com', outcome: 'delivered', diagnostic: 'Test delivery webhook details' }],
    });
    expect(parsed.kind === 'outcome' ? parsed.eventKey : '@').not.toContain('@');
  });

  it('when a SubscriptionChange suppresses after a HardBounce on a message, then that recipient bounced hard and is suppressed', () => {
    expect(parse(body('subscription-change'))).toMatchObject({
      kind: 'outcome',
      providerMessageId: '883953f4-6105-42a2-a16a-77a8eac79483',
      occurredAt: new Date('2020-02-01T10:53:34.416Z'),
      recipients: [
        {
          address: 'bounced-address@example.com',
          outcome: 'bounced',
          bounceKind: 'hard',
          suppress: { reason: 'hard-bounce' },
        },
      ],
    });
  });

  it.each(['open', 'click'])('when a %s arrives, then it is ignored', (name) => {
    expect(parse(body(name))).toMatchObject({ kind: 'ignored' });
  });
});

describe('parsePostmarkEvent on the cases the issue names', () => {
  it('when the metadata carries email_id, then it is the email id; when it is no UUID, there is none', () => {
    expect(parse(variant('delivery', { Metadata: { email_id: EMAIL_ID, other: 'x' } }))).toMatchObject({
      emailId: EMAIL_ID,
    });
    const parsed = parse(variant('delivery', { Metadata: { email_id: 'not-an-id' } }));
    expect(parsed.kind === 'outcome' ? parsed.emailId : 'not an outcome').toBeUndefined();
  });

  it('when a HardBounce has Inactive: false, then it bounced hard but is not suppressed', () => {
    const parsed = parse(variant('bounce', { ID: 7, Inactive: false }));
    expect(parsed).toMatchObject({ eventKey: 'bounce:7', recipients: [{ outcome: 'bounced', bounceKind: 'hard' }] });
    expect(parsed.kind === 'outcome' ? parsed.recipients[0]?.suppress : 'none').toBeUndefined();
  });

  it('when a SoftBounce arrives, then the recipient bounced soft and is not suppressed', () => {
    const parsed = parse(variant('bounce', { ID: 8, Type: 'SoftBounce', TypeCode: 4096, Inactive: false }));
    expect(parsed).toMatchObject({
      recipients: [{ outcome: 'bounced', bounceKind: 'soft', providerType: 'SoftBounce' }],
    });
    expect(parsed.kind === 'outcome' ? parsed.recipients[0]?.suppress : 'none').toBeUndefined();
  });

  it('when an AutoResponder "bounce" arrives, then it is ignored; if Postmark made the address inactive all the same, it is suppressed', () => {
    expect(parse(variant('bounce', { ID: 9, Type: 'AutoResponder', TypeCode: 64, Inactive: false }))).toMatchObject({
      kind: 'ignored',
    });
    expect(parse(variant('bounce', { ID: 9, Type: 'AutoResponder', TypeCode: 64, Inactive: true }))).toMatchObject({
      recipients: [{ suppress: { reason: 'hard-bounce' } }],
    });
  });

  it('when a SubscriptionChange is a manual suppression with no MessageID, then the address is suppressed with no email outcome', () => {
    const parsed = parse(
      variant('subscription-change', { MessageID: null, Origin: 'Customer', SuppressionReason: 'ManualSuppression' }),
    );
    expect(parsed).toMatchObject({
      kind: 'outcome',
      recipients: [],
      suppress: [{ address: 'bounced-address@example.com', reason: 'unsubscribed' }],
    });
    expect(parsed.kind === 'outcome' ? parsed.providerMessageId : 'not an outcome').toBeUndefined();
  });

  it('when a recipient unsubscribes from a message, then the address is suppressed as unsubscribed, with no outcome', () => {
    expect(parse(variant('subscription-change', { SuppressionReason: 'ManualSuppression' }))).toMatchObject({
      recipients: [],
      suppress: [{ reason: 'unsubscribed' }],
    });
  });

  it('when a SubscriptionChange suppresses after a SpamComplaint on a message, then that recipient complained', () => {
    expect(parse(variant('subscription-change', { SuppressionReason: 'SpamComplaint' }))).toMatchObject({
      recipients: [{ outcome: 'complained', suppress: { reason: 'complaint' } }],
    });
  });

  it("when a SubscriptionChange reactivates, then the address is unsuppressed, and its key differs from the suppression's", () => {
    const reactivated = parse(
      variant('subscription-change', {
        MessageID: null,
        SuppressSending: false,
        SuppressionReason: null,
        Tag: null,
        Metadata: {},
      }),
    );
    const suppressed = parse(variant('subscription-change', { MessageID: null }));
    expect(reactivated).toMatchObject({
      kind: 'outcome',
      recipients: [],
      unsuppress: [{ address: 'bounced-address@example.com' }],
    });
    const keyOfEvent = (parsed: typeof reactivated) => (parsed.kind === 'outcome' ? parsed.eventKey : '');
    expect(keyOfEvent(reactivated)).not.toBe(keyOfEvent(suppressed));
    expect(keyOfEvent(reactivated)).not.toContain('@');
  });

  it('when the same webhook is parsed twice (a retry), then the key is the same', () => {
    expect(parse(body('delivery'))).toEqual(parse(body('delivery')));
    expect(parse(body('subscription-change'))).toEqual(parse(body('subscription-change')));
  });

  it('when the body has fields Postmark added later, then they are ignored', () => {
    expect(parse(variant('spam-complaint', { SomethingNew: { a: 1 } }))).toEqual(parse(body('spam-complaint')));
  });

  it('when a RecordType is unknown, then it is ignored', () => {
    expect(parse(JSON.stringify({ RecordType: 'SMTPApiError' }))).toMatchObject({ kind: 'ignored' });
  });

  it.each([
    ['not JSON', '{'],
    ['an array', '[]'],
    ['no RecordType', JSON.stringify({ ID: 1 })],
    ['a Bounce without ID', variant('spam-complaint', { RecordType: 'Bounce', ID: undefined })],
    ['a Bounce with a fractional ID', variant('spam-complaint', { RecordType: 'Bounce', ID: 1.5 })],
    ['a Bounce without Email', variant('spam-complaint', { RecordType: 'Bounce', Email: undefined })],
    ['a SpamComplaint with a bad BouncedAt', variant('spam-complaint', { BouncedAt: 'yesterday' })],
    ['a Delivery without MessageID', variant('delivery', { MessageID: null })],
    [
      'a SubscriptionChange whose SuppressSending is a string',
      variant('subscription-change', { SuppressSending: 'true' }),
    ],
    ['an address too long', variant('delivery', { Recipient: `${'a'.repeat(400)}@example.com` })],
  ])('when the body has %s, then it is invalid, and the problem names no address', (_name, text) => {
    const parsed = parse(text);
    expect(parsed.kind).toBe('invalid');
    expect(JSON.stringify(parsed)).not.toContain('@');
  });
});
