import { Ajv2020 as Ajv, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import {
  MAX_ATTACHMENT_BYTES,
  MAX_RECIPIENTS,
  Patterns,
  Rules,
  STANDARD_CALLER_HEADERS,
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

/** What each pattern of the schema means, said in words (patterns are unreadable in a message). */
const patternDetails = new Map<string, string>([
  [Patterns.noControlCharacters, 'must not contain line breaks or other control characters'],
  [Patterns.filename, 'must not contain control characters, slashes, backslashes or double quotes'],
  [Patterns.mediaType, 'must be a media type such as application/pdf or text/plain; charset=utf-8'],
  [Patterns.base64, 'must be padded standard base64'],
  [Patterns.headerName, `must be a header name starting with X-, or one of ${STANDARD_CALLER_HEADERS.join(', ')}`],
  [Patterns.tagName, 'must be 1-64 letters, digits, _ . or -'],
  [Patterns.contentId, 'must be a content-id such as logo@example.com (RFC 2392, no angle brackets)'],
  [Patterns.msgIdList, 'must be one or more message ids such as <id@example.com>, separated by spaces'],
  [Patterns.listUnsubscribe, 'must be one or more <URI>, separated by commas (RFC 2369)'],
]);

function patternDetail(pattern: string): string {
  return patternDetails.get(pattern) ?? `must match pattern ${pattern}`;
}

/** The property of `value` (an object) whose name matches `pattern`, if any. */
function nameMatching(value: unknown, pattern: RegExp): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  return Object.keys(value).find((name) => pattern.test(name));
}

const oneClickName = /^list-unsubscribe-post$/i;

/** Problems for the errors of a rule of {@link Rules}, worded for the caller; undefined for other errors. */
function describeRule(error: ErrorObject): ValidationProblem | undefined {
  const at = error.instancePath;
  switch (error.parentSchema) {
    case Rules.recipient:
      return { pointer: `${at}/to`, detail: 'at least one recipient is required in to, cc or bcc' };
    case Rules.body:
      return { pointer: `${at}/text`, detail: 'a non-empty text or html (or both) is required' };
    case Rules.inlineNeedsContentId:
      return { pointer: `${at}/content_id`, detail: 'is required when inline is true' };
    case Rules.contentIdNeedsInline:
      return { pointer: `${at}/inline`, detail: 'must be true when content_id is given' };
    case Rules.notMultipart:
      return { pointer: at, detail: 'must not be multipart (an attachment is one body part)' };
    case Rules.reservedHeader:
      return {
        pointer: `${at}/${escapePointerToken(error.propertyName ?? '')}`,
        detail: 'X-Mailer and X-Mailer-* headers are reserved for the mailer',
      };
    case Rules.oneClickNeedsHttps:
      return {
        pointer: `${at}/${escapePointerToken(nameMatching(error.data, oneClickName) ?? 'List-Unsubscribe-Post')}`,
        detail: 'needs a List-Unsubscribe header with an https URI (RFC 8058)',
      };
    default:
      return undefined;
  }
}

function describe(error: ErrorObject): ValidationProblem {
  const rule = describeRule(error);
  if (rule !== undefined) return rule;
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
      return { pointer: error.instancePath, detail: patternDetail(String(params['pattern'])) };
    case 'const':
      return { pointer: error.instancePath, detail: `must be exactly ${JSON.stringify(params['allowedValue'])}` };
    default:
      return { pointer: error.instancePath, detail: error.message ?? 'is invalid' };
  }
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

/** Rules JSON Schema cannot state, checked on a value that passed the schema. */
function crossFieldProblems(email: EmailRequest, base: string): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const recipients = (email.to?.length ?? 0) + (email.cc?.length ?? 0) + (email.bcc?.length ?? 0);
  if (recipients > MAX_RECIPIENTS) {
    problems.push({
      pointer: `${base}/to`,
      detail: `at most ${MAX_RECIPIENTS} recipients in total across to, cc and bcc (got ${recipients})`,
    });
  }
  const contentIds = new Set<string>();
  (email.attachments ?? []).forEach((attachment, index) => {
    if (attachment.content.length % 4 !== 0) {
      problems.push({
        pointer: `${base}/attachments/${index}/content`,
        detail: 'must be padded standard base64 (length a multiple of 4)',
      });
    }
    const id = attachment.content_id?.toLowerCase();
    if (id === undefined) return;
    if (contentIds.has(id)) {
      problems.push({ pointer: `${base}/attachments/${index}/content_id`, detail: 'repeats a content_id' });
    }
    contentIds.add(id);
  });
  const seen = new Set<string>();
  for (const name of Object.keys(email.headers ?? {})) {
    const lower = name.toLowerCase();
    if (seen.has(lower)) {
      problems.push({
        pointer: `${base}/headers/${escapePointerToken(name)}`,
        detail: 'repeats a header name (names are case-insensitive)',
      });
    }
    seen.add(lower);
  }
  return problems;
}

