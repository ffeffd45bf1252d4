import { RecipientHasher, type EmailRequest } from '@mailer/contract';
import type { OutboundEmail } from '../providers/provider';
import { normalizedSet, recipientAddresses, refusalEntry, refusedAmong, withoutRecipients } from './recipients';

const ID = '01a2207a-0000-7000-8000-0000000000aa';
const request: EmailRequest = {
  from: { email: 'sender@example.com' },
  to: [{ email: 'Ann@Example.org', name: 'Ann' }, { email: 'bob@example.org' }],
  cc: [{ email: 'carl@example.org' }],
  bcc: [{ email: 'dora@example.org' }],
  subject: 'Hello',
  text: 'Hi.',
};
const email: OutboundEmail = { id: ID, request };

describe('withoutRecipients', () => {
  it('when nothing is dropped, then the email is the same object', () => {
    expect(withoutRecipients(email, new Set())).toBe(email);
  });

  it('when recipients are dropped, then they go from whichever list holds them, by normalized address, the rest unchanged', () => {
    const narrowed = withoutRecipients(email, normalizedSet(['ann@example.ORG', 'Dora@example.org']));

    expect(narrowed?.id).toBe(ID);
    expect(narrowed?.request).toEqual({
      ...request,
      to: [{ email: 'bob@example.org' }],
      cc: [{ email: 'carl@example.org' }],
      bcc: undefined,
    });
    expect(narrowed?.request).not.toHaveProperty('bcc');
  });

  it('when every recipient is dropped, then nothing is left', () => {
    expect(withoutRecipients(email, normalizedSet(recipientAddresses(request)))).toBeUndefined();
  });
});

describe('refusedAmong', () => {
  const refusal = (address: string) => ({ address, reason: 'r', onProviderList: true });

  it('when a provider names recipients, then those of the email are kept once each, others ignored', () => {
    expect(
      refusedAmong(email, [refusal('ann@example.org'), refusal('ANN@example.org'), refusal('eve@example.com')]),
    ).toEqual([refusal('ann@example.org')]);
  });
});

describe('refusalEntry', () => {
  it('when an entry is made, then it is keyed and masked, reason recipient-rejected, sourced from the email and provider', () => {
    const hasher = new RecipientHasher({ current: 'a-test-secret-of-at-least-32-characters' });

    const entry = refusalEntry(hasher, ID, {
      address: 'ann@example.org',
      reason: 'postmark 406 inactive recipient',
      onProviderList: true,
      provider: 'postmark',
    });

    expect(entry).toEqual({
      hashes: hasher.candidates('ann@example.org'),
      masked: 'a***@example.org',
      reason: 'recipient-rejected',
      note: 'postmark 406 inactive recipient',
      createdBy: 'provider',
      source: { emailId: ID, provider: 'postmark' },
    });
  });
});
