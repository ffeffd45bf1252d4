import type { FromSchema } from 'json-schema-to-ts';

/** Largest number of recipients (to + cc + bcc) one email may have; SES refuses more than 50. */
export const MAX_RECIPIENTS = 50;

/**
 * Largest decoded size of all attachments of one email. Base64 in MIME grows content by a third,
 * so this keeps the whole message under the 10 MB that SES (v1) and Postmark accept.
 */
export const MAX_ATTACHMENT_BYTES = 7 * 1024 * 1024;

/** Longest base64 text of one attachment: what {@link MAX_ATTACHMENT_BYTES} decoded bytes encode to. */
export const MAX_ATTACHMENT_BASE64_LENGTH = Math.ceil(MAX_ATTACHMENT_BYTES / 3) * 4;

/**
 * The `metadata` name the mailer sets itself: Postmark's `Metadata.email_id` carries the email's id
 * out and back in its webhooks. Callers may not use it, in any case (Postmark's metadata names are
 * unique ignoring case).
 */
export const RESERVED_METADATA_NAME = 'email_id';

/** Prefix of the headers the mailer sets itself (X-Mailer and X-Mailer-*); callers may not send them. */
export const RESERVED_HEADER_PREFIX = 'x-mailer';

/** The standard headers a caller may set beside `X-*` ones, spelt as RFC 2369, 8058 and 5322 do. */
export const STANDARD_CALLER_HEADERS = [
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
  'In-Reply-To',
  'References',
] as const;

/** The one value RFC 8058 allows in `List-Unsubscribe-Post`. */
export const ONE_CLICK_UNSUBSCRIBE = 'List-Unsubscribe=One-Click';

/** `[Ll][Ii]...`: matches `name` in any case (ECMA-262 patterns have no inline case flag). */
function anyCase(name: string): string {
  return Array.from(name, (c) => (/[A-Za-z]/.test(c) ? `[${c.toUpperCase()}${c.toLowerCase()}]` : c)).join('');
}

/**
 * Control characters: C0 (tab included), DEL and C1. None may reach a header line: a line break
 * there injects headers, and the others are refused or mangled by mail systems.
 */
const CONTROL = '\\u0000-\\u001F\\u007F-\\u009F';

/** RFC 5322 atext, dot-atom-text and no-fold-literal. */
const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
const DOT_ATOM = `${ATEXT}+(?:\\.${ATEXT}+)*`;
const MSG_ID_CORE = `${DOT_ATOM}@(?:${DOT_ATOM}|\\[[\\x21-\\x5A\\x5E-\\x7E]*\\])`;
/** An RFC 2045 token (also RFC 6838 restricted-name characters for type and subtype). */
const TOKEN = "[A-Za-z0-9!#$%&'*+.^_`{|}~-]+";

/** The patterns of the schema, so that `validation.ts` can say in words what each means. */
export const Patterns = {
  noControlCharacters: `^[^${CONTROL}]*$`,
  filename: `^[^${CONTROL}/\\\\"]+$`,
  /** RFC 2045 `type "/" subtype *(";" attribute "=" value)`, the value a token or a quoted string. */
  mediaType: `^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(?:[ ]*;[ ]*${TOKEN}=(?:${TOKEN}|"[^"\\\\${CONTROL}\\u00A0-\\uFFFF]*"))*$`,
  /** A multipart media type: an attachment is one body part of bytes, never a container of parts. */
  multipart: `^${anyCase('multipart')}/`,
  // One character class, no repeated group: a grouped pattern overflows V8's regexp stack on MBs.
  base64: '^[A-Za-z0-9+/]+={0,2}$',
  headerName: `^(?:[Xx]-[A-Za-z0-9-]{1,76}|${STANDARD_CALLER_HEADERS.map(anyCase).join('|')})$`,
  reservedHeaderName: `^${anyCase('X-Mailer')}(?:-|$)`,
  reservedMetadataName: `^${anyCase(RESERVED_METADATA_NAME)}$`,
  tagName: '^[A-Za-z0-9_.-]{1,64}$',
  /** RFC 2392 content-id: an RFC 5322 msg-id without its angle brackets. */
  contentId: `^${MSG_ID_CORE}$`,
  /** One or more RFC 5322 msg-id (`<left@right>`), separated by spaces. */
  msgIdList: `^<${MSG_ID_CORE}>(?:[ ]+<${MSG_ID_CORE}>)*$`,
  /** RFC 2369: one or more `<URI>` (printable ASCII), separated by commas. */
  listUnsubscribe: '^<[\\x21-\\x3B\\x3D\\x3F-\\x7E]+>(?:[ ]*,[ ]*<[\\x21-\\x3B\\x3D\\x3F-\\x7E]+>)*$',
  /** One of the URIs is https: RFC 8058 one-click unsubscribe needs one. */
  httpsUri: `<${anyCase('https')}://`,
};

