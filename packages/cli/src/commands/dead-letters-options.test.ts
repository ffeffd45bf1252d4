import { InvalidArgumentError } from 'commander';
import type { ParkedMessage } from '@mailer/dead-letters';
import {
  age,
  ageText,
  count,
  filterOf,
  listOf,
  parkedJson,
  parkedTable,
  progressBar,
  rate,
} from './dead-letters-options';

const view: ParkedMessage = {
  id: 'e-1',
  client: 'billing',
  reason: 'max-attempts',
  failureKind: 'provider-unavailable',
  providersTried: ['ses', 'smtp'],
  attempts: 5,
  parkedAt: '2026-12-01T10:00:00.000Z',
  ageMs: 3 * 3_600_000 + 5_000,
  lastFailure: 'smtp: 421 try later',
  replayedAt: undefined,
  autoReleases: 0,
};

describe('dead-letters options', () => {
  test('when a list repeats and has blanks, then it is trimmed, deduplicated and merged with the earlier one', () => {
    expect(listOf(['a', 'b', 'c'])(' a, b,,a ', ['c'])).toEqual(['c', 'a', 'b']);
  });

  test('when a list names an unknown value or none, then it is refused with the allowed values', () => {
    expect(() => listOf(['a', 'b'])('a,z')).toThrow(new InvalidArgumentError('unknown z; use a, b.'));
    expect(() => listOf()(' , ')).toThrow(InvalidArgumentError);
  });

  test('when ages, counts and rates are read, then only well-formed values pass', () => {
    expect(age('90s')).toBe(90_000);
    expect(age('48h')).toBe(172_800_000);
    expect(() => age('2d')).toThrow(InvalidArgumentError);
    expect(count('3')).toBe(3);
    expect(() => count('1.5')).toThrow(InvalidArgumentError);
    expect(rate('0.5')).toBe(0.5);
    expect(() => rate('0')).toThrow(InvalidArgumentError);
    expect(() => rate('1001')).toThrow(InvalidArgumentError);
  });

  test('when options are given, then the filter has exactly those fields', () => {
    expect(filterOf({})).toEqual({});
    expect(
      filterOf({
        id: ['x'],
        reason: ['invalid'],
        kind: ['transient'],
        provider: ['ses'],
        olderThan: 5,
        newerThan: 9,
        limit: 2,
      }),
    ).toEqual({
      ids: ['x'],
      reasons: ['invalid'],
      failureKinds: ['transient'],
      providers: ['ses'],
      olderThanMs: 5,
      newerThanMs: 9,
      limit: 2,
    });
  });

  test('when a parked email is printed, then --json is snake_case with nulls and the table has one row each', () => {
    expect(parkedJson({ ...view, client: undefined })).toEqual({
      id: 'e-1',
      client: null,
      reason: 'max-attempts',
      failure_kind: 'provider-unavailable',
      providers_tried: ['ses', 'smtp'],
      attempts: 5,
      parked_at: '2026-12-01T10:00:00.000Z',
      age_seconds: 10_805,
      last_failure: 'smtp: 421 try later',
      replayed_at: null,
      auto_releases: 0,
    });
    const lines = parkedTable([view, { ...view, id: undefined, providersTried: [] }]).split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^ID +REASON +KIND +PROVIDERS +ATTEMPTS +PARKED +AGE$/);
    expect(lines[1]).toMatch(/^e-1 +max-attempts +provider-unavailable +ses,smtp +5 +2026-12-01T10:00:00.000Z +3h$/);
    expect(lines[2]).toMatch(/^\(no id\) +max-attempts +provider-unavailable +- +5/);
  });

  test('when the last failure quotes full addresses (a message parked before they were masked), then it is printed masked', () => {
    const legacy = {
      ...view,
      lastFailure: 'smtp: 550 5.1.1 <jane@example.org>: unknown; bcc.person@example.net: unknown',
    };
    expect(parkedJson(legacy)['last_failure']).toBe(
      'smtp: 550 5.1.1 <j***@example.org>: unknown; b***@example.net: unknown',
    );
  });

  test('when ages and progress are drawn, then they read for a person', () => {
    expect([
      ageText(undefined),
      ageText(45_000),
      ageText(720_000),
      ageText(18_000_000),
      ageText(3 * 86_400_000),
    ]).toEqual(['-', '45s', '12m', '5h', '3d']);
    expect(progressBar(1, 4, 'replayed', 8)).toBe('[##------] 1/4 replayed');
    expect(progressBar(0, 0, 'purged', 4)).toBe('[####] 0/0 purged');
  });
});
