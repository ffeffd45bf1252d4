/*
 * Attachment media types as sent, apart from the MIME composer (./mime.ts) so that the Postmark
 * adapter, which sends JSON, does not load nodemailer (about 25 MB of a consumer's memory).
 */

/** RFC 2045 token: what may stand unquoted as a parameter value. */
const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`{|}~-]+$/;

/**
 * The media type of an attachment as sent: its type/subtype (lower case) and, of its parameters,
 * only `charset`. Any other caller parameter is dropped: `name` and `filename` are written from
 * the attachment's checked `filename` alone, and the rest (`boundary`, ...) mean nothing on a
 * single part of bytes or would contradict the message. The Postmark adapter, which sends no
 * MIME of its own, can send the same value.
 */
export function attachmentMediaType(contentType: string): { readonly type: string; readonly charset?: string } {
  const semicolon = contentType.indexOf(';');
  const type = (semicolon < 0 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
  if (semicolon < 0) return { type };
  // The schema allows only `token=token` or `token="quoted"` parameters, in at most 255 characters.
  for (const [, attribute = '', raw = ''] of contentType
    .slice(semicolon)
    .matchAll(/;\s*([^=;\s]+)\s*=\s*("[^"]*"|[^;\s]*)/g)) {
    if (attribute.toLowerCase() !== 'charset') continue;
    const charset = raw.startsWith('"') ? raw.slice(1, -1) : raw;
    // The first charset only: a repeated parameter is a defect receivers resolve differently.
    return TOKEN.test(charset) ? { type, charset } : { type };
  }
  return { type };
}

/** {@link attachmentMediaType} as a Content-Type value, without the name parameter. */
export function attachmentContentType(contentType: string): string {
  const { type, charset } = attachmentMediaType(contentType);
  return charset === undefined ? type : `${type}; charset=${charset}`;
}
