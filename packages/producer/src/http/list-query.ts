import { parseListQuery, type ListQueryCheck } from './email-views';

/** The date and time at the start of an RFC 3339 date-time, which `Date` would roll over when out of range. */
const DATE_TIME_START = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):\d{2}/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/**
 * False when the date or hour written at the start of `raw` does not exist (`2026-02-31`,
 * `2026-04-31`, `T24:00`): `Date` reads those as a later day instead of refusing them. Other text
 * is true: its format is for `parseRfc3339` to judge.
 */
export function isCalendarDateTime(raw: string): boolean {
  const match = DATE_TIME_START.exec(raw);
  if (match === null) return true;
  const [year, month, day, hour] = match.slice(1, 5).map(Number) as [number, number, number, number];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
  return days !== undefined && day >= 1 && day <= days && hour <= 23;
}

/**
 * Reads the query of `GET /v1/emails` as `parseListQuery` does, and also: an empty `cursor=` is
 * the first page (the OpenAPI document allows it, and clients that always send the parameter
 * send it empty), and a `since` whose date does not exist is a problem rather than a later day.
 */
export function readListQuery(query: Readonly<Record<string, unknown>>): ListQueryCheck {
  const { cursor, ...others } = query;
  const checked = parseListQuery(cursor === '' ? others : query);
  const since = query['since'];
  if (typeof since !== 'string' || isCalendarDateTime(since)) return checked;
  const problem = { parameter: 'since', detail: 'must be a date and time that exist (not 2026-02-31 or 24:00)' };
  if (checked.ok) return { ok: false, errors: [problem] };
  return checked.errors.some((error) => error.parameter === 'since')
    ? checked
    : { ok: false, errors: [...checked.errors, problem] };
}