const illFormedDetail = 'must be well-formed Unicode (no lone surrogates)';

/** `String.prototype.isWellFormed` (ES2024, in Node since 20; the project's `lib` is older). */
const isWellFormed = (text: string): boolean => (text as unknown as { isWellFormed(): boolean }).isWellFormed();

/**
 * Every string (property names included) that holds a lone surrogate: JSON allows `\ud800`
 * escapes, and such a string cannot be encoded as UTF-8, so it would go out as U+FFFD. Walks
 * plain objects and arrays without recursion, so that deep junk cannot overflow the stack.
 */
function illFormedStrings(body: unknown, base: string): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const pending: { value: unknown; pointer: string }[] = [{ value: body, pointer: base }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value, pointer } = next;
    if (typeof value === 'string') {
      if (!isWellFormed(value)) problems.push({ pointer, detail: illFormedDetail });
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    const prototype: unknown = Object.getPrototypeOf(value);
    if (!Array.isArray(value) && prototype !== Object.prototype && prototype !== null) continue;
    for (const key of Object.keys(value)) {
      const at = `${pointer}/${escapePointerToken(key)}`;
      if (!isWellFormed(key)) problems.push({ pointer: at, detail: `name ${illFormedDetail}` });
      pending.push({ value: (value as Record<string, unknown>)[key], pointer: at });
    }
  }
  return problems.reverse();
}

function createAjv(): Ajv {
  // verbose: errors carry the schema that failed, so that the rules in `Rules` can be worded.
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
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

const ruleSchemas = new Set<unknown>(Object.values(Rules));

/**
 * Turns ajv errors into problems. Drops the summary ajv adds after each `propertyNames` error,
 * and the inner errors of a rule from {@link Rules} (its branches), which its own problem words.
 * A rule's problem also gives way to a plainer one: a value of the wrong type, or another
 * problem at the same pointer (`text: 42` is "must be string", not also "text or html").
 */
function describeAll(errors: readonly ErrorObject[] | null | undefined): ValidationProblem[] {
  const all = errors ?? [];
  const rules = all.filter((error) => ruleSchemas.has(error.parentSchema));
  const inner = (error: ErrorObject): boolean =>
    rules.some((rule) => {
      const base = rule.schemaPath.slice(0, rule.schemaPath.lastIndexOf('/') + 1);
      return rule !== error && error.schemaPath.startsWith(base) && error.instancePath.startsWith(rule.instancePath);
    });
  const kept = all.filter((error) => error.keyword !== 'propertyNames' && !inner(error));
  const plain = kept.filter((error) => !rules.includes(error)).map(describe);
  const wrongType = new Set(kept.filter((error) => error.keyword === 'type').map((error) => error.instancePath));
  const fromRules = kept
    .filter((error) => rules.includes(error) && !wrongType.has(error.instancePath))
    .map(describe)
    .filter((problem) => !plain.some((other) => other.pointer === problem.pointer));
  return [...plain, ...fromRules];
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

/** Validates one email request: the schema, then the rules it cannot say. Reports every problem. */
export function validateEmailRequest(body: unknown): Validated<EmailRequest> {
  const check = validators().email;
  const problems = illFormedStrings(body, '');
  if (!check(body)) {
    return { ok: false, problems: unique([...problems, ...describeAll(check.errors)]) };
  }
  problems.push(...crossFieldProblems(body as EmailRequest, ''));
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: body as EmailRequest };
}

/**
 * Validates a batch body. All or nothing: every problem of every item is reported, with pointers
 * such as `/emails/3/subject` that name the item by index.
 */
export function validateEmailBatch(body: unknown): Validated<EmailRequest[]> {
  const check = validators().batch;
  const problems: ValidationProblem[] = illFormedStrings(body, '');
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
