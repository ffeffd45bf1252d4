import { delayName } from '@mailer/contract';
import { fail, ok, type Parsed } from './parsed';

/** Every problem found in the environment, reported together. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

/**
 * The name a key had before it was renamed, still read for one release so a deployment that sets
 * it keeps working; the key's own name wins when both are set.
 */
export interface FormerName<T> {
  readonly name: string;
  /** Reads the value in the old name's own format (e.g. plain milliseconds for a `_MS` key). */
  readonly parse: (raw: string) => Parsed<T>;
  /** Writes a value read under the old name in the new key's format, for the warning. */
  rewrite(value: T): string;
}

/** One documented configuration key: its default and how to read it. */
export interface Key<T> {
  readonly name: string;
  readonly description: string;
  /** No default means the key is required. */
  readonly default?: string;
  readonly parse: (raw: string) => Parsed<T>;
  readonly formerly?: FormerName<T>;
}

/** The environment as read once in `main.ts`. */
export type Env = Readonly<Record<string, string | undefined>>;

/** A table of keys: a service's configuration, field by field. */
export type Keys = Record<string, Key<unknown>>;

/** The values of a table of keys. */
export type Values<K extends Keys> = {
  [F in keyof K]: K[F] extends Key<infer T> ? T : never;
};

/** A whole number from `min` to `max`, written as plain digits. */
export const integer =
  (min: number, max: number) =>
  (raw: string): Parsed<number> => {
    const value = Number(raw);
    return /^\d+$/.test(raw) && value >= min && value <= max
      ? ok(value)
      : fail(`must be a whole number from ${min} to ${max}`);
  };

/** A string accepted by `valid`. */
export const text =
  (valid: (raw: string) => boolean, problem: string) =>
  (raw: string): Parsed<string> =>
    valid(raw) ? ok(raw) : fail(problem);

/** `true` or `false`. */
export const boolean = (raw: string): Parsed<boolean> =>
  raw === 'true' ? ok(true) : raw === 'false' ? ok(false) : fail('must be true or false');

const durationUnits: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Reads `500ms`, `10s`, `1m` or `2h` as milliseconds (`0s` is zero); undefined if malformed. */
export function parseDurationMs(raw: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h)$/.exec(raw);
  if (match === null) return undefined;
  const ms = Number(match[1]) * (durationUnits[match[2] ?? ''] ?? Number.NaN);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** Writes milliseconds as a duration: 90000 is `90s`, 120000 is `2m`, 0 is `0s`. */
export function formatDuration(ms: number): string {
  return ms === 0 ? '0s' : delayName(ms);
}

/**
 * A duration such as `500ms`, `10s`, `1m` or `2h` from `min` to `max` (both written the same
 * way), read as milliseconds. Every duration key uses this one format.
 */
export function duration(min: string, max: string): (raw: string) => Parsed<number> {
  const low = parseDurationMs(min);
  const high = parseDurationMs(max);
  if (low === undefined || high === undefined || low > high) throw new Error(`bad duration bounds ${min}..${max}`);
  const range = low === 0 ? `at most ${max}` : `from ${min} to ${max}`;
  return (raw) => {
    const ms = parseDurationMs(raw);
    return ms !== undefined && ms >= low && ms <= high
      ? ok(ms)
      : fail(`must be a duration such as 500ms, 10s, 1m or 2h, ${range}`);
  };
}

/**
 * The former name of a duration key that was read as plain milliseconds (`SHUTDOWN_TIMEOUT_MS`),
 * with the same bounds as the key itself.
 */
export function formerMilliseconds(name: string, min: string, max: string): FormerName<number> {
  return {
    name,
    parse: integer(parseDurationMs(min) ?? 0, parseDurationMs(max) ?? 0),
    rewrite: formatDuration,
  };
}

/** What {@link loadKeys} warns about: a key still set under a former name. */
export interface Deprecation {
  /** The former name found in the environment. */
  readonly name: string;
  /** The key to set instead. */
  readonly replacement: string;
  /** One sentence for the start-up log. */
  readonly message: string;
}

/** The raw value of `key` and the name it was found under; the key's own name wins. */
function lookUp(key: Key<unknown>, env: Env): { raw: string | undefined; from: 'name' | 'formerly' | 'default' } {
  const own = env[key.name];
  if (own !== undefined) return { raw: own, from: 'name' };
  const former = key.formerly === undefined ? undefined : env[key.formerly.name];
  if (former !== undefined) return { raw: former, from: 'formerly' };
  return { raw: key.default, from: 'default' };
}

/**
 * Reads every key of `keys` from `env`, applying defaults; a key set only under its former name
 * is read from there.
 *
 * @throws ConfigError naming every problem at once.
 */
export function loadKeys<K extends Keys>(keys: K, env: Env): Values<K> {
  const problems: string[] = [];
  const values: Partial<Record<keyof K, unknown>> = {};
  for (const [field, key] of Object.entries(keys) as [keyof K, Key<unknown>][]) {
    const { raw, from } = lookUp(key, env);
    if (raw === undefined) {
      problems.push(`${key.name} is required: ${key.description}`);
      continue;
    }
    const former = from === 'formerly' ? key.formerly : undefined;
    const result = former === undefined ? key.parse(raw) : former.parse(raw);
    if (result.ok) values[field] = result.value;
    else problems.push(`${former?.name ?? key.name} ${result.problem}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return values as Values<K>;
}

/**
 * The former key names set in `env`, each with the sentence to log at start-up: what to set
 * instead (with the value rewritten in the new format), or that it is ignored because the new
 * name is set too. Values that do not parse are left to {@link loadKeys} to report.
 */
export function deprecatedKeysIn(keys: Keys, env: Env): Deprecation[] {
  const found: Deprecation[] = [];
  for (const key of Object.values(keys)) {
    const former = key.formerly;
    const raw = former === undefined ? undefined : env[former.name];
    if (former === undefined || raw === undefined) continue;
    const base = { name: former.name, replacement: key.name };
    if (env[key.name] !== undefined) {
      found.push({ ...base, message: `${former.name} is ignored because ${key.name} is set; remove ${former.name}` });
      continue;
    }
    const parsed = former.parse(raw);
    const instead = parsed.ok ? `${key.name}=${former.rewrite(parsed.value)}` : key.name;
    found.push({
      ...base,
      message: `${former.name} is deprecated and read for this release only; set ${instead} instead`,
    });
  }
  return found;
}
