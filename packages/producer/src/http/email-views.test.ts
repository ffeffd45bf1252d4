import type { EmailView } from '../domain/email-ledger';
import { emailJson, nextPagePath, parseListQuery, parseRfc3339, summaryJson } from './email-views';

const email: EmailView = {
  id: '0191f7a4-8c1e-7c4b-9a53-2f9d8d3e4b10',
  state: 'sent',
  attempt: 2,
  acceptedAt: new Date('2026-01-31T08:00:00.000Z'),
  updatedAt: new Date('2026-01-31T08:05:00.000Z'),
  provider: 'postmark',
  providerMessageId: 'pm-1',
  recipientCount: 2,
  recipients: ['j***@example.org', 'b***@example.net'],
  tags: { kind: 'receipt' },
  metadata: { order: 42, vip: true, note: null },
  inDoubt: false,
  recipientOutcomes: [
    { address: 'j***@example.org', status: 'delivered', updatedAt: new Date('2026-01-31T08:06:00.000Z') },
    {
      address: 'b***@example.net',
      status: 'bounced',
      bounce: { kind: 'hard', type: 'Permanent', subtype: 'General', diagnostic: 'smtp; 550 5.1.1 user unknown' },
      updatedAt: new Date('2026-01-31T08:07:00.000Z'),
    },
  ],
  attempts: [
    {
      attempt: 1,
      provider: 'ses',
      startedAt: new Date('2026-01-31T08:00:01.000Z'),
      finishedAt: new Date('2026-01-31T08:00:31.000Z'),
      outcome: 'transient',
      error: 'timeout after the data was handed over',
      ambiguous: true,
      providerMessageId: null,
    },
    {
      attempt: 2,
      provider: 'postmark',
      startedAt: new Date('2026-01-31T08:05:00.000Z'),
      finishedAt: null,
      outcome: null,
      error: null,
      ambiguous: false,
      providerMessageId: null,
    },
  ],
};

describe('emailJson', () => {
  it('when an email with tries is mapped, then every field is in snake_case with ISO times and no body, each recipient with its outcome', () => {
    expect(emailJson(email)).toEqual({
      id: email.id,
      status: 'sent',
      attempt: 2,
      accepted_at: '2026-01-31T08:00:00.000Z',
      updated_at: '2026-01-31T08:05:00.000Z',
      provider: 'postmark',
      provider_message_id: 'pm-1',
      recipient_count: 2,
      recipients: [
        { address: 'j***@example.org', status: 'delivered', updated_at: '2026-01-31T08:06:00.000Z' },
        {
          address: 'b***@example.net',
          status: 'bounced',
          bounce: { kind: 'hard', type: 'Permanent', subtype: 'General', diagnostic: 'smtp; 550 5.1.1 user unknown' },
          updated_at: '2026-01-31T08:07:00.000Z',
        },
      ],
      tags: { kind: 'receipt' },
      metadata: { order: 42, vip: true, note: null },
      in_doubt: false,
      attempts: [
        {
          attempt: 1,
          provider: 'ses',
          started_at: '2026-01-31T08:00:01.000Z',
          finished_at: '2026-01-31T08:00:31.000Z',
          outcome: 'transient',
          error: 'timeout after the data was handed over',
          ambiguous: true,
          provider_message_id: null,
        },
        {
          attempt: 2,
          provider: 'postmark',
          started_at: '2026-01-31T08:05:00.000Z',
          finished_at: null,
          outcome: null,
          error: null,
          ambiguous: false,
          provider_message_id: null,
        },
      ],
    });
  });

  it("when a try's error quotes a full address (a row written before the ledger masked them), then it is shown masked", () => {
    const [first] = email.attempts;
    if (first === undefined) throw new Error('the fixture has a try');
    const legacy = { ...first, error: 'smtp: RCPT TO: 550 5.1.1 <jane.doe@example.org>: Recipient address rejected' };
    const shown = emailJson({ ...email, attempts: [legacy] });
    expect(shown['attempts']).toEqual([
      expect.objectContaining({ error: 'smtp: RCPT TO: 550 5.1.1 <j***@example.org>: Recipient address rejected' }),
    ]);
  });

  it('when an email has no tags or metadata, then both are empty objects; a summary has no attempts', () => {
    const summary = summaryJson({ ...email, tags: null, metadata: null });

    expect(summary).toMatchObject({ tags: {}, metadata: {} });
    expect(summary).not.toHaveProperty('attempts');
  });

  it('when a list entry is mapped, then its recipients are the masked addresses alone', () => {
    expect(summaryJson(email)['recipients']).toEqual(['j***@example.org', 'b***@example.net']);
  });

  it("when a bounce's diagnostic quotes a full address (a row written before the ledger masked them), then it is shown masked", () => {
    const [, bounced] = email.recipientOutcomes;
    if (bounced?.bounce === undefined) throw new Error('the fixture has a bounce');
    const legacy = {
      ...bounced,
      bounce: { ...bounced.bounce, diagnostic: '550 5.1.1 <bob.smith@example.net>: unknown' },
    };

    expect(emailJson({ ...email, recipientOutcomes: [legacy] })['recipients']).toEqual([
      expect.objectContaining({
        bounce: expect.objectContaining({ diagnostic: '550 5.1.1 <b***@example.net>: unknown' }),
      }),
    ]);
  });

  it('when a recipient has no outcome yet, then it has its status and neither bounce nor updated_at', () => {
    const waiting = { ...email, recipientOutcomes: [{ address: 'j***@example.org', status: 'queued' as const }] };

    expect(emailJson(waiting)['recipients']).toEqual([{ address: 'j***@example.org', status: 'queued' }]);
  });
});

