import { EMAIL_STATES, type EmailListQuery, type EmailState } from '../domain/email-ledger';

/** The JSON of one email and of a list's entry, shared with the CLI. */
export { emailJson, summaryJson } from '@mailer/contract';

/** The most emails one page of `GET /v1/emails` holds, and how many when `limit` is not given. */
export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 50;

/** A problem with one query parameter. */
export interface QueryProblem {
  readonly parameter: string;
  readonly detail: string;
}

/** The query of `GET /v1/emails`, read; or every problem with it. */
export type ListQueryCheck =
  | { readonly ok: true; readonly filter: EmailListQuery }
  | { readonly ok: false; readonly errors: readonly QueryProblem[] };

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;
const parameters = ['status', 'since', 'in_doubt', 'cursor', 'limit'] as const;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/** Whether the date and hour of an RFC 3339 date-time exist: `Date` reads `2026-02-31` or `T24:00` as a later day. */
function existsOnCalendar(value: string): boolean {
  const [year, month, day, hour] = [value.slice(0, 4), value.slice(5, 7), value.slice(8, 10), value.slice(11, 13)].map(
    Number,
  ) as [number, number, number, number];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
  return days !== undefined && day >= 1 && day <= days && hour <= 23;
}

/**
 * Reads an RFC 3339 date-time with an offset; a `+` sent unencoded arrives as a space and is read
 * as `+`. A date or hour that does not exist (`2026-02-31`, `24:00`) is no date-time.
 */
export function parseRfc3339(raw: string): Date | undefined {
  const value = raw.replace(/ (\d{2}:\d{2})$/, '+$1');
  if (!RFC3339.test(value) || !existsOnCalendar(value)) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * Reads `status`, `since`, `in_doubt`, `cursor` and `limit`. Any other parameter, or one given
 * twice, is a problem too: a misspelt filter must not silently list everything.
 */
export function parseListQuery(query: Readonly<Record<string, unknown>>): ListQueryCheck {
  const errors: QueryProblem[] = [];
  const filter: { -readonly [K in keyof EmailListQuery]: EmailListQuery[K] } = {};
  for (const [parameter, value] of Object.entries(query)) {
    if (!(parameters as readonly string[]).includes(parameter)) {
      errors.push({ parameter, detail: `is not a parameter of this list (use ${parameters.join(', ')})` });
      continue;
    }
    if (typeof value !== 'string') {
      errors.push({ parameter, detail: 'must be given once' });
      continue;
    }
    switch (parameter) {
      case 'status':
        if ((EMAIL_STATES as readonly string[]).includes(value)) filter.status = value as EmailState;
        else errors.push({ parameter, detail: `must be one of ${EMAIL_STATES.join(', ')}` });
        break;
      case 'since': {
        const since = parseRfc3339(value);
        if (since === undefined)
          errors.push({ parameter, detail: 'must be an RFC 3339 date-time that exists, such as 2026-01-31T08:00:00Z' });
        else filter.since = since;
        break;
      }
      case 'in_doubt':
        if (value === 'true' || value === 'false') filter.inDoubt = value === 'true';
        else errors.push({ parameter, detail: 'must be true or false' });
        break;
      case 'cursor':
        // Empty is the first page: the OpenAPI document allows it, and some clients always send it.
        if (value === '') break;
        if (value.length <= 200) filter.cursor = value;
        else errors.push({ parameter, detail: 'must be the next_cursor of a previous page' });
        break;
      case 'limit': {
        const limit = Number(value);
        if (/^\d{1,3}$/.test(value) && limit >= 1 && limit <= MAX_PAGE_SIZE) filter.limit = limit;
        else errors.push({ parameter, detail: `must be a whole number from 1 to ${MAX_PAGE_SIZE}` });
        break;
      }
    }
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, filter };
}

/** The path of the next page: the same filters, the next cursor. */
export function nextPagePath(query: Readonly<Record<string, unknown>>, nextCursor: string): string {
  const params = new URLSearchParams();
  for (const parameter of parameters) {
    const value = query[parameter];
    if (parameter !== 'cursor' && typeof value === 'string') params.set(parameter, value);
  }
  params.set('cursor', nextCursor);
  return `/v1/emails?${params.toString()}`;
}
