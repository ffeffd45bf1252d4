import { isIPv4 } from 'node:net';
import { Ajv2020 as Ajv, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import { fullFormats } from 'ajv-formats/dist/formats';
import { Patterns } from './email-request.schema';
import { MAX_LISTED_PROBLEMS, boundedRegExp, escapePointerToken, lengthBounds, quotable } from './input-bounds';
import type { LifecycleEventType, WebhookEventType } from './lifecycle-event';
import type { DestinationPolicy } from './network-ranges';
import { PAGE_LIMIT_PATTERN, RFC3339_PATTERN } from './suppression-request.schema';
import type { CheckedQuery, QueryParameterProblem } from './suppression-validation';
import type { Validated, ValidationProblem } from './validation';
import { MAX_WEBHOOK_URL_LENGTH } from './webhook-limits';
import {
  webhookCreateSchema,
  webhookDeliveriesQuerySchema,
  webhookListQuerySchema,
  webhookPatchSchema,
} from './webhook-request.schema';
import type { WebhookDeliveryOutcome } from './webhooks';

/** `POST /v1/webhooks`, validated (the URL's rules not yet: see {@link webhookUrlProblem}). */
export interface WebhookCreateRequest {
  readonly url: string;
  readonly eventTypes: readonly LifecycleEventType[];
  readonly description: string | null;
}

/** `PATCH /v1/webhooks/{id}`, validated; absent fields stay. */
export interface WebhookPatchRequest {
  readonly url?: string;
  readonly eventTypes?: readonly LifecycleEventType[];
  readonly description?: string | null;
  readonly enabled?: boolean;
}

/** The query of `GET /v1/webhooks`, validated. */
export interface WebhookListParams {
  readonly limit?: number;
  readonly cursor?: string;
}

/** The query of `GET /v1/webhooks/{id}/deliveries`, validated. */
export interface WebhookDeliveriesParams extends WebhookListParams {
  readonly since?: Date;
  readonly eventType?: WebhookEventType;
  readonly outcome?: WebhookDeliveryOutcome;
}

/** What a webhook URL must satisfy besides its schema (the deployment's settings). */
export interface WebhookUrlRules {
  /** `WEBHOOK_ALLOW_HTTP`. */
  readonly allowHttp: boolean;
  /** From `WEBHOOK_ALLOW_NETWORKS`. */
  readonly policy: DestinationPolicy;
}

const patternDetails = new Map<string, string>([
  [Patterns.noControlCharacters, 'must not contain line breaks or other control characters'],
  [RFC3339_PATTERN, 'must be an RFC 3339 date-time with an offset, such as 2027-01-31T08:00:00Z'],
  [PAGE_LIMIT_PATTERN, 'must be a whole number from 1 to 100'],
]);

const schemas = [
  webhookCreateSchema,
  webhookPatchSchema,
  webhookListQuerySchema,
  webhookDeliveriesQuerySchema,
] as const;

interface Validators {
  readonly create: ValidateFunction;
  readonly patch: ValidateFunction;
  readonly list: ValidateFunction;
  readonly deliveries: ValidateFunction;
}

let compiled: Validators | undefined;

function validators(): Validators {
  if (compiled === undefined) {
    const ajv = new Ajv({
      allErrors: true,
      strict: true,
      allowUnionTypes: true,
      code: { regExp: boundedRegExp(lengthBounds('pattern', schemas)) },
    });
    ajv.addFormat('date-time', fullFormats['date-time']);
    compiled = {
      create: ajv.compile(webhookCreateSchema),
      patch: ajv.compile(webhookPatchSchema),
      list: ajv.compile(webhookListQuerySchema),
      deliveries: ajv.compile(webhookDeliveriesQuerySchema),
    };
  }
  return compiled;
}

/** `String.prototype.isWellFormed` (ES2024, in Node since 20; the project's `lib` is older). */
const isWellFormed = (text: string): boolean => (text as unknown as { isWellFormed(): boolean }).isWellFormed();

/** One ajv error in words, at its property. */
function describe(error: ErrorObject): { readonly name: string; readonly detail: string } {
  const params = error.params as Record<string, unknown>;
  const at = error.instancePath.slice(1);
  switch (error.keyword) {
    case 'required':
      return { name: String(params['missingProperty']), detail: 'is required' };
    case 'additionalProperties':
      return { name: String(params['additionalProperty']), detail: 'is not allowed here' };
    case 'minProperties':
      return { name: at, detail: 'must change at least one of url, event_types, description, enabled' };
    case 'pattern':
      return { name: at, detail: patternDetails.get(String(params['pattern'])) ?? 'is malformed' };
    case 'format':
      return { name: at, detail: 'must be an RFC 3339 date-time that exists, such as 2027-01-31T08:00:00Z' };
    case 'enum':
      return { name: at, detail: `must be one of ${(params['allowedValues'] as unknown[]).map(String).join(', ')}` };
    case 'uniqueItems':
      return { name: at, detail: 'must not name a type twice' };
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

function schemaProblems(check: ValidateFunction, body: unknown): ValidationProblem[] {
  if (check(body)) return [];
  return (check.errors ?? []).map((error) => {
    const { name, detail } = describe(error);
    // An item's pointer (/event_types/0) is ajv's own; a property's is escaped from its name.
    const pointer = error.instancePath !== '' ? error.instancePath : name === '' ? '' : `/${escapePointerToken(name)}`;
    return { pointer, detail };
  });
}

/**
 * Why `raw` may not be a webhook endpoint's URL, or undefined when it may: the rules of
 * docs/events.md ("SSRF") that can be judged without a lookup. A host that is an IP address is
 * judged as the WHATWG URL parser reads it (`http://2130706433/` and `http://0x7f.1/` are
 * 127.0.0.1); a name is resolved and judged at each delivery (DNS can change), not here.
 */
export function webhookUrlProblem(raw: string, rules: WebhookUrlRules): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL such as https://hooks.example.com/mailer';
  }
  if (url.protocol !== 'https:' && !(rules.allowHttp && url.protocol === 'http:')) {
    return rules.allowHttp
      ? 'must use https or http'
      : 'must use https (http is refused unless WEBHOOK_ALLOW_HTTP=true)';
  }
  if (url.username !== '' || url.password !== '') return 'must not contain a user name or password';
  if (url.href.length > MAX_WEBHOOK_URL_LENGTH) return `must have at most ${MAX_WEBHOOK_URL_LENGTH} characters`;
  const host = url.hostname.replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return 'must not be localhost';
  if (host.startsWith('[') || isIPv4(host)) {
    const range = rules.policy.refusal(host);
    if (range !== undefined) {
      return `is an address in a refused range (${range}): ${host} may not receive webhooks unless WEBHOOK_ALLOW_NETWORKS allows it`;
    }
  }
  return undefined;
}

/**
 * Validates the body of `POST /v1/webhooks`: the schema, then the URL's rules
 * ({@link webhookUrlProblem}) and well-formed Unicode. Reports every problem.
 */
export function validateWebhookCreate(body: unknown, rules: WebhookUrlRules): Validated<WebhookCreateRequest> {
  const problems = schemaProblems(validators().create, body);
  if (problems.length > 0) return refused(problems);
  const value = body as { url: string; event_types?: LifecycleEventType[]; description?: string };
  const more = bodyRuleProblems(value, rules);
  if (more.length > 0) return refused(more);
  return {
    ok: true,
    value: { url: value.url, eventTypes: value.event_types ?? [], description: value.description ?? null },
  };
}

/** Validates the body of `PATCH /v1/webhooks/{id}`, as {@link validateWebhookCreate}. */
export function validateWebhookPatch(body: unknown, rules: WebhookUrlRules): Validated<WebhookPatchRequest> {
  const problems = schemaProblems(validators().patch, body);
  if (problems.length > 0) return refused(problems);
  const value = body as {
    url?: string;
    event_types?: LifecycleEventType[];
    description?: string | null;
    enabled?: boolean;
  };
  const more = bodyRuleProblems(value, rules);
  if (more.length > 0) return refused(more);
  return {
    ok: true,
    value: {
      ...(value.url === undefined ? {} : { url: value.url }),
      ...(value.event_types === undefined ? {} : { eventTypes: value.event_types }),
      ...(value.description === undefined ? {} : { description: value.description }),
      ...(value.enabled === undefined ? {} : { enabled: value.enabled }),
    },
  };
}

function bodyRuleProblems(
  value: { readonly url?: string; readonly description?: string | null },
  rules: WebhookUrlRules,
): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  if (value.url !== undefined) {
    const problem = webhookUrlProblem(value.url, rules);
    if (problem !== undefined) problems.push({ pointer: '/url', detail: problem });
  }
  if (typeof value.description === 'string' && !isWellFormed(value.description)) {
    problems.push({ pointer: '/description', detail: 'must be well-formed Unicode (no lone surrogates)' });
  }
  return problems;
}

