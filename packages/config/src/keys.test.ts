import {
  ConfigError,
  boolean,
  deprecatedKeysIn,
  duration,
  formatDuration,
  formerMilliseconds,
  integer,
  loadKeys,
  parseDurationMs,
  text,
  type Key,
} from './keys';
import { ok } from './parsed';

/** A table with one key of each kind, the way a service declares its keys. */
const keys = {
  port: { name: 'PORT', description: 'HTTP port.', default: '3000', parse: integer(0, 65535) },
  token: { name: 'TOKEN', description: 'The API token.', parse: text((raw) => raw !== '', 'must not be empty') },
  shutdownTimeoutMs: {
    name: 'SHUTDOWN_TIMEOUT',
    description: 'Time to finish.',
    default: '10s',
    parse: duration('0s', '10m'),
    formerly: formerMilliseconds('SHUTDOWN_TIMEOUT_MS', '0s', '10m'),
  },
} satisfies Record<string, Key<unknown>>;

/** The problems `loadKeys` reports for `env`; fails the test if it does not throw a ConfigError. */
function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadKeys(keys, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected loadKeys to throw a ConfigError');
}

describe('parseDurationMs', () => {
  it.each([
    ['0s', 0],
    ['0ms', 0],
    ['500ms', 500],
    ['10s', 10_000],
    ['1m', 60_000],
    ['2h', 7_200_000],
  ])('when it reads %p, then it is %p ms', (raw, ms) => {
    expect(parseDurationMs(raw)).toBe(ms);
  });

  it.each(['', '10', '1.5s', '-1s', '10 s', ' 10s', '10S', '1d', 's', '9'.repeat(20) + 'h'])(
    'when it reads %p, then it is not a duration',
    (raw) => {
      expect(parseDurationMs(raw)).toBeUndefined();
    },
  );
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [250, '250ms'],
    [1500, '1500ms'],
    [10_000, '10s'],
    [90_000, '90s'],
    [120_000, '2m'],
    [7_200_000, '2h'],
  ])('when it writes %p ms, then it is %p, which reads back the same', (ms, written) => {
    expect(formatDuration(ms)).toBe(written);
    expect(parseDurationMs(written)).toBe(ms);
  });
});

describe('duration', () => {
  const parse = duration('100ms', '2m');

  it('when a value is at either bound, then it is read as milliseconds', () => {
    expect([parse('100ms'), parse('2m'), parse('120s')]).toEqual([ok(100), ok(120_000), ok(120_000)]);
  });

  it.each(['99ms', '121s', '5000', 'soon'])(
    'when the value is %p, then the problem names the format and range',
    (raw) => {
      expect(parse(raw)).toEqual({
        ok: false,
        problem: 'must be a duration such as 500ms, 10s, 1m or 2h, from 100ms to 2m',
      });
    },
  );

  it('when zero is allowed, then the problem says only the upper bound', () => {
    expect(duration('0s', '10m')('11m')).toEqual({
      ok: false,
      problem: 'must be a duration such as 500ms, 10s, 1m or 2h, at most 10m',
    });
  });

  it('when the bounds are not durations in order, then declaring the key throws', () => {
    expect(() => duration('1m', '10s')).toThrow('bad duration bounds 1m..10s');
    expect(() => duration('1', '10s')).toThrow('bad duration bounds');
  });
});

describe('integer, text and boolean', () => {
  it('when values are in range, then they are read; otherwise the rule is named', () => {
    expect(integer(1, 5)('5')).toEqual(ok(5));
    expect(integer(1, 5)('6')).toEqual({ ok: false, problem: 'must be a whole number from 1 to 5' });
    expect(text((raw) => raw === 'a', 'must be a')('b')).toEqual({ ok: false, problem: 'must be a' });
    expect([boolean('true'), boolean('false')]).toEqual([ok(true), ok(false)]);
    expect(boolean('yes')).toEqual({ ok: false, problem: 'must be true or false' });
  });
});

