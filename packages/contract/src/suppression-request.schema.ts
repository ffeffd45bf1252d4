import { Patterns } from './email-request.schema';
import { SUPPRESSION_REASONS } from './feedback-records';

/** The longest note kept with a suppression entry or its removal (the ledger keeps 500 characters). */
export const MAX_SUPPRESSION_NOTE_LENGTH = 500;

/** Entries on one page of `GET /v1/suppressions` at most, and when `limit` is not given. */
export const MAX_SUPPRESSION_PAGE_SIZE = 100;
export const DEFAULT_SUPPRESSION_PAGE_SIZE = 50;

/** The longest `cursor` taken back (the ledger's cursors are about 40 characters). */
export const MAX_SUPPRESSION_CURSOR_LENGTH = 200;

/** The reasons a caller may give when adding an entry; the others come from providers' events. */
export const CALLER_SUPPRESSION_REASONS = ['manual'] as const;

/** An RFC 3339 date-time with an offset, as the API writes them (`2027-01-31T08:00:00Z`). */
export const RFC3339_PATTERN =
  '^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(?:\\.\\d{1,9})?(?:[Zz]|[+-]\\d{2}:\\d{2})$';

/** A whole number from 1 to {@link MAX_SUPPRESSION_PAGE_SIZE}, as a query parameter carries it. */
export const PAGE_LIMIT_PATTERN = '^(?:[1-9]\\d?|100)$';

/** The recipient, as intake accepts one (`to[].email`): looked up by its keys, never stored. */
const address = {
  type: 'string',
  format: 'email',
  maxLength: 254,
  description:
    'The full address. It is hashed with the recipient key (HMAC) to find the entry, and is never stored, logged or ' +
    'answered: the answer shows it masked (j***@example.org).',
} as const;

const note = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_SUPPRESSION_NOTE_LENGTH,
  pattern: Patterns.noControlCharacters,
  description: 'Why, for the history: no control characters; any address in it is stored masked.',
} as const;

/** The body of `POST /v1/suppressions`. */
export const suppressionAddSchema = {
  $id: 'https://mailer.local/schemas/suppression-add.json',
  title: 'SuppressionAdd',
  description:
    'Puts an address on the suppression list. Rules checked beyond this schema, each a 400 /problems/validation: ' +
    'expires_at must be a time that exists and lies in the future ("must be in the future").',
  type: 'object',
  additionalProperties: false,
  required: ['email'],
  properties: {
    email: address,
    reason: {
      type: 'string',
      enum: [...CALLER_SUPPRESSION_REASONS],
      description: 'Only manual: hard-bounce, complaint, recipient-rejected and unsubscribed come from the providers.',
    },
    note,
    expires_at: {
      type: 'string',
      format: 'date-time',
      pattern: RFC3339_PATTERN,
      description: 'RFC 3339 with an offset; absent, the entry stays until removed.',
    },
  },
} as const;

/** The query of `GET /v1/suppressions?email=...`: one address, nothing else. */
export const suppressionLookupQuerySchema = {
  $id: 'https://mailer.local/schemas/suppression-lookup-query.json',
  type: 'object',
  additionalProperties: false,
  required: ['email'],
  properties: { email: address },
} as const;

/** The query of `DELETE /v1/suppressions?email=...&note=...`. */
export const suppressionRemoveQuerySchema = {
  $id: 'https://mailer.local/schemas/suppression-remove-query.json',
  type: 'object',
  additionalProperties: false,
  required: ['email'],
  properties: { email: address, note },
} as const;

/** The query of `GET /v1/suppressions` listing the entries. */
export const suppressionListQuerySchema = {
  $id: 'https://mailer.local/schemas/suppression-list-query.json',
  type: 'object',
  additionalProperties: false,
  properties: {
    reason: { type: 'string', enum: [...SUPPRESSION_REASONS] },
    limit: { type: 'string', pattern: PAGE_LIMIT_PATTERN },
    // Empty is the first page, as on the emails list.
    cursor: { type: 'string', maxLength: MAX_SUPPRESSION_CURSOR_LENGTH },
  },
} as const;
