import type { EmailRecord } from '@mailer/ledger';
import { emailText } from './emails';

const email: EmailRecord = {
  id: '0191f7a4-8c1e-7c4b-9a53-2f9d8d3e4b10',
  state: 'bounced',
  attempt: 1,
  acceptedAt: new Date('2026-01-31T08:00:00.000Z'),
  updatedAt: new Date('2026-01-31T08:10:00.000Z'),
  provider: 'ses',
  providerMessageId: 'ses-1',
  recipientCount: 3,
  recipients: ['j***@example.org', 'b***@example.net', 'g***@example.com'],
  tags: null,
  metadata: null,
  inDoubt: false,
  attempts: [],
  recipientOutcomes: [
    { address: 'j***@example.org', status: 'delivered', updatedAt: new Date('2026-01-31T08:05:00.000Z') },
    {
      address: 'b***@example.net',
      status: 'bounced',
      bounce: {
        kind: 'hard',
        type: 'Permanent',
        subtype: 'General',
        diagnostic: 'smtp; 550 5.1.1 <bob.smith@example.net>: user unknown',
      },
      updatedAt: new Date('2026-01-31T08:10:00.000Z'),
    },
    { address: 'g***@example.com', status: 'suppressed' },
  ],
};

describe('emailText', () => {
  it('when recipients have outcomes, then each has a line with its status, a bounce its kind, type and masked diagnostic', () => {
    const lines = emailText(email).split('\n');

    expect(lines).toEqual(
      expect.arrayContaining([
        'status:      bounced',
        'recipients:  3',
        '  j***@example.org delivered',
        '  b***@example.net bounced (hard, Permanent/General): smtp; 550 5.1.1 <b***@example.net>: user unknown',
        '  g***@example.com suppressed',
      ]),
    );
    expect(emailText(email)).not.toContain('bob.smith');
  });

  it('when a bounce has no classification, then its line has no empty brackets', () => {
    const bare = {
      ...email,
      recipientOutcomes: [
        {
          address: 'b***@example.net',
          status: 'bounced' as const,
          bounce: { kind: null, type: null, subtype: null, diagnostic: null },
        },
      ],
    };

    expect(emailText(bare).split('\n')).toContain('  b***@example.net bounced');
  });
});