describe('loadKeys', () => {
  it('when only the required key is set, then the others take their defaults', () => {
    expect(loadKeys(keys, { TOKEN: 't' })).toEqual({ port: 3000, token: 't', shutdownTimeoutMs: 10_000 });
  });

  it('when several keys are wrong or missing, then one ConfigError names them all, in table order', () => {
    expect(problemsOf({ PORT: 'x', SHUTDOWN_TIMEOUT: 'soon' })).toEqual([
      'PORT must be a whole number from 0 to 65535',
      'TOKEN is required: The API token.',
      'SHUTDOWN_TIMEOUT must be a duration such as 500ms, 10s, 1m or 2h, at most 10m',
    ]);
  });

  it('when a ConfigError is thrown, then its message lists every problem on its own line', () => {
    const error = new ConfigError(['A is wrong', 'B is wrong']);

    expect(error.name).toBe('ConfigError');
    expect(error.message).toBe('invalid configuration:\n  - A is wrong\n  - B is wrong');
  });

  it('when only the former name is set, then its value is read in the former format', () => {
    expect(loadKeys(keys, { TOKEN: 't', SHUTDOWN_TIMEOUT_MS: '2500' }).shutdownTimeoutMs).toBe(2500);
  });

  it('when both names are set, then the new name wins', () => {
    expect(loadKeys(keys, { TOKEN: 't', SHUTDOWN_TIMEOUT: '1m', SHUTDOWN_TIMEOUT_MS: '2500' }).shutdownTimeoutMs).toBe(
      60_000,
    );
  });

  it('when the former name holds a value its format refuses, then the problem names the former key', () => {
    expect(problemsOf({ TOKEN: 't', SHUTDOWN_TIMEOUT_MS: '10s' })).toEqual([
      'SHUTDOWN_TIMEOUT_MS must be a whole number from 0 to 600000',
    ]);
  });

  it('when both names are set and only the ignored former one is wrong, then nothing is reported', () => {
    expect(loadKeys(keys, { TOKEN: 't', SHUTDOWN_TIMEOUT: '1s', SHUTDOWN_TIMEOUT_MS: 'junk' }).shutdownTimeoutMs).toBe(
      1000,
    );
  });
});

describe('deprecatedKeysIn', () => {
  it('when no former name is set, then there is nothing to warn about', () => {
    expect(deprecatedKeysIn(keys, { TOKEN: 't', SHUTDOWN_TIMEOUT: '1s' })).toEqual([]);
  });

  it('when the former name is set alone, then the warning gives the new key with the value rewritten', () => {
    expect(deprecatedKeysIn(keys, { SHUTDOWN_TIMEOUT_MS: '90000' })).toEqual([
      {
        name: 'SHUTDOWN_TIMEOUT_MS',
        replacement: 'SHUTDOWN_TIMEOUT',
        message: 'SHUTDOWN_TIMEOUT_MS is deprecated and read for this release only; set SHUTDOWN_TIMEOUT=90s instead',
      },
    ]);
  });

  it('when the former name holds a bad value, then the warning names the new key without a value', () => {
    expect(deprecatedKeysIn(keys, { SHUTDOWN_TIMEOUT_MS: 'junk' })[0]?.message).toBe(
      'SHUTDOWN_TIMEOUT_MS is deprecated and read for this release only; set SHUTDOWN_TIMEOUT instead',
    );
  });

  it('when both names are set, then the warning says the former one is ignored', () => {
    expect(deprecatedKeysIn(keys, { SHUTDOWN_TIMEOUT: '1s', SHUTDOWN_TIMEOUT_MS: '500' })[0]?.message).toBe(
      'SHUTDOWN_TIMEOUT_MS is ignored because SHUTDOWN_TIMEOUT is set; remove SHUTDOWN_TIMEOUT_MS',
    );
  });
});
