import { InvalidArgumentError } from 'commander';
import { parseDurationMs } from '@mailer/config';
import {
  maskAddressesIn,
  type WebhookDeliveryOutcome,
  type WebhookDeliveryRecord,
  type WebhookEndpointRecord,
} from '@mailer/contract';

/** Every outcome a delivery record can have, for `--outcome`. */
export const DELIVERY_OUTCOMES: readonly WebhookDeliveryOutcome[] = ['succeeded', 'retrying', 'parked', 'skipped'];

const DAY_MS = 86_400_000;

/** `2026-12-07`, or a date and time with a zone: `2026-12-07T10:00Z`, `2026-12-07 10:00:00.123456+01:00`. */
const ISO_TIME = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|z|[+-]\d{2}(?::?\d{2})?))?$/;

/**
 * A time for `--since`: ISO 8601 (a date alone is midnight UTC; a time needs its zone, `Z` or an
 * offset, so that the same command means the same on every machine), or how long ago as a
 * duration (`90s`, `30m`, `48h`, and `3d` for days). Refused when malformed or in the future.
 */
export function sinceOf(raw: string, now: number): Date {
  const days = /^(\d+)d$/.exec(raw);
  const ago = days === null ? parseDurationMs(raw) : Number(days[1]) * DAY_MS;
  if (ago !== undefined && Number.isSafeInteger(ago)) return new Date(now - ago);
  const match = ISO_TIME.exec(raw);
  const wants = 'must be a time such as 2026-12-07T10:00:00Z (ISO 8601, with its zone) or how long ago: 90m, 48h, 3d.';
  if (match === null) throw new InvalidArgumentError(wants);
  const [, date = '', hm, seconds = '00', fraction = '', zone] = match;
  if (hm !== undefined && zone === undefined) throw new InvalidArgumentError(wants);
  const offset =
    zone === undefined || zone.toUpperCase() === 'Z'
      ? 'Z'
      : `${zone.slice(0, 3)}:${zone.length > 3 ? zone.slice(-2) : '00'}`;
  const ms = Date.parse(`${date}T${hm ?? '00:00'}:${seconds}.${fraction.padEnd(3, '0').slice(0, 3)}${offset}`);
  // Date.parse rolls 2026-02-30 over to March: a date that does not print back is not a date.
  const day = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(ms) || Number.isNaN(day) || new Date(day).toISOString().slice(0, 10) !== date) {
    throw new InvalidArgumentError(`${raw} is not a valid time.`);
  }
  if (ms > now) throw new InvalidArgumentError('is in the future.');
  return new Date(ms);
}

/** `--since` as commander calls it: relative to the moment the command line is read. */
export function since(raw: string): Date {
  return sinceOf(raw, Date.now());
}

/**
 * An endpoint URL as the CLI prints it: user and password (`https://user:pw@host`) and query
 * values (`?token=...`) are a receiver's credentials more often than not, so they show as `***`.
 * The signing secret is never in a record to begin with.
 */
export function displayUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return '(not a URL)';
  }
  const userinfo = url.username === '' && url.password === '' ? '' : '***@';
  const query = [...url.searchParams.keys()].map((name) => `${encodeURIComponent(name)}=***`).join('&');
  return `${url.protocol}//${userinfo}${url.host}${url.pathname}${query === '' ? '' : `?${query}`}`;
}

// eslint-disable-next-line no-control-regex
const controlOrSpace = /[\u0000-\u001f\u007f\s]+/g;

/** A delivery error for a table: addresses masked, one line, at most `max` characters. */
export function shortError(error: string | null, max = 48): string {
  if (error === null || error === '') return '-';
  // Control characters (an answer's line breaks) would break the table's lines.
  const line = maskAddressesIn(error).replace(controlOrSpace, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/** `enabled`, or `disabled (failing)` and the like. */
export function statusOf(endpoint: WebhookEndpointRecord): string {
  return endpoint.disabledAt === null ? 'enabled' : `disabled (${endpoint.disabledReason ?? 'unknown'})`;
}

/** An endpoint as `list --json` prints it: snake_case, as the API's; never a secret. */
export function endpointJson(endpoint: WebhookEndpointRecord): Record<string, unknown> {
  return {
    id: endpoint.id,
    client: endpoint.client,
    url: displayUrl(endpoint.url),
    event_types: endpoint.eventTypes,
    description: endpoint.description,
    status: endpoint.disabledAt === null ? 'enabled' : 'disabled',
    disabled_reason: endpoint.disabledReason,
    disabled_at: endpoint.disabledAt?.toISOString() ?? null,
    failing_since: endpoint.failingSince?.toISOString() ?? null,
    created_at: endpoint.createdAt.toISOString(),
    updated_at: endpoint.updatedAt.toISOString(),
  };
}

/** A delivery as `deliveries --json` prints it. */
export function deliveryJson(delivery: WebhookDeliveryRecord): Record<string, unknown> {
  return {
    id: delivery.id,
    event_id: delivery.eventId,
    event_type: delivery.eventType,
    email_id: delivery.emailId,
    tries: delivery.tries,
    outcome: delivery.outcome,
    status: delivery.status,
    error: delivery.error === null ? null : maskAddressesIn(delivery.error),
    duration_ms: delivery.durationMs,
    created_at: delivery.createdAt.toISOString(),
    updated_at: delivery.updatedAt.toISOString(),
  };
}

/** The header of {@link endpointRow}'s table. */
export const ENDPOINT_HEADER = ['ID', 'CLIENT', 'URL', 'TYPES', 'STATUS', 'SINCE', 'FAILING SINCE'] as const;

/** One endpoint's row: id, client, URL, types (`all` when it takes every type), status, since when, failing since. */
export function endpointRow(endpoint: WebhookEndpointRecord): string[] {
  return [
    endpoint.id,
    endpoint.client,
    displayUrl(endpoint.url),
    endpoint.eventTypes.length === 0 ? 'all' : endpoint.eventTypes.join(','),
    statusOf(endpoint),
    endpoint.disabledAt?.toISOString() ?? '-',
    endpoint.failingSince?.toISOString() ?? '-',
  ];
}

/** The header of {@link deliveryRow}'s table. */
export const DELIVERY_HEADER = ['DELIVERY', 'EVENT', 'EMAIL', 'TRIES', 'OUTCOME', 'STATUS', 'ERROR', 'TIME'] as const;

/** One delivery's row: id, event type, email id, tries, outcome, HTTP status, short error, time of its last try. */
export function deliveryRow(delivery: WebhookDeliveryRecord): string[] {
  return [
    delivery.id,
    delivery.eventType,
    delivery.emailId ?? '-',
    String(delivery.tries),
    delivery.outcome,
    delivery.status === null ? '-' : String(delivery.status),
    shortError(delivery.error),
    delivery.updatedAt.toISOString(),
  ];
}
