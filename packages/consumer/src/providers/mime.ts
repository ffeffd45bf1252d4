import type Mail from 'nodemailer/lib/mailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import * as mimeFuncs from 'nodemailer/lib/mime-funcs';
import { EMAIL_ID_HEADER, type Address, type Attachment } from '@mailer/contract';
import type { OutboundEmail } from './provider';
import { attachmentContentType, attachmentMediaType } from './media-type';

/** RFC 5322 section 2.1.1: no line of a message may be longer than this, CRLF excluded. */
export const MAX_LINE_OCTETS = 998;

/**
 * Longest run without white space an unstructured header value (subject, X-* value) may have
 * before it is sent as RFC 2047 encoded-words. nodemailer folds at white space after 76
 * characters, or at the end of a run that has none; a fold line is therefore at most 76
 * characters plus the longest run, and this keeps it under {@link MAX_LINE_OCTETS}.
 */
export const MAX_UNFOLDABLE_RUN = MAX_LINE_OCTETS - 76 - 2;

/** Where nodemailer folds header lines, and this module too (RFC 5322 section 2.1.1: SHOULD be 78). */
const FOLD_AT = 76;

/** Every line break as CRLF: RFC 5322 allows no other, and SES and capture files get the bytes as built. */
export function toCrlf(text: string): string {
  return text.replace(/\r\n|\r|\n/g, '\r\n');
}

/**
 * Whether a value holds `=?`, the start of an RFC 2047 encoded word. Receivers decode such text
 * wherever they find it (Python's `email`, mailparser and the common mail clients do, even inside
 * quotes), so a subject typed as `=?utf-8?B?SGFja2Vk?=` would show as "Hacked" if sent as it is.
 */
