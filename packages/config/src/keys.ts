import { fail, ok, type Parsed } from './parsed';

/** Every problem found in the environment, reported together. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

/** One documented configuration key: its default and how to read it. */
export interface Key<T> {
  readonly name: string;
  readonly description: string;
  /** No default means the key is required. */
  readonly default?: string;
  readonly parse: (raw: string) => Parsed<T>;
}

/** The environment as read once in `main.ts`. */
export type Env = Readonly<Record<string, string | undefined>>;

/** The values of a table of keys. */
export type Values<Keys extends Record<string, Key<unknown>>> = {
  [K in keyof Keys]: Keys[K] extends Key<infer T> ? T : never;
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

/**
 * Reads every key of `keys` from `env`, applying defaults.
 *
 * @throws ConfigError naming every problem at once.
 */
export function loadKeys<Keys extends Record<string, Key<unknown>>>(keys: Keys, env: Env): Values<Keys> {
  const problems: string[] = [];
  const values: Partial<Record<keyof Keys, unknown>> = {};
  for (const [field, key] of Object.entries(keys) as [keyof Keys, Key<unknown>][]) {
    const raw = env[key.name] ?? key.default;
    if (raw === undefined) {
      problems.push(`${key.name} is required: ${key.description}`);
      continue;
    }
    const result = key.parse(raw);
    if (result.ok) values[field] = result.value;
    else problems.push(`${key.name} ${result.problem}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return values as Values<Keys>;
}