/** Checks a query against a schema, naming at most {@link MAX_LISTED_PROBLEMS} parameters. */
function checkQuery(check: ValidateFunction, query: Readonly<Record<string, unknown>>): QueryParameterProblem[] {
  if (check(query)) return [];
  // One problem per parameter: the first ajv found (a repeated parameter fails its type and its enum).
  const byParameter = new Map<string, QueryParameterProblem>();
  for (const error of check.errors ?? []) {
    const { name, detail } = describe(error);
    // A parameter name can be as long as the URL: quote its start.
    const parameter = name.length > 100 ? `${name.slice(0, 100)}...` : name;
    if (!byParameter.has(parameter)) {
      byParameter.set(parameter, { parameter, detail: error.keyword === 'type' ? 'must be given once' : detail });
    }
  }
  return [...byParameter.values()].slice(0, MAX_LISTED_PROBLEMS);
}

/** Reads `GET /v1/webhooks`'s `limit` and `cursor`; any other parameter is a problem. */
export function checkWebhookListQuery(query: Readonly<Record<string, unknown>>): CheckedQuery<WebhookListParams> {
  const errors = checkQuery(validators().list, query);
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, value: pageParams(query) };
}

/** Reads `GET /v1/webhooks/{id}/deliveries`'s `limit`, `cursor`, `since`, `event_type` and `outcome`. */
export function checkWebhookDeliveriesQuery(
  query: Readonly<Record<string, unknown>>,
): CheckedQuery<WebhookDeliveriesParams> {
  const errors = checkQuery(validators().deliveries, query);
  if (errors.length > 0) return { ok: false, errors };
  const value = query as {
    limit?: string;
    cursor?: string;
    since?: string;
    event_type?: WebhookEventType;
    outcome?: WebhookDeliveryOutcome;
  };
  const since = value.since === undefined ? undefined : new Date(value.since);
  // The format allows a leap second (23:59:60), which Date cannot read.
  if (since !== undefined && Number.isNaN(since.getTime())) {
    return { ok: false, errors: [{ parameter: 'since', detail: 'must be an RFC 3339 date-time that exists' }] };
  }
  return {
    ok: true,
    value: {
      ...pageParams(value),
      ...(since === undefined ? {} : { since }),
      ...(value.event_type === undefined ? {} : { eventType: value.event_type }),
      ...(value.outcome === undefined ? {} : { outcome: value.outcome }),
    },
  };
}

function pageParams(query: { readonly limit?: string; readonly cursor?: string }): WebhookListParams {
  return {
    ...(query.limit === undefined ? {} : { limit: Number(query.limit) }),
    // Empty is the first page, as on the other lists.
    ...(query.cursor === undefined || query.cursor === '' ? {} : { cursor: query.cursor }),
  };
}