const looksEncoded = (value: string): boolean => value.includes('=?');

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
 * The subject as sent: {@link foldableValue}, or all of it as encoded words (of at most 52
 * characters) when sent as it is it would not read back as typed: text that looks like an encoded
 * word; white space at either end (dropped by header parsers); or a first run too long to follow
 * `Subject: ` on the first line, where nodemailer would fold right after the colon and parsers
 * then read a leading space (Python's `email` does).
 */
export function subjectValue(subject: string): string {
  const firstRun = subject.split(/[ \t]/, 1)[0] ?? '';
  return looksEncoded(subject) || /^\s|\s$/.test(subject) || 'Subject: '.length + firstRun.length > FOLD_AT
    ? mimeFuncs.encodeWord(subject, 'Q', 52)
    : foldableValue(subject);
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

/** RFC 2231 attribute-char: what an extended value may carry without percent-encoding. */
const ATTRIBUTE_CHAR = /^[A-Za-z0-9!#$&+.^_`|~-]$/;

/** Longest extended value (RFC 2231) in one parameter segment, so that each fits a folded line. */
const SEGMENT_LENGTH = 60;

/**
 * The parameter `attribute` carrying `value` (a file name), as mail clients read it:
 * - printable ASCII with nothing a receiver would decode: a quoted string, `name="report.pdf"`;
 * - anything else (non-ASCII, or text like an RFC 2047 encoded word, which receivers decode even
 *   in quotes): RFC 2231 `name*=utf-8''...` with every octet that is not an attribute-char
 *   percent-encoded, split into continuations (`name*0*=`, `name*1*=`, ...) when long, never
 *   inside a character. RFC 2047 words inside a quoted parameter (what nodemailer writes) are
 *   not standard and are flagged as defects by strict parsers.
 * Returns one string per segment; the caller puts each on its own folded line if needed.
 */
export function fileNameParameter(attribute: string, value: string): string[] {
  if (/^[\x20-\x7e]+$/.test(value) && !/["\\]/.test(value) && !looksEncoded(value)) {
    return [`${attribute}="${value}"`];
  }
  const pieces = Array.from(value, (character) =>
    ATTRIBUTE_CHAR.test(character)
      ? character
      : Array.from(
          Buffer.from(character, 'utf8'),
          (octet) => `%${octet.toString(16).toUpperCase().padStart(2, '0')}`,
        ).join(''),
  );
  const segments: string[] = [];
  let segment = "utf-8''";
  for (const piece of pieces) {
    if (segment.length + piece.length > SEGMENT_LENGTH && segment !== "utf-8''") {
      segments.push(segment);
      segment = '';
    }
    segment += piece;
  }
  segments.push(segment);
  return segments.length === 1
    ? [`${attribute}*=${segment}`]
    : segments.map((text, index) => `${attribute}*${index}*=${text}`);
}

/** A structured header value `value; p1; p2`, with a parameter moved to a new folded line when the line would be long. */
function withParameters(name: string, value: string, parameters: readonly string[]): string {
  let line = `${name}: ${value}`.length;
  let text = value;
  for (const parameter of parameters) {
    if (line + 2 + parameter.length > FOLD_AT) {
      text += `;\r\n ${parameter}`;
      line = 1 + parameter.length;
    } else {
      text += `; ${parameter}`;
      line += 2 + parameter.length;
    }
  }
  return text;
}

/**
 * Transfer encodings a media type allows when not base64: RFC 2046 section 5.2 lets a
 * `message/rfc822` body be only 7bit, 8bit or binary (it is a message, read as one), and
 * `message/partial` and `message/external-body` only 7bit.
 */
const IDENTITY_ENCODINGS: Readonly<Record<string, readonly ('7bit' | '8bit')[]>> = {
  'message/rfc822': ['7bit', '8bit'],
  'message/partial': ['7bit'],
  'message/external-body': ['7bit'],
};

/**
 * The transfer encoding a message/* body can go in, once its line ends are CRLF (a message's
 * canonical form): 7bit when all ASCII, 8bit when not, undefined when it can be neither (a NUL,
 * a bare CR or LF left, or a line over {@link MAX_LINE_OCTETS}), or when the type allows neither.
 */
function identityEncoding(body: Buffer, allowed: readonly ('7bit' | '8bit')[]): '7bit' | '8bit' | undefined {
  const text = body.toString('latin1');
  if (text.includes('\0')) return undefined;
  if (text.split('\r\n').some((line) => line.length > MAX_LINE_OCTETS || /[\r\n]/.test(line))) return undefined;
  const encoding = /[\x80-\xff]/.test(text) ? '8bit' : '7bit';
  return allowed.includes(encoding) ? encoding : undefined;
}

/** Base64 text in lines of 76 characters (RFC 2045 section 6.8). */
function base64Lines(base64: string): string {
  const lines: string[] = [];
  for (let at = 0; at < base64.length; at += 76) lines.push(base64.slice(at, at + 76));
  return lines.join('\r\n');
}

/**
 * One attachment as a whole MIME body part (headers and body), given to nodemailer as `raw` so
 * that nodemailer's own header building (which keeps every caller parameter, adds a second
 * `name=` and writes non-ASCII names as RFC 2047 words inside quotes) is not used.
 *
 * - `Content-Type`: {@link attachmentContentType} and `name`; `Content-Disposition`:
 *   `attachment` or `inline`, and `filename`; both names from `filename` only
 *   ({@link fileNameParameter}).
 * - The body is base64, whatever the type: nodemailer would pick quoted-printable for some text
 *   types, which turns a file's bare LF into CRLF and changes its bytes. The exception is
 *   message/rfc822 (and message/partial, message/external-body), which RFC 2046 forbids to be
 *   base64: it goes as 7bit or 8bit with CRLF line ends, or, when the content cannot be sent so,
 *   as application/octet-stream in base64, so that its bytes still arrive.
 */
function attachmentPart(attachment: Attachment): { raw: Buffer; use8Bit: boolean } {
  const inline = attachment.inline === true && attachment.content_id !== undefined;
  let contentType = attachmentContentType(attachment.content_type);
  let encoding: 'base64' | '7bit' | '8bit' = 'base64';
  let body: Buffer | undefined;
  const allowed = IDENTITY_ENCODINGS[attachmentMediaType(attachment.content_type).type];
  if (allowed !== undefined) {
    const message = Buffer.from(toCrlf(Buffer.from(attachment.content, 'base64').toString('latin1')), 'latin1');
    const identity = identityEncoding(message, allowed);
    if (identity === undefined) {
      contentType = 'application/octet-stream';
    } else {
      encoding = identity;
      body = message;
    }
  }
  const headers = [
    `Content-Type: ${withParameters('Content-Type', contentType, fileNameParameter('name', attachment.filename))}`,
    `Content-Transfer-Encoding: ${encoding}`,
    `Content-Disposition: ${withParameters(
      'Content-Disposition',
      inline ? 'inline' : 'attachment',
      fileNameParameter('filename', attachment.filename),
    )}`,
    ...(inline ? [`Content-ID: <${attachment.content_id}>`] : []),
  ];
  // The schema guarantees padded standard base64, so the caller's text is the body as it is.
  // No line end after the body: the CRLF before the next boundary belongs to the boundary.
  const content = body ?? Buffer.from(base64Lines(attachment.content), 'latin1');
  return {
    raw: Buffer.concat([Buffer.from(`${headers.join('\r\n')}\r\n\r\n`, 'latin1'), content]),
    use8Bit: encoding === '8bit',
  };
}

/** Words of RFC 5322 atext with single spaces: a display name that may be sent as it is. */
const ATOMS = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

/**
 * A display name as an RFC 5322 phrase: as it is when it is atoms (words of letters, digits and
 * the like) with single spaces between them, else all of it as RFC 2047 encoded words. Names with
 * non-ASCII text, punctuation such as `.` or `,`, white space to keep, or text like an encoded word
 * are thus sent encoded, and read back as typed. No quoted strings: receivers decode `=?...?=`
 * even inside quotes, and the header is written as one nodemailer does not re-encode (see
 * {@link addressHeaders}), which a `"` would make it do.
 */
function phrase(name: string): string {
  if (ATOMS.test(name) && !looksEncoded(name)) return name;
  // nodemailer's choice: Q for mostly-Latin text, B for the rest.
  const nonLatin = (name.match(/[^\p{ASCII}]/gu) ?? []).length;
  const latin = (name.match(/[a-z]/gi) ?? []).length;
  return mimeFuncs.encodeWord(name, nonLatin < latin ? 'Q' : 'B', 52);
}

/** A mailbox as written in From, To, Cc and Reply-To. */
function mailboxText(address: Address): string {
  return address.name === undefined || address.name === ''
    ? address.email
    : `${phrase(address.name)} <${address.email}>`;
}

/**
 * The address headers, under stand-in names that {@link spelling} turns back into From, To, Cc
 * and Reply-To as the message is written. nodemailer re-formats a header it knows as an address
 * header, and quotes a name that looks like an encoded word instead of encoding it; it writes a
 * header of another name as it is when the value is ASCII with no `"` (as {@link phrase} makes
 * it), folding it at white space.
 */
const ADDRESS_HEADERS = [
  ['From', 'X-Mailer-Address-From'],
  ['To', 'X-Mailer-Address-To'],
  ['Cc', 'X-Mailer-Address-Cc'],
  ['Reply-To', 'X-Mailer-Address-Reply-To'],
] as const;

/**
 * Addresses are ASCII dot-atoms (the schema's `email` format) and names are made ASCII with no
 * `"` by {@link phrase}, so nodemailer writes these values as they are.
 */
function addressHeaders(request: OutboundEmail['request']): Record<string, string> {
  const lists = [[request.from], request.to, request.cc, request.reply_to];
  return Object.fromEntries(
    ADDRESS_HEADERS.flatMap(([, standIn], index) => {
      const list = lists[index];
      return list === undefined || list.length === 0 ? [] : [[standIn, list.map(mailboxText).join(', ')]];
    }),
  );
}

/**
 * Header names as they are sent: nodemailer rewrites each name into its own capitalisation
 * (`X-Mailer-Email-Id` becomes `X-Mailer-Email-ID`); this gives back the documented spelling of
 * the id header and the caller's spelling of theirs.
 */
function spelling(names: readonly string[]): (key: string) => string {
  const spelt = new Map<string, string>([
    ...[EMAIL_ID_HEADER, ...names].map((name) => [name.toLowerCase(), name] as const),
    ...ADDRESS_HEADERS.map(([name, standIn]) => [standIn.toLowerCase(), name] as const),
  ]);
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
  const attachments = (request.attachments ?? []).map((attachment) => ({
    part: attachmentPart(attachment),
    cid: attachment.inline === true ? attachment.content_id : undefined,
  }));
  const envelope: Mail.Envelope & { use8BitMime?: boolean } = {
    from: request.from.email,
    to: envelopeRecipients(email).join(', '),
    // Declares 8-bit data (BODY=8BITMIME) to a server that offers it, for an 8bit message/rfc822 part.
    ...(attachments.some(({ part }) => part.use8Bit) ? { use8BitMime: true } : {}),
  };
  return {
    // Derived from the email id, so a redelivered email keeps its Message-ID and recipients'
    // mail systems can recognise the duplicate.
    messageId: messageIdOf(email),
    ...(date === undefined ? {} : { date }),
    // The address headers are written here (addressHeaders), so nodemailer gets no from/to/cc/bcc
    // to build them from and takes the SMTP envelope from here: Bcc recipients only in it.
    envelope,
    subject: subjectValue(request.subject),
    ...(request.text === undefined || request.text === '' ? {} : { text: toCrlf(request.text) }),
    ...(request.html === undefined || request.html === '' ? {} : { html: toCrlf(request.html) }),
    headers: {
      ...addressHeaders(request),
      ...Object.fromEntries(
        Object.entries(request.headers ?? {}).map(([name, value]) => [
          name,
          isUnstructured(name) ? foldableValue(value) : value,
        ]),
      ),
      [EMAIL_ID_HEADER]: email.id,
    },
    normalizeHeaderKey: spelling(Object.keys(request.headers ?? {})),
    // With a cid, nodemailer puts the part into multipart/related beside the HTML (RFC 2387).
    attachments: attachments.map(({ part, cid }) => ({ raw: part.raw, ...(cid === undefined ? {} : { cid }) })),
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
