import { Ajv2020 as Ajv, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import { fullFormats } from 'ajv-formats/dist/formats';
import { Patterns } from './email-request.schema';
import type { SuppressionListReason } from './feedback-records';
import { MAX_LISTED_PROBLEMS, boundedRegExp, escapePointerToken, lengthBounds, quotable } from './input-bounds';
import {
  CALLER_SUPPRESSION_REASONS,
  PAGE_LIMIT_PATTERN,
  RFC3339_PATTERN,
  suppressionAddSchema,
  suppressionListQuerySchema,
  suppressionLookupQuerySchema,
  suppressionRemoveQuerySchema,
} from './suppression-request.schema';
import type { Validated, ValidationProblem } from './validation';

/** `POST /v1/suppressions`, validated. */
export interface SuppressionAddRequest {
  /** The full address: hash it, mask it, never keep it. */
  readonly email: string;
  readonly reason: (typeof CALLER_SUPPRESSION_REASONS)[number];
  readonly note?: string;
  readonly expiresAt?: Date;
}

/** `?email=...` (and on `DELETE`, `&note=...`), validated. */
export interface SuppressionAddressQuery {
  readonly email: string;
  readonly note?: string;
}

/** The list's query, validated. */
export interface SuppressionListParams {
  readonly reason?: SuppressionListReason;
  readonly limit?: number;
  /** Absent for the first page (an empty `cursor=` is the first page too). */
  readonly cursor?: string;
}

/** A problem with one query parameter. */
export interface QueryParameterProblem {
  readonly parameter: string;
  readonly detail: string;
}

/** A query, read; or every problem with it. */
export type CheckedQuery<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errors: readonly QueryParameterProblem[] };

const patternDetails = new Map<string, string>([
  [Patterns.noControlCharacters, 'must not contain line breaks or other control characters'],
  [RFC3339_PATTERN, 'must be an RFC 3339 date-time with an offset, such as 2027-01-31T08:00:00Z'],
  [PAGE_LIMIT_PATTERN, 'must be a whole number from 1 to 100'],
]);

const schemas = [
  suppressionAddSchema,
  suppressionLookupQuerySchema,
  suppressionRemoveQuerySchema,
  suppressionListQuerySchema,
] as const;

interface Validators {
  readonly add: ValidateFunction;
  readonly lookup: ValidateFunction;
  readonly remove: ValidateFunction;
  readonly list: ValidateFunction;
}

let compiled: Validators | undefined;

function validators(): Validators {
  if (compiled === undefined) {
    const ajv = new Ajv({
      allErrors: true,
      strict: true,
      code: { regExp: boundedRegExp(lengthBounds('pattern', schemas)) },
    });
    // As the email schema's: the grouped email pattern runs only within maxLength.
    const emailBound = lengthBounds('format', schemas).get('email') ?? Infinity;
    const emailFormat = fullFormats.email as RegExp;
    ajv.addFormat('email', { type: 'string', validate: (text) => text.length > emailBound || emailFormat.test(text) });
    ajv.addFormat('date-time', fullFormats['date-time']);
    compiled = {
      add: ajv.compile(suppressionAddSchema),
      lookup: ajv.compile(suppressionLookupQuerySchema),
      remove: ajv.compile(suppressionRemoveQuerySchema),
      list: ajv.compile(suppressionListQuerySchema),
    };
  }
  return compiled;
}

/** `String.prototype.isWellFormed` (ES2024, in Node since 20; the project's `lib` is older). */
const isWellFormed = (text: string): boolean => (text as unknown as { isWellFormed(): boolean }).isWellFormed();

/** One ajv error in words, at its property: `where` is the property's name (a body's pointer, or a query's parameter). */
function describe(error: ErrorObject): { readonly name: string; readonly detail: string } {
  const params = error.params as Record<string, unknown>;
  const at = error.instancePath.slice(1);
  switch (error.keyword) {
    case 'required':
      return { name: String(params['missingProperty']), detail: 'is required' };
    case 'additionalProperties':
      return { name: String(params['additionalProperty']), detail: 'is not allowed here' };
    case 'pattern':
      return { name: at, detail: patternDetails.get(String(params['pattern'])) ?? 'is malformed' };
    case 'format':
      return {
        name: at,
        detail:
          params['format'] === 'email'
            ? 'must be an email address'
            : 'must be an RFC 3339 date-time that exists, such as 2027-01-31T08:00:00Z',
      };
    case 'enum':
      return { name: at, detail: `must be one of ${(params['allowedValues'] as unknown[]).map(String).join(', ')}` };
    default:
      return { name: at, detail: error.message ?? 'is invalid' };
  }
}

