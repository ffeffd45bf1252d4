import type Mail from 'nodemailer/lib/mailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import { EMAIL_ID_HEADER, type Address } from '@mailer/contract';
import type { OutboundEmail } from './provider';

const mailbox = (address: Address): Mail.Address => ({ address: address.email, name: address.name ?? '' });

/**
 * The nodemailer message for an email: the one mapping from our request to MIME fields, used by
 * the SMTP adapter directly and by {@link buildMime} for the adapters that send raw MIME.
 */
export function toMailOptions(email: OutboundEmail): Mail.Options {
  const { request } = email;
  return {
    // Derived from the email id, so a redelivered email keeps its Message-ID and recipients'
    // mail systems can recognise the duplicate.
    messageId: messageIdOf(email),
    from: mailbox(request.from),
    ...(request.to === undefined ? {} : { to: request.to.map(mailbox) }),
    ...(request.cc === undefined ? {} : { cc: request.cc.map(mailbox) }),
    ...(request.bcc === undefined ? {} : { bcc: request.bcc.map(mailbox) }),
    ...(request.reply_to === undefined ? {} : { replyTo: request.reply_to.map(mailbox) }),
    subject: request.subject,
    ...(request.text === undefined ? {} : { text: request.text }),
    ...(request.html === undefined ? {} : { html: request.html }),
    headers: { ...request.headers, [EMAIL_ID_HEADER]: email.id },
    attachments: (request.attachments ?? []).map((attachment) => ({
      filename: attachment.filename,
      content: attachment.content,
      encoding: 'base64',
      contentType: attachment.content_type,
    })),
    // No "X-Mailer: nodemailer" header: the email is the caller's, not the library's.
    xMailer: false,
  };
}

/** The raw MIME message (RFC 5322) for an email, Bcc included only as envelope recipients. */
export async function buildMime(email: OutboundEmail): Promise<Buffer> {
  return new MailComposer(toMailOptions(email)).compile().build();
}

/** Every envelope recipient (to, cc and bcc), each once (addresses compared without case). */
export function envelopeRecipients(email: OutboundEmail): string[] {
  const { to = [], cc = [], bcc = [] } = email.request;
  const seen = new Set<string>();
  return [...to, ...cc, ...bcc]
    .map((address) => address.email)
    .filter((address) => {
      const key = address.toLowerCase();
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
}

/** The Message-ID of an email: its id at the sender's domain, stable across redeliveries. */
export function messageIdOf(email: OutboundEmail): string {
  const from = email.request.from.email;
  return `<${email.id}@${from.slice(from.lastIndexOf('@') + 1)}>`;
}
