import { InvalidArgumentError, type Command } from 'commander';
import { parseDurationMs } from '@mailer/config';
import { FAILURE_KINDS, PARK_REASONS, PROVIDER_NAMES, maskAddressesIn } from '@mailer/contract';
import type { DeadLetterFilter, ParkedMessage } from '@mailer/dead-letters';
import { columns } from './table';

/** A comma-separated list whose every item must be one of `allowed` (any value when absent). */
export function listOf(allowed?: readonly string[]): (raw: string, previous?: string[]) => string[] {
  return (raw, previous = []) => {
    const items = raw
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
    if (items.length === 0) throw new InvalidArgumentError('give at least one value.');
    const unknown = allowed === undefined ? [] : items.filter((item) => !allowed.includes(item));
    if (unknown.length > 0) {
      throw new InvalidArgumentError(`unknown ${unknown.join(', ')}; use ${(allowed ?? []).join(', ')}.`);
    }
    return [...new Set([...previous, ...items])];
  };
}

/** A duration such as `90s`, `30m` or `48h`, as milliseconds. */
export function age(raw: string): number {
  const ms = parseDurationMs(raw);
  if (ms === undefined) throw new InvalidArgumentError('must be a duration such as 90s, 30m or 48h.');
  return ms;
}

/** A whole number from 1. */
export function count(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new InvalidArgumentError('must be a whole number from 1.');
  return Number(raw);
}

/** Emails per second: a number above 0, at most 1000. */
export function rate(raw: string): number {
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !(value > 0 && value <= 1000)) {
    throw new InvalidArgumentError('must be a number of emails per second above 0, at most 1000.');
  }
  return value;
}

/** The options every `dead-letters` command that selects parked emails takes. */
export interface FilterOptions {
  readonly id?: string[];
  readonly reason?: string[];
  readonly kind?: string[];
  readonly provider?: string[];
  readonly olderThan?: number;
  readonly newerThan?: number;
  readonly limit?: number;
}

/** Adds the filter options to a command. */
export function withFilters(command: Command): Command {
  return command
    .option('--id <ids>', 'only these email ids (comma-separated; may repeat)', listOf())
    .option('--reason <list>', `parked reason: ${PARK_REASONS.join(', ')}`, listOf(PARK_REASONS))
    .option('--kind <list>', `last failure kind: ${FAILURE_KINDS.join(', ')}`, listOf(FAILURE_KINDS))
    .option('--provider <list>', `a provider tried: ${PROVIDER_NAMES.join(', ')}`, listOf(PROVIDER_NAMES))
    .option('--older-than <age>', 'parked at least this long ago (90s, 30m, 48h)', age)
    .option('--newer-than <age>', 'parked less than this long ago', age)
    .option('--limit <n>', 'at most this many, oldest first', count);
}

/** The engine's filter from the command line's options. */
export function filterOf(options: FilterOptions): DeadLetterFilter {
  return {
    ...(options.id === undefined ? {} : { ids: options.id }),
    ...(options.reason === undefined ? {} : { reasons: options.reason }),
    ...(options.kind === undefined ? {} : { failureKinds: options.kind }),
    ...(options.provider === undefined ? {} : { providers: options.provider }),
    ...(options.olderThan === undefined ? {} : { olderThanMs: options.olderThan }),
    ...(options.newerThan === undefined ? {} : { newerThanMs: options.newerThan }),
    ...(options.limit === undefined ? {} : { limit: options.limit }),
  };
}

/**
 * A parked email as `--json` and `show` print it: snake_case, as the API's JSON. The last failure's
 * addresses are masked: a message parked before the consumer masked its headers may quote them.
 */
export function parkedJson(view: ParkedMessage): Record<string, string | number | readonly string[] | null> {
  return {
    id: view.id ?? null,
    client: view.client ?? null,
    reason: view.reason ?? null,
    failure_kind: view.failureKind ?? null,
    providers_tried: view.providersTried,
    attempts: view.attempts ?? null,
    parked_at: view.parkedAt ?? null,
    age_seconds: view.ageMs === undefined ? null : Math.floor(view.ageMs / 1000),
    last_failure: view.lastFailure === undefined ? null : maskAddressesIn(view.lastFailure),
    replayed_at: view.replayedAt ?? null,
    auto_releases: view.autoReleases,
  };
}

/** An age for a person: `45s`, `12m`, `5h`, `3d`. */
export function ageText(ms: number | undefined): string {
  if (ms === undefined) return '-';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** The list as a table for a person. */
export function parkedTable(views: readonly ParkedMessage[]): string {
  const rows = [
    ['ID', 'REASON', 'KIND', 'PROVIDERS', 'ATTEMPTS', 'PARKED', 'AGE'],
    ...views.map((view) => [
      view.id ?? '(no id)',
      view.reason ?? '-',
      view.failureKind ?? '-',
      view.providersTried.length === 0 ? '-' : view.providersTried.join(','),
      view.attempts === undefined ? '-' : String(view.attempts),
      view.parkedAt ?? '-',
      ageText(view.ageMs),
    ]),
  ];
  return columns(rows);
}

/** A one-line progress bar: `[########------------] 4/10 replayed`. */
export function progressBar(done: number, total: number, verb: string, width = 20): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${verb}`;
}
