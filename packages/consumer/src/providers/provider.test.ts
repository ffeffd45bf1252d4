import { Errors } from 'postmark';
import { classifyPostmarkError } from './postmark/errors';
import { ProviderError } from './provider';
import { classifySmtpError } from './smtp/errors';

describe('ProviderError', () => {
  it('when its message quotes addresses, then the message and the stack hold them masked', () => {
    const error = new ProviderError('recipient-rejected', '550 <jane.doe@example.org>, "bcc person"@example.net');

    expect(error.message).toBe('550 <j***@example.org>, "***@example.net');
    expect(error.stack).not.toMatch(/jane\.doe@|"bcc person"@/);
  });

  it("when nodemailer reports every recipient refused with Postfix's reply, then the classified message has no full address", () => {
    // As nodemailer's SMTP connection builds it (lib/smtp-connection, _actionRCPT) when every RCPT got a 550.
    const reply =
      '550 5.1.1 <bcc.person@example.net>: Recipient address rejected: User unknown in virtual mailbox table';
    const raw = Object.assign(new Error(`Can't send mail - all recipients were rejected: ${reply}`), {
      code: 'EENVELOPE',
      command: 'RCPT TO',
      response: reply,
      responseCode: 550,
      rejected: ['jane.doe@example.org', 'bcc.person@example.net'],
      rejectedErrors: [
        Object.assign(
          new Error(`Recipient command failed: ${reply.replace('bcc.person@example.net', 'jane.doe@example.org')}`),
          {
            response: reply.replace('bcc.person@example.net', 'jane.doe@example.org'),
            responseCode: 550,
            command: 'RCPT TO',
            recipient: 'jane.doe@example.org',
          },
        ),
        Object.assign(new Error(`Recipient command failed: ${reply}`), {
          response: reply,
          responseCode: 550,
          command: 'RCPT TO',
          recipient: 'bcc.person@example.net',
        }),
      ],
    });

    const error = classifySmtpError(raw);

    expect(error).toMatchObject({ kind: 'recipient-rejected', code: '550' });
    expect(error.message).toContain('<b***@example.net>: Recipient address rejected');
    expect(error.message).not.toMatch(/jane\.doe@|bcc\.person@/);
  });

  it('when Postmark answers 406 listing inactive addresses, then the classified message has no full address', () => {
    const raw = new Errors.InactiveRecipientsError(
      'You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: jane.doe@example.org, bcc.person@example.net. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.',
      406,
      422,
    );

    const error = classifyPostmarkError(raw);

    expect(error).toMatchObject({ kind: 'recipient-rejected', code: '406' });
    expect(error.message).toContain('j***@example.org, b***@example.net');
    expect(error.message).not.toMatch(/jane\.doe@|bcc\.person@/);
  });
});