describe('parseListQuery', () => {
  it('when cursor is empty, then it is the first page, as with no cursor', () => {
    expect(parseListQuery({ cursor: '', status: 'sent' })).toEqual({ ok: true, filter: { status: 'sent' } });
  });

  it('when no parameter is given, then the filter is empty', () => {
    expect(parseListQuery({})).toEqual({ ok: true, filter: {} });
  });

  it('when every parameter is given, then each is read', () => {
    expect(
      parseListQuery({
        status: 'parked',
        since: '2026-01-31T08:00:00Z',
        in_doubt: 'true',
        cursor: 'abc',
        limit: '100',
      }),
    ).toEqual({
      ok: true,
      filter: {
        status: 'parked',
        since: new Date('2026-01-31T08:00:00Z'),
        inDoubt: true,
        cursor: 'abc',
        limit: 100,
      },
    });
  });

  it('when several parameters are wrong, then every problem is named with its parameter', () => {
    expect(
      parseListQuery({
        status: 'lost',
        since: 'yesterday',
        in_doubt: 'yes',
        cursor: 'x'.repeat(201),
        limit: '0',
        state: 'sent',
      }),
    ).toEqual({
      ok: false,
      errors: [
        {
          parameter: 'status',
          detail:
            'must be one of queued, sending, retrying, parked, suppressed, abandoned, sent, delivered, bounced, complained',
        },
        { parameter: 'since', detail: 'must be an RFC 3339 date-time that exists, such as 2026-01-31T08:00:00Z' },
        { parameter: 'in_doubt', detail: 'must be true or false' },
        { parameter: 'cursor', detail: 'must be the next_cursor of a previous page' },
        { parameter: 'limit', detail: 'must be a whole number from 1 to 100' },
        { parameter: 'state', detail: 'is not a parameter of this list (use status, since, in_doubt, cursor, limit)' },
      ],
    });
  });

  it.each(['101', '1.5', '-1', '1e2', ' 5'])('when limit is %p, then it is refused', (limit) => {
    expect(parseListQuery({ limit }).ok).toBe(false);
  });

  it('when a parameter is repeated, then it must be given once', () => {
    expect(parseListQuery({ status: ['sent', 'parked'] })).toEqual({
      ok: false,
      errors: [{ parameter: 'status', detail: 'must be given once' }],
    });
  });
});

describe('parseRfc3339', () => {
  it.each(['2024-02-29T00:00:00Z', '2000-02-29T23:59:59+01:00', '2026-12-31t00:00:00z'])(
    'when the date-time is %p, a day that exists, then it is read',
    (raw) => {
      expect(parseRfc3339(raw)).toBeInstanceOf(Date);
    },
  );

  it.each([
    '2026-02-31T00:00:00Z',
    '2026-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-00-10T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-01-00T00:00:00Z',
    '2026-01-01T24:00:00Z',
  ])('when the date-time is %p, which does not exist, then it is no date-time (Date would roll it over)', (raw) => {
    expect(parseRfc3339(raw)).toBeUndefined();
  });

  it.each([
    ['2026-01-31T08:00:00Z', '2026-01-31T08:00:00.000Z'],
    ['2026-01-31t08:00:00.123456z', '2026-01-31T08:00:00.123Z'],
    ['2026-01-31T10:00:00+02:00', '2026-01-31T08:00:00.000Z'],
    ['2026-01-31T10:00:00 02:00', '2026-01-31T08:00:00.000Z'],
  ])('when since is %p, then it is read as %p', (raw, iso) => {
    expect(parseRfc3339(raw)?.toISOString()).toBe(iso);
  });

  it.each(['2026-01-31', '2026-01-31T08:00:00', '2026-13-01T00:00:00Z', '1738310400', 'now'])(
    'when since is %p, then it is refused',
    (raw) => {
      expect(parseRfc3339(raw)).toBeUndefined();
    },
  );
});

describe('nextPagePath', () => {
  it('when there is a next page, then its path keeps the filters and replaces the cursor', () => {
    expect(
      nextPagePath({ status: 'parked', since: '2026-01-31T10:00:00+02:00', cursor: 'old', limit: '2' }, 'n/x'),
    ).toBe('/v1/emails?status=parked&since=2026-01-31T10%3A00%3A00%2B02%3A00&limit=2&cursor=n%2Fx');
  });
});