/** The exact-name pattern of a standard header, any case. */
const standardHeader = (name: (typeof STANDARD_CALLER_HEADERS)[number]): string => `^${anyCase(name)}$`;

/** Longest value of a header whose value cannot be folded: its line (`Name: value`) fits in 998 octets. */
const unfoldedMax = (name: string): number => 998 - name.length - 2;

const headerBound = { type: 'string', pattern: Patterns.noControlCharacters } as const;

const address = {
  type: 'object',
  description: 'A mailbox: an address and an optional display name (no control characters).',
  additionalProperties: false,
  required: ['email'],
  properties: {
    email: { type: 'string', format: 'email', maxLength: 254 },
    name: { ...headerBound, maxLength: 256 },
  },
} as const;

const addressList = {
  type: 'array',
  maxItems: MAX_RECIPIENTS,
  items: address,
} as const;

const attachmentShape = {
  type: 'object',
  additionalProperties: false,
  required: ['filename', 'content', 'content_type'],
  properties: {
    filename: {
      type: 'string',
      description: 'No control characters, slashes, backslashes or double quotes.',
      minLength: 1,
      maxLength: 255,
      pattern: Patterns.filename,
    },
    content: {
      type: 'string',
      description:
        'Standard padded base64 (RFC 4648 section 4). Its length must be a multiple of 4 ' +
        '("must be padded standard base64 (length a multiple of 4)"); all attachments together decode to at most ' +
        `${MAX_ATTACHMENT_BYTES} bytes (413 /problems/too-large).`,
      minLength: 4,
      maxLength: MAX_ATTACHMENT_BASE64_LENGTH,
      pattern: Patterns.base64,
    },
    content_type: {
      type: 'string',
      description:
        'A media type, with parameters if needed (RFC 2045): `application/pdf`, `text/plain; charset=utf-8`; not multipart/*.',
      maxLength: 255,
      pattern: Patterns.mediaType,
    },
    inline: {
      type: 'boolean',
      description:
        'true: shown in the HTML body, which refers to it as `cid:<content_id>` (Content-Disposition: inline, ' +
        'in a multipart/related part). Needs `content_id`.',
    },
    content_id: {
      type: 'string',
      description:
        'RFC 2392 content-id without angle brackets, e.g. `logo@example.com`; only with `inline: true`, unique within the email.',
      maxLength: 250,
      pattern: Patterns.contentId,
    },
  },
} as const;

/** Schemas of the rules that tie fields together, named so that `validation.ts` can word their errors. */
export const Rules = {
  /** At least one recipient across to, cc and bcc. */
  recipient: {
    anyOf: (['to', 'cc', 'bcc'] as const).map((field) => ({
      type: 'object',
      required: [field],
      properties: { [field]: { type: 'array', minItems: 1 } },
    })),
  },
  /** A non-empty text or html body. */
  body: {
    anyOf: (['text', 'html'] as const).map((field) => ({
      type: 'object',
      required: [field],
      properties: { [field]: { type: 'string', minLength: 1 } },
    })),
  },
  /** `inline: true` needs a `content_id`. */
  inlineNeedsContentId: {
    if: { type: 'object', required: ['inline'], properties: { inline: { const: true } } },
    then: { type: 'object', required: ['content_id'], properties: { content_id: true } },
  },
  /** A `content_id` only on an inline attachment. */
  contentIdNeedsInline: {
    if: { type: 'object', required: ['content_id'], properties: { content_id: true } },
    then: { type: 'object', required: ['inline'], properties: { inline: { const: true } } },
  },
  /** An attachment is not multipart. */
  notMultipart: { not: { type: 'string', pattern: Patterns.multipart } },
  /** X-Mailer and X-Mailer-* are the mailer's own. */
  reservedHeader: { not: { type: 'string', pattern: Patterns.reservedHeaderName } },
  /** `metadata.email_id` (any case) is the mailer's own. */
  reservedMetadataName: { not: { type: 'string', pattern: Patterns.reservedMetadataName } } as const,
  /** RFC 8058: List-Unsubscribe-Post only beside a List-Unsubscribe with an https URI. */
  oneClickNeedsHttps: {
    // Some header is named List-Unsubscribe-Post...
    if: {
      type: 'object',
      not: {
        type: 'object',
        propertyNames: { not: { type: 'string', pattern: standardHeader('List-Unsubscribe-Post') } },
      },
    },
    // ...then some List-Unsubscribe header has an https URI.
    then: {
      type: 'object',
      not: {
        type: 'object',
        patternProperties: {
          [standardHeader('List-Unsubscribe')]: { not: { type: 'string', pattern: Patterns.httpsUri } },
        },
      },
    },
  },
};

const headersShape = {
  type: 'object',
  maxProperties: 20,
  additionalProperties: { type: 'string', maxLength: 998 },
} as const;

