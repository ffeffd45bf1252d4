import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import {
  MAX_ATTACHMENT_BYTES,
  MAX_RECIPIENTS,
  RESERVED_HEADER_PREFIX,
  emailRequestSchema,
  type EmailRequest,
} from './email-request.schema';

/** Largest number of emails in one `POST /v1/emails/batch` call. */
export const MAX_BATCH_SIZE = 100;

/** The body of `POST /v1/emails/batch`. */
export const emailBatchSchema = {
  $id: 'https://mailer.local/schemas/email-batch.json',
  title: 'EmailBatch',
  type: 'object',
  additionalProperties: false,
  required: ['emails'],
  properties: {
    emails: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_BATCH_SIZE,
      items: { $ref: emailRequestSchema.$id },
    },
  },
} as const;

/** One thing wrong with a request: where (an RFC 6901 JSON pointer into the body) and what. */
export interface ValidationProblem {
  readonly pointer: string;
  readonly detail: string;
}

/** The outcome of validating a request body: either the typed value or every problem found. */
export type Validated<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problems: readonly ValidationProblem[] };

function escapePointerToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

function describe(error: ErrorObject): ValidationProblem {
  const params = error.params as Record<string, unknown>;
  if (error.propertyName !== undefined) {
    // An error inside `propertyNames`: it is about the name of a property, so point at that.
    const pointer = `${error.instancePath}/${escapePointerToken(error.propertyName)}`;
    const detail = error.keyword === 'pattern' ? patternDetail(String(params['pattern'])) : (error.message ?? '');
    return { pointer, detail: `name ${detail}` };
  }
  switch (error.keyword) {
    case 'required':
      return {
        pointer: `${error.instancePath}/${escapePointerToken(String(params['missingProperty']))}`,
        detail: 'is required',
      };
    case 'additionalProperties':
      return {
        pointer: `${error.instancePath}/${escapePointerToken(String(params['additionalProperty']))}`,
        detail: 'is not an allowed property',
      };
    case 'pattern':
      return {
        pointer: error.instancePath,
        detail: patternDetail(String(params['pattern'])),
      };
    default:
      return { pointer: error.instancePath, detail: error.message ?? 'is invalid' };
  }
}

/** Patterns are unreadable in a message; say what they mean instead. */
function patternDetail(pattern: string): string {
  if (pattern.startsWith('^[^\\u0000')) return 'must not contain line breaks or other control characters';
  if (pattern.startsWith('^[Xx]-')) return 'must be a header name starting with X-';
  if (pattern.startsWith('^[A-Za-z0-9+/]+')) return 'must be padded standard base64';
  if (pattern.startsWith('^[^\\r\\n/')) return 'must not contain line breaks, slashes or quotes';
  if (pattern.includes('/[A-Za-z0-9]')) return 'must be a media type such as application/pdf';
  if (pattern.startsWith('^[A-Za-z0-9_.-]')) return 'must be 1-64 letters, digits, _ . or -';
  return `must match pattern ${pattern}`;
}

/** Decoded byte length of padded base64 text that the schema already accepted. */
export function base64DecodedLength(content: string): number {
  const padding = content.endsWith('==') ? 2 : content.endsWith('=') ? 1 : 0;
  return (content.length / 4) * 3 - padding;
}

/** Total decoded size of an email's attachments, in bytes. */
export function attachmentBytes(email: EmailRequest): number {
  let total = 0;
  for (const attachment of email.attachments ?? []) {
    total += base64DecodedLength(attachment.content);
  }
  return total;
}

/** True when the attachments of `email` are over {@link MAX_ATTACHMENT_BYTES}. */
export function isOverAttachmentCap(email: EmailRequest): boolean {
  return attachmentBytes(email) > MAX_ATTACHMENT_BYTES;
}

