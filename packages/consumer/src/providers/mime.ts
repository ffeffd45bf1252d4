import type Mail from 'nodemailer/lib/mailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import * as mimeFuncs from 'nodemailer/lib/mime-funcs';
import { EMAIL_ID_HEADER, type Address, type Attachment } from '@mailer/contract';
import type { OutboundEmail } from './provider';

/** RFC 5322 section 2.1.1: no line of a message may be longer than this, CRLF excluded. */
export const MAX_LINE_OCTETS = 998;

/**
 * Longest run without white space an unstructured header value (subject, X-* value) may have
 * before it is sent as RFC 2047 encoded-words. nodemailer folds at white space after 76
 * characters, or at the end of a run that has none; a fold line is therefore at most 76
 * characters plus the longest run, and this keeps it under {@link MAX_LINE_OCTETS}.
 */
export const MAX_UNFOLDABLE_RUN = MAX_LINE_OCTETS - 76 - 2;

const mailbox = (address: Address): Mail.Address => ({ address: address.email, name: address.name ?? '' });

/** Every line break as CRLF: RFC 5322 allows no other, and SES and capture files get the bytes as built. */
export function toCrlf(text: string): string {
  return text.replace(/\r\n|\r|\n/g, '\r\n');
}

/**
 * An unstructured header value that can be folded into lines of at most {@link MAX_LINE_OCTETS}:
 * the value itself when its runs are short enough for nodemailer's folding (non-ASCII text is
 * encoded by nodemailer, in short encoded-words), or else all of it as RFC 2047 Q encoded-words
 * of at most 52 characters each, which decode to the same text.
 */
export function foldableValue(value: string): string {
  const longestRun = Math.max(0, ...value.split(/[ \t]+/).map((run) => run.length));
  return longestRun > MAX_UNFOLDABLE_RUN ? mimeFuncs.encodeWord(value, 'Q', 52) : value;
}

/**
 * The time in a UUIDv7 (its first 48 bits, milliseconds since the epoch), for emails made
 * without `acceptedAt`; undefined for any other id.
 */
export function uuidV7Time(id: string): Date | undefined {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.test(id)) return undefined;
  return new Date(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16));
}

/** The `Date` of an email: when it was accepted, the same on every retry and redelivery. */
export function dateOf(email: OutboundEmail): Date | undefined {
  return email.acceptedAt ?? uuidV7Time(email.id);
}

/** Names of the unstructured caller headers, whose values {@link foldableValue} may encode. */
const isUnstructured = (name: string): boolean => /^x-/i.test(name);

function toAttachment(attachment: Attachment): Mail.Attachment {
  return {
    filename: attachment.filename,
    content: attachment.content,
    encoding: 'base64',
    contentType: attachment.content_type,
    // Always base64: nodemailer would pick quoted-printable for some text types, which turns a
    // file's bare LF into CRLF and changes its bytes.
    contentTransferEncoding: 'base64',
    // With a cid, nodemailer puts the part into multipart/related beside the HTML (RFC 2387).
    ...(attachment.inline === true && attachment.content_id !== undefined
      ? { cid: attachment.content_id, contentDisposition: 'inline' as const }
      : { contentDisposition: 'attachment' as const }),
  };
}

/**
 * Header names as they are sent: nodemailer rewrites each name into its own capitalisation
 * (`X-Mailer-Email-Id` becomes `X-Mailer-Email-ID`); this gives back the documented spelling of
 * the id header and the caller's spelling of theirs.
 */
function spelling(names: readonly string[]): (key: string) => string {
  const spelt = new Map([EMAIL_ID_HEADER, ...names].map((name) => [name.toLowerCase(), name]));
  return (key) => spelt.get(key.toLowerCase()) ?? key;
}

/**
 * The nodemailer message for an email: the one mapping from our request to MIME fields, used by
 * the SMTP adapter directly and by {@link buildMime} for the adapters that send raw MIME.
 *
 * What it guarantees, with a request that passed the schema (no control characters in any
 * header-bound string): every line ends in CRLF, no line is longer than {@link MAX_LINE_OCTETS},
 * and the message is the same on every build of the same email (Date, Message-ID).
 */
export function toMailOptions(email: OutboundEmail): Mail.Options {
  const { request } = email;
  const date = dateOf(email);
  const callerHeaders = Object.entries(request.headers ?? {}).map(
    ([name, value]) => [name, isUnstructured(name) ? foldableValue(value) : value] as const,
  );
  return {
    // Derived from the email id, so a redelivered email keeps its Message-ID and recipients'
    // mail systems can recognise the duplicate.
    messageId: messageIdOf(email),
    ...(date === undefined ? {} : { date }),
    from: mailbox(request.from),
    ...(request.to === undefined ? {} : { to: request.to.map(mailbox) }),
    ...(request.cc === undefined ? {} : { cc: request.cc.map(mailbox) }),
    ...(request.bcc === undefined ? {} : { bcc: request.bcc.map(mailbox) }),
    ...(request.reply_to === undefined ? {} : { replyTo: request.reply_to.map(mailbox) }),
    subject: foldableValue(request.subject),
    ...(request.text === undefined || request.text === '' ? {} : { text: toCrlf(request.text) }),
    ...(request.html === undefined || request.html === '' ? {} : { html: toCrlf(request.html) }),
    headers: [...callerHeaders, [EMAIL_ID_HEADER, email.id] as const].map(([key, value]) => ({ key, value })),
    normalizeHeaderKey: spelling(Object.keys(request.headers ?? {})),
    attachments: (request.attachments ?? []).map(toAttachment),
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