const requestShape = {
  type: 'object',
  additionalProperties: false,
  required: ['from', 'subject'],
  properties: {
    from: address,
    to: addressList,
    cc: addressList,
    bcc: addressList,
    reply_to: addressList,
    subject: { ...headerBound, minLength: 1, maxLength: 998 },
    text: { type: 'string', maxLength: 5_000_000 },
    html: { type: 'string', maxLength: 5_000_000 },
    headers: headersShape,
    attachments: {
      type: 'array',
      description:
        `Files to attach, at most ${MAX_ATTACHMENT_BYTES} bytes decoded in total (413 /problems/too-large), ` +
        'each content_id used once ("repeats a content_id").',
      maxItems: 10,
      items: attachmentShape,
    },
    tags: {
      type: 'object',
      description: 'Short labels for filtering and reporting.',
      maxProperties: 10,
      propertyNames: { pattern: Patterns.tagName },
      additionalProperties: { ...headerBound, maxLength: 256 },
    },
    metadata: {
      type: 'object',
      description:
        'Flat caller data carried through to delivery events; scalar values only. The name email_id (in any case) ' +
        "is the mailer's own: it carries the email id to Postmark.",
      maxProperties: 20,
      propertyNames: { maxLength: 64, allOf: [Rules.reservedMetadataName] },
      additionalProperties: {
        type: ['string', 'number', 'boolean', 'null'],
        maxLength: 1000,
      },
    },
  },
} as const;

/**
 * The body of `POST /v1/emails`, and of each item of `POST /v1/emails/batch`.
 *
 * This one schema drives ajv validation (producer and consumer), the TypeScript type
 * {@link EmailRequest} and the OpenAPI document. The few rules JSON Schema cannot say (the
 * recipient total, base64 length, attachment total, repeated names, lone surrogates) are in
 * `validation.ts` and named in the descriptions here with the error each gives.
 */
export const emailRequestSchema = {
  $id: 'https://mailer.local/schemas/email-request.json',
  title: 'EmailRequest',
  ...requestShape,
  description:
    'One transactional email. At least one recipient across to, cc and bcc, and a non-empty text or html (or both). ' +
    'Rules checked beyond this schema, each a 400 /problems/validation naming its pointer: at most ' +
    `${MAX_RECIPIENTS} recipients in total across to, cc and bcc ("at most ${MAX_RECIPIENTS} recipients in total ` +
    'across to, cc and bcc (got N)" at /to); every string and property name well-formed Unicode ("must be ' +
    'well-formed Unicode (no lone surrogates)", or for a name "name must be well-formed Unicode (no lone surrogates)"); ' +
    'header names unique in any case; the attachment rules described there.',
  properties: {
    ...requestShape.properties,
    headers: {
      ...headersShape,
      description:
        'Custom headers: names starting with X- (X-Mailer and X-Mailer-* are reserved), or List-Unsubscribe ' +
        '(RFC 2369 `<uri>` list), List-Unsubscribe-Post (RFC 8058: exactly `List-Unsubscribe=One-Click`, and only ' +
        'with a List-Unsubscribe that has an https URI), In-Reply-To and References (RFC 5322 msg-ids). ' +
        'No control characters. A name may be used once in any case ("repeats a header name (names are case-insensitive)").',
      propertyNames: { allOf: [{ type: 'string', pattern: Patterns.headerName }, Rules.reservedHeader] },
      patternProperties: {
        [standardHeader('List-Unsubscribe')]: {
          type: 'string',
          maxLength: unfoldedMax('List-Unsubscribe'),
          pattern: Patterns.listUnsubscribe,
        },
        [standardHeader('List-Unsubscribe-Post')]: { type: 'string', const: ONE_CLICK_UNSUBSCRIBE },
        [standardHeader('In-Reply-To')]: {
          type: 'string',
          maxLength: unfoldedMax('In-Reply-To'),
          pattern: Patterns.msgIdList,
        },
        [standardHeader('References')]: {
          type: 'string',
          maxLength: unfoldedMax('References'),
          pattern: Patterns.msgIdList,
        },
      },
      additionalProperties: { ...headerBound, maxLength: 998 },
      allOf: [Rules.oneClickNeedsHttps],
    },
    attachments: {
      ...requestShape.properties.attachments,
      items: {
        ...attachmentShape,
        properties: {
          ...attachmentShape.properties,
          content_type: { ...attachmentShape.properties.content_type, allOf: [Rules.notMultipart] },
        },
        allOf: [Rules.inlineNeedsContentId, Rules.contentIdNeedsInline],
      },
    },
  },
  allOf: [Rules.recipient, Rules.body],
} as const;

/** A validated email request, typed from the shape of {@link emailRequestSchema} (its rules only narrow it). */
export type EmailRequest = FromSchema<typeof requestShape>;

/** A mailbox as it appears in {@link EmailRequest}. */
export type Address = FromSchema<typeof address>;

/** An attachment as it appears in {@link EmailRequest}. */
export type Attachment = FromSchema<typeof attachmentShape>;
