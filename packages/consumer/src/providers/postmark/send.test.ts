import type { EmailRequest } from '@mailer/contract';
import { EMAIL_ID_METADATA, toPostmarkMessage } from './send';

const ID = '01a2207a-0000-7000-8000-0000000000aa';
const request: EmailRequest = {
  from: { email: 'sender@example.com' },
  to: [{ email: 'to@example.org' }],
  subject: 'Hello',
  text: 'Hi.',
};

describe('toPostmarkMessage: Metadata', () => {
  it('when the caller sends no metadata, then Metadata carries the email id alone', () => {
    expect(toPostmarkMessage({ id: ID, request }, 'outbound').Metadata).toEqual({ [EMAIL_ID_METADATA]: ID });
  });

  it('when the caller sends metadata, then it is merged with the email id, values as strings and nulls left out', () => {
    const message = toPostmarkMessage(
      { id: ID, request: { ...request, metadata: { user: 'u-1', n: 3, ok: true, none: null } } },
      'outbound',
    );

    expect(message.Metadata).toEqual({ user: 'u-1', n: '3', ok: 'true', email_id: ID });
  });

  it("when a message queued before the schema refused it carries a caller's email_id (any case), then ours replaces it", () => {
    const message = toPostmarkMessage(
      { id: ID, request: { ...request, metadata: { Email_ID: 'forged', email_id: 'forged too' } } },
      'outbound',
    );

    expect(message.Metadata).toEqual({ email_id: ID });
  });
});
