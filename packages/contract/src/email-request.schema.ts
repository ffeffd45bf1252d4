import type { FromSchema } from 'json-schema-to-ts';

/** Largest number of recipients (to + cc + bcc) one email may have; SES refuses more than 50. */
export const MAX_RECIPIENTS = 50;

/**
 * Largest decoded size of all attachments of one email. Base64 in MIME grows content by a third,
 * so this keeps the whole message under the 10 MB that SES (v1) and Postmark accept.
 */
export const MAX_ATTACHMENT_BYTES = 7 * 1024 * 1024;

/** Prefix of the headers the mailer sets itself (X-Mailer and X-Mailer-*); callers may not send them. */
export const RESERVED_HEADER_PREFIX = 'x-mailer';

/** No line breaks and no other control characters but tab: each of these strings ends up in a header. */
const noControlCharacters = '^[^\\u0000-\\u0008\\u000A-\\u001F\\u007F]*$';

const address = {
  type: 'object',
  description: 'A mailbox: an address and an optional display name.',
  additionalProperties: false,
  required: ['email'],
  properties: {
    email: { type: 'string', format: 'email', maxLength: 254 },
    name: { type: 'string', maxLength: 256, pattern: noControlCharacters },
  },
} as const;

const addressList = {
  type: 'array',
  maxItems: MAX_RECIPIENTS,
  items: address,
} as const;

/**
 * The body of `POST /v1/emails`, and of each item of `POST /v1/emails/batch`.
 *
 * This one schema drives ajv validation (producer and consumer), the TypeScript type
 * {@link EmailRequest} and the OpenAPI document. Rules that JSON Schema cannot say clearly
 * (at least one recipient, `text` or `html`, the attachment size cap) are in `validation.ts`
 * and named in the descriptions here.
 */
export const emailRequestSchema = {
  $id: 'https://mailer.local/schemas/email-request.json',
  title: 'EmailRequest',
  type: 'object',
  description:
    'One transactional email. At least one recipient across to, cc and bcc (at most 50 in total), and text, html or both.',
  additionalProperties: false,
  required: ['from', 'subject'],
  properties: {
    from: address,
    to: addressList,
    cc: addressList,
    bcc: addressList,
    reply_to: addressList,
    subject: { type: 'string', minLength: 1, maxLength: 998, pattern: noControlCharacters },
    text: { type: 'string', maxLength: 5_000_000 },
    html: { type: 'string', maxLength: 5_000_000 },
    headers: {
      type: 'object',
      description:
        'Custom headers. Names must start with X- (X-Mailer and X-Mailer-* are reserved); no line breaks or control characters.',
      maxProperties: 20,
      propertyNames: { pattern: '^[Xx]-[A-Za-z0-9-]{1,76}$' },
      additionalProperties: { type: 'string', maxLength: 998, pattern: noControlCharacters },
    },
    attachments: {
      type: 'array',
      description: `Files to attach; their decoded size is at most ${MAX_ATTACHMENT_BYTES} bytes in total.`,
      maxItems: 10,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['filename', 'content', 'content_type'],
        properties: {
          filename: {
            type: 'string',
            minLength: 1,
            maxLength: 255,
            pattern: '^[^\\r\\n/\\\\"]+$',
          },
          content: {
            type: 'string',
            description: 'Standard base64 (RFC 4648 section 4), padded: its length is a multiple of 4.',
            minLength: 4,
            // One character class, no repeated group: a grouped pattern overflows V8's regexp stack on MBs.
            pattern: '^[A-Za-z0-9+/]+={0,2}$',
          },
          content_type: {
            type: 'string',
            maxLength: 255,
            pattern: '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$',
          },
        },
      },
    },
    tags: {
      type: 'object',
      description: 'Short labels for filtering and reporting.',
      maxProperties: 10,
      propertyNames: { pattern: '^[A-Za-z0-9_.-]{1,64}$' },
      additionalProperties: { type: 'string', maxLength: 256, pattern: noControlCharacters },
    },
    metadata: {
      type: 'object',
      description: 'Flat caller data carried through to delivery events; scalar values only.',
      maxProperties: 20,
      propertyNames: { maxLength: 64 },
      additionalProperties: {
        type: ['string', 'number', 'boolean', 'null'],
        maxLength: 1000,
      },
    },
  },
} as const;

/** A validated email request, typed from {@link emailRequestSchema}. */
export type EmailRequest = FromSchema<typeof emailRequestSchema>;

/** A mailbox as it appears in {@link EmailRequest}. */
export type Address = FromSchema<typeof address>;
