import { Ajv2020 as Ajv, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import { fullFormats } from 'ajv-formats/dist/formats';
import {
  MAX_LISTED_PROBLEMS,
  ProblemList,
  boundedRegExp,
  escapePointerToken,
  lengthBounds,
  quotable,
  sizeProblems,
  type ValidationProblem,
} from './input-bounds';
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

export { MAX_LISTED_PROBLEMS, escapePointerToken, quotable, type ValidationProblem } from './input-bounds';

/**
 * The outcome of validating a request body: either the typed value or the problems found, the
 * first {@link MAX_LISTED_PROBLEMS} listed and, when there were more, how many were `omitted`.
 */
export type Validated<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly problems: readonly ValidationProblem[]; readonly omitted?: number };

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
    case Rules.reservedMetadataName:
      return {
        pointer: `${at}/${escapePointerToken(error.propertyName ?? '')}`,
        detail: 'email_id is reserved for the mailer (it carries the email id to the provider)',
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

/** A container being walked by {@link illFormedStrings}: its keys and how far the walk got. */
interface Frame {
  readonly value: object;
  readonly keys: readonly string[];
  readonly pointer: string;
  next: number;
}

/**
 * Every string (property names included) that holds a lone surrogate: JSON allows `\ud800`
 * escapes, and such a string cannot be encoded as UTF-8, so it would go out as U+FFFD. Walks
 * plain objects and arrays in document order without recursion, so that deep junk cannot
 * overflow the stack, and keeps one frame per level, so that five million items cost no more
 * memory than one.
 */
function illFormedStrings(body: unknown, base: string): ProblemList {
  const problems = new ProblemList();
  const frames: Frame[] = [];
  const enter = (value: unknown, pointer: string): void => {
    if (typeof value === 'string') {
      if (!isWellFormed(value)) problems.add(() => ({ pointer, detail: illFormedDetail }));
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const prototype: unknown = Object.getPrototypeOf(value);
    if (!Array.isArray(value) && prototype !== Object.prototype && prototype !== null) return;
    frames.push({ value, keys: Object.keys(value), pointer, next: 0 });
  };
  enter(body, base);
  for (let frame = frames.at(-1); frame !== undefined; frame = frames.at(-1)) {
    const key = frame.keys[frame.next];
    if (key === undefined) {
      frames.pop();
      continue;
    }
    frame.next += 1;
    // Pointers are built for a problem listed or an object entered, not for every string.
    const parent = frame.pointer;
    const at = () => `${parent}/${escapePointerToken(key)}`;
    if (!isWellFormed(key)) problems.add(() => ({ pointer: at(), detail: `name ${illFormedDetail}` }));
    const value: unknown = (frame.value as Record<string, unknown>)[key];
    if (typeof value === 'string') {
      if (!isWellFormed(value)) problems.add(() => ({ pointer: at(), detail: illFormedDetail }));
    } else if (typeof value === 'object' && value !== null) {
      enter(value, at());
    }
  }
  return problems;
}

function createAjv(): Ajv {
  const schemas = [emailRequestSchema, emailBatchSchema];
  const ajv = new Ajv({
    allErrors: true,
    strict: true,
    allowUnionTypes: true,
    // verbose: errors carry the schema that failed, so that the rules in `Rules` can be worded.
    verbose: true,
    code: { regExp: boundedRegExp(lengthBounds('pattern', schemas)) },
  });
  // The email format's grouped pattern overflows V8's regexp stack on megabytes too: it is judged
  // only within the schema's maxLength, which alone refuses a longer address.
  const emailBound = lengthBounds('format', schemas).get('email') ?? Infinity;
  const emailFormat = fullFormats.email as RegExp;
  ajv.addFormat('email', { type: 'string', validate: (text) => text.length > emailBound || emailFormat.test(text) });
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

/**
 * Compiles the request validators now instead of on the first request: a service calls it while
 * it starts, so that ajv's compile (a fraction of a second of CPU, more on a busy machine) is paid
 * before the first email rather than by it. Calling it again does nothing.
 */
export function compileValidators(): void {
  validators();
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

/**
 * A refusal: the problems of `first` (counted, the first ones kept), then `rest`, listing at most
 * {@link MAX_LISTED_PROBLEMS} with quotable pointers and counting the others as `omitted`.
 */
function refused(first: ProblemList, rest: readonly ValidationProblem[] = []): Validated<never> {
  const total = first.count + rest.length;
  const problems = [...first.listed, ...rest].slice(0, MAX_LISTED_PROBLEMS).map(quotable);
  return total > problems.length ? { ok: false, problems, omitted: total - problems.length } : { ok: false, problems };
}

const resolveRef = (ref: string) => (ref === emailRequestSchema.$id ? emailRequestSchema : undefined);

/**
 * The refusal for a body whose sizes alone make it wrong (an array over its `maxItems`, an object
 * over its `maxProperties`, or more unknown properties than a refusal lists), if it is one. Such a
 * body is answered from its sizes only, before ajv (whose `allErrors` would walk every item and
 * name every unknown property) and before any other check.
 */
function oversized(schema: Parameters<typeof sizeProblems>[0], body: unknown): Validated<never> | undefined {
  const sizes = sizeProblems(schema, body, resolveRef);
  return sizes.oversized > 0 || sizes.unknownProperties > MAX_LISTED_PROBLEMS ? refused(sizes.problems) : undefined;
}

/**
 * Validates one email request: its sizes first, then the schema, then the rules it cannot say.
 * Reports every problem, listing the first {@link MAX_LISTED_PROBLEMS}.
 */
export function validateEmailRequest(body: unknown): Validated<EmailRequest> {
  const tooBig = oversized(emailRequestSchema, body);
  if (tooBig !== undefined) return tooBig;
  const check = validators().email;
  const illFormed = illFormedStrings(body, '');
  if (!check(body)) return refused(illFormed, unique(describeAll(check.errors)));
  const crossField = crossFieldProblems(body as EmailRequest, '');
  if (illFormed.count + crossField.length > 0) return refused(illFormed, crossField);
  return { ok: true, value: body as EmailRequest };
}

/**
 * Validates a batch body. All or nothing: every problem of every item is reported (the first
 * {@link MAX_LISTED_PROBLEMS} listed), with pointers such as `/emails/3/subject` that name the
 * item by index.
 */
export function validateEmailBatch(body: unknown): Validated<EmailRequest[]> {
  const tooBig = oversized(emailBatchSchema, body);
  if (tooBig !== undefined) return tooBig;
  const check = validators().batch;
  const illFormed = illFormedStrings(body, '');
  const problems: ValidationProblem[] = check(body) ? [] : describeAll(check.errors);
  const emails = (body as { emails?: unknown } | null)?.emails;
  if (Array.isArray(emails)) {
    const emailCheck = validators().email;
    emails.forEach((email: unknown, index) => {
      if (emailCheck(email)) {
        problems.push(...crossFieldProblems(email as EmailRequest, `/emails/${index}`));
      }
    });
  }
  if (illFormed.count + problems.length > 0) return refused(illFormed, unique(problems));
  return { ok: true, value: (body as { emails: EmailRequest[] }).emails };
}

/** Index of the batch item a pointer such as `/emails/3/subject` names, if any. */
export function batchIndexOf(pointer: string): number | undefined {
  const match = /^\/emails\/(\d+)(?:\/|$)/.exec(pointer);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