/** The problems of a body, listing at most {@link MAX_LISTED_PROBLEMS}. */
function refused(problems: readonly ValidationProblem[]): Validated<never> {
  const listed = problems.slice(0, MAX_LISTED_PROBLEMS).map(quotable);
  return problems.length > listed.length
    ? { ok: false, problems: listed, omitted: problems.length - listed.length }
    : { ok: false, problems: listed };
}

/**
 * Validates the body of `POST /v1/suppressions`: the schema, then the rules it cannot say (well-formed
 * Unicode, an `expires_at` that exists and is after `now`). Reports every problem.
 */
export function validateSuppressionAdd(body: unknown, now: Date): Validated<SuppressionAddRequest> {
  const check = validators().add;
  if (!check(body)) {
    return refused(
      (check.errors ?? []).map((error) => {
        const { name, detail } = describe(error);
        return { pointer: name === '' ? '' : `/${escapePointerToken(name)}`, detail };
      }),
    );
  }
  const value = body as { email: string; reason?: 'manual'; note?: string; expires_at?: string };
  const problems: ValidationProblem[] = [];
  if (value.note !== undefined && !isWellFormed(value.note)) {
    problems.push({ pointer: '/note', detail: 'must be well-formed Unicode (no lone surrogates)' });
  }
  let expiresAt: Date | undefined;
  if (value.expires_at !== undefined) {
    expiresAt = new Date(value.expires_at);
    // The format allows a leap second (23:59:60), which Date cannot read.
    if (Number.isNaN(expiresAt.getTime())) {
      problems.push({ pointer: '/expires_at', detail: 'must be an RFC 3339 date-time that exists' });
    } else if (expiresAt.getTime() <= now.getTime()) {
      problems.push({ pointer: '/expires_at', detail: 'must be in the future' });
    }
  }
  if (problems.length > 0) return refused(problems);
  return {
    ok: true,
    value: {
      email: value.email,
      reason: value.reason ?? 'manual',
      ...(value.note === undefined ? {} : { note: value.note }),
      ...(expiresAt === undefined ? {} : { expiresAt }),
    },
  };
}

/**
 * Checks a query against one of the query schemas, naming at most {@link MAX_LISTED_PROBLEMS}
 * parameters. A parameter given twice arrives as a list, and fails its type only.
 */
function checkQuery(check: ValidateFunction, query: Readonly<Record<string, unknown>>): QueryParameterProblem[] {
  if (check(query)) return [];
  return (check.errors ?? []).slice(0, MAX_LISTED_PROBLEMS).map((error) => {
    const { name, detail } = describe(error);
    // A parameter name can be as long as the URL: quote its start.
    const parameter = name.length > 100 ? `${name.slice(0, 100)}...` : name;
    return { parameter, detail: error.keyword === 'type' ? 'must be given once' : detail };
  });
}

/** Reads `?email=` (`GET` of one entry) or `?email=&note=` (`DELETE`); any other parameter is a problem. */
export function checkSuppressionAddressQuery(
  query: Readonly<Record<string, unknown>>,
  method: 'get' | 'delete',
): CheckedQuery<SuppressionAddressQuery> {
  const errors = checkQuery(method === 'get' ? validators().lookup : validators().remove, query);
  if (errors.length > 0) return { ok: false, errors };
  const { email, note } = query as { email: string; note?: string };
  return { ok: true, value: { email, ...(note === undefined ? {} : { note }) } };
}

/** Reads the list's `reason`, `limit` and `cursor`; any other parameter is a problem. */
export function checkSuppressionListQuery(
  query: Readonly<Record<string, unknown>>,
): CheckedQuery<SuppressionListParams> {
  const errors = checkQuery(validators().list, query);
  if (errors.length > 0) return { ok: false, errors };
  const { reason, limit, cursor } = query as { reason?: SuppressionListReason; limit?: string; cursor?: string };
  return {
    ok: true,
    value: {
      ...(reason === undefined ? {} : { reason }),
      ...(limit === undefined ? {} : { limit: Number(limit) }),
      ...(cursor === undefined || cursor === '' ? {} : { cursor }),
    },
  };
}

/** Why `address` cannot be put on or looked up in the list (as the API would refuse it); undefined when it can. */
export function suppressionAddressProblem(address: string): string | undefined {
  const check = validators().lookup;
  if (check({ email: address })) return undefined;
  const first = check.errors?.[0];
  return first === undefined ? 'is invalid' : describe(first).detail;
}