/** Rules JSON Schema cannot state clearly, checked on a value that passed the schema. */
function crossFieldProblems(email: EmailRequest, base: string): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const recipients = (email.to?.length ?? 0) + (email.cc?.length ?? 0) + (email.bcc?.length ?? 0);
  if (recipients === 0) {
    problems.push({ pointer: `${base}/to`, detail: 'at least one recipient is required in to, cc or bcc' });
  } else if (recipients > MAX_RECIPIENTS) {
    problems.push({
      pointer: `${base}/to`,
      detail: `at most ${MAX_RECIPIENTS} recipients in total across to, cc and bcc (got ${recipients})`,
    });
  }
  if (email.text === undefined && email.html === undefined) {
    problems.push({ pointer: `${base}/text`, detail: 'text or html (or both) is required' });
  }
  (email.attachments ?? []).forEach((attachment, index) => {
    if (attachment.content.length % 4 !== 0) {
      problems.push({
        pointer: `${base}/attachments/${index}/content`,
        detail: 'must be padded standard base64 (length a multiple of 4)',
      });
    }
  });
  const seen = new Set<string>();
  for (const name of Object.keys(email.headers ?? {})) {
    const lower = name.toLowerCase();
    const pointer = `${base}/headers/${escapePointerToken(name)}`;
    if (lower === RESERVED_HEADER_PREFIX || lower.startsWith(`${RESERVED_HEADER_PREFIX}-`)) {
      problems.push({ pointer, detail: 'X-Mailer and X-Mailer-* headers are reserved for the mailer' });
    }
    if (seen.has(lower)) {
      problems.push({ pointer, detail: 'repeats a header name (names are case-insensitive)' });
    }
    seen.add(lower);
  }
  return problems;
}

function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  addFormats(ajv, ['email']);
  ajv.addSchema(emailRequestSchema);
  return ajv;
}

let compiled: { email: ValidateFunction; batch: ValidateFunction } | undefined;

function validators(): { email: ValidateFunction; batch: ValidateFunction } {
  if (compiled === undefined) {
    const ajv = createAjv();
    const email = ajv.getSchema(emailRequestSchema.$id);
    if (email === undefined) throw new Error('email request schema failed to compile');
    compiled = { email, batch: ajv.compile(emailBatchSchema) };
  }
  return compiled;
}

/** Turns ajv errors into problems, dropping the summary ajv adds after each `propertyNames` error. */
function describeAll(errors: readonly ErrorObject[] | null | undefined): ValidationProblem[] {
  return (errors ?? []).filter((error) => error.keyword !== 'propertyNames').map(describe);
}

function unique(problems: ValidationProblem[]): ValidationProblem[] {
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const key = `${problem.pointer}\u0000${problem.detail}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Validates one email request: the schema, then the cross-field rules. Reports every problem. */
export function validateEmailRequest(body: unknown): Validated<EmailRequest> {
  const check = validators().email;
  if (!check(body)) {
    return { ok: false, problems: describeAll(check.errors) };
  }
  const email = body as EmailRequest;
  const problems = crossFieldProblems(email, '');
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: email };
}

/**
 * Validates a batch body. All or nothing: every problem of every item is reported, with pointers
 * such as `/emails/3/subject` that name the item by index.
 */
export function validateEmailBatch(body: unknown): Validated<EmailRequest[]> {
  const check = validators().batch;
  const problems: ValidationProblem[] = [];
  if (!check(body)) {
    problems.push(...describeAll(check.errors));
  }
  const emails = (body as { emails?: unknown } | null)?.emails;
  if (Array.isArray(emails)) {
    const emailCheck = validators().email;
    emails.forEach((email: unknown, index) => {
      if (emailCheck(email)) {
        problems.push(...crossFieldProblems(email as EmailRequest, `/emails/${index}`));
      }
    });
  }
  if (problems.length > 0) return { ok: false, problems: unique(problems) };
  return { ok: true, value: (body as { emails: EmailRequest[] }).emails };
}

/** Index of the batch item a pointer such as `/emails/3/subject` names, if any. */
export function batchIndexOf(pointer: string): number | undefined {
  const match = /^\/emails\/(\d+)(?:\/|$)/.exec(pointer);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
