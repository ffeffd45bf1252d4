import {
  checkSuppressionAddressQuery,
  checkSuppressionListQuery,
  suppressionAddressProblem,
  validateSuppressionAdd,
} from './suppression-validation';

const now = new Date('2026-12-07T12:00:00Z');

function problemsOf(body: unknown) {
  const result = validateSuppressionAdd(body, now);
  if (result.ok) throw new Error('expected the body to be refused');
  return result.problems;
}

describe('validateSuppressionAdd', () => {
  it('when only an address is given, then the entry is manual, with no note and no expiry', () => {
    expect(validateSuppressionAdd({ email: 'jane@example.org' }, now)).toEqual({
      ok: true,
      value: { email: 'jane@example.org', reason: 'manual' },
    });
  });

  it('when every field is given, then the expiry is read as a time', () => {
    const result = validateSuppressionAdd(
      { email: 'jane@example.org', reason: 'manual', note: 'asked by phone', expires_at: '2027-01-31T08:00:00+01:00' },
      now,
    );
    expect(result).toEqual({
      ok: true,
      value: {
        email: 'jane@example.org',
        reason: 'manual',
        note: 'asked by phone',
        expiresAt: new Date('2027-01-31T07:00:00Z'),
      },
    });
  });

  it('when several fields are wrong, then every problem is named by its pointer', () => {
    expect(problemsOf({ email: 'not-an-address', reason: 'hard-bounce', note: 'two\nlines', extra: 1 })).toEqual(
      expect.arrayContaining([
        { pointer: '/email', detail: 'must be an email address' },
        { pointer: '/reason', detail: 'must be one of manual' },
        { pointer: '/note', detail: 'must not contain line breaks or other control characters' },
        { pointer: '/extra', detail: 'is not allowed here' },
      ]),
    );
  });

  it.each([
    ['no address', {}, '/email', 'is required'],
    [
      'an address over 254 characters',
      { email: `${'a'.repeat(250)}@example.org` },
      '/email',
      'must NOT have more than 254 characters',
    ],
    ['an empty note', { email: 'a@example.org', note: '' }, '/note', 'must NOT have fewer than 1 characters'],
    [
      'a note over 500 characters',
      { email: 'a@example.org', note: 'n'.repeat(501) },
      '/note',
      'must NOT have more than 500 characters',
    ],
    [
      'a lone surrogate in the note',
      { email: 'a@example.org', note: 'x\ud800' },
      '/note',
      'must be well-formed Unicode (no lone surrogates)',
    ],
    [
      'an expiry without an offset',
      { email: 'a@example.org', expires_at: '2027-01-31T08:00:00' },
      '/expires_at',
      'must be an RFC 3339 date-time that exists, such as 2027-01-31T08:00:00Z',
    ],
    [
      'an expiry on a day that does not exist',
      { email: 'a@example.org', expires_at: '2027-02-29T08:00:00Z' },
      '/expires_at',
      'must be an RFC 3339 date-time that exists, such as 2027-01-31T08:00:00Z',
    ],
    [
      'an expiry with a space for the T',
      { email: 'a@example.org', expires_at: '2027-01-31 08:00:00Z' },
      '/expires_at',
      'must be an RFC 3339 date-time with an offset, such as 2027-01-31T08:00:00Z',
    ],
    [
      'an expiry in the past',
      { email: 'a@example.org', expires_at: '2026-12-07T11:59:59Z' },
      '/expires_at',
      'must be in the future',
    ],
    [
      'an expiry of exactly now',
      { email: 'a@example.org', expires_at: '2026-12-07T12:00:00Z' },
      '/expires_at',
      'must be in the future',
    ],
    [
      'a leap second',
      { email: 'a@example.org', expires_at: '2027-06-30T23:59:60Z' },
      '/expires_at',
      'must be an RFC 3339 date-time that exists',
    ],
  ])('when the body has %s, then it is refused at %s', (_label, body, pointer, detail) => {
    expect(problemsOf(body)).toContainEqual({ pointer, detail });
  });

  it.each([null, 'jane@example.org', ['jane@example.org'], 42])('when the body is %p, then it is refused', (body) => {
    expect(problemsOf(body)).toEqual([{ pointer: '', detail: 'must be object' }]);
  });
});

describe('checkSuppressionAddressQuery', () => {
  it('when GET names one address, then that is the query', () => {
    expect(checkSuppressionAddressQuery({ email: 'jane@example.org' }, 'get')).toEqual({
      ok: true,
      value: { email: 'jane@example.org' },
    });
  });

  it('when DELETE names an address and a note, then both are read', () => {
    expect(checkSuppressionAddressQuery({ email: 'jane@example.org', note: 'asked' }, 'delete')).toEqual({
      ok: true,
      value: { email: 'jane@example.org', note: 'asked' },
    });
  });

  it.each([
    [
      'a note on GET',
      { email: 'a@example.org', note: 'x' },
      'get',
      { parameter: 'note', detail: 'is not allowed here' },
    ],
    [
      'a list filter beside the address',
      { email: 'a@example.org', reason: 'manual' },
      'get',
      { parameter: 'reason', detail: 'is not allowed here' },
    ],
    [
      'the address twice',
      { email: ['a@example.org', 'b@example.org'] },
      'get',
      { parameter: 'email', detail: 'must be given once' },
    ],
    ['no address on DELETE', { note: 'x' }, 'delete', { parameter: 'email', detail: 'is required' }],
    [
      'a malformed address',
      { email: 'jane at example.org' },
      'delete',
      { parameter: 'email', detail: 'must be an email address' },
    ],
  ] as const)('when the query has %s, then the parameter is named', (_label, query, method, problem) => {
    expect(checkSuppressionAddressQuery(query, method)).toEqual({ ok: false, errors: [problem] });
  });
});

describe('checkSuppressionListQuery', () => {
  it('when filters are given, then the limit is a number and an empty cursor is the first page', () => {
    expect(checkSuppressionListQuery({ reason: 'hard-bounce', limit: '100', cursor: '' })).toEqual({
      ok: true,
      value: { reason: 'hard-bounce', limit: 100 },
    });
    expect(checkSuppressionListQuery({})).toEqual({ ok: true, value: {} });
  });

  it.each([
    ['limit', '0', 'must be a whole number from 1 to 100'],
    ['limit', '101', 'must be a whole number from 1 to 100'],
    ['limit', '05', 'must be a whole number from 1 to 100'],
    ['reason', 'bounce', 'must be one of hard-bounce, complaint, recipient-rejected, unsubscribed, manual'],
    ['cursor', 'c'.repeat(201), 'must NOT have more than 200 characters'],
    ['status', 'x', 'is not allowed here'],
  ])('when %s is %p, then it is named', (parameter, value, detail) => {
    expect(checkSuppressionListQuery({ [parameter]: value })).toEqual({ ok: false, errors: [{ parameter, detail }] });
  });

  it('when a parameter name is very long, then only its start is quoted', () => {
    const result = checkSuppressionListQuery({ ['x'.repeat(5000)]: '1' });
    expect(result).toEqual({
      ok: false,
      errors: [{ parameter: `${'x'.repeat(100)}...`, detail: 'is not allowed here' }],
    });
  });
});

describe('suppressionAddressProblem', () => {
  it('when the address is one intake would accept, then there is no problem', () => {
    expect(suppressionAddressProblem('Jane.Doe+x@Example.org')).toBeUndefined();
  });

  it.each(['', 'jane', 'jane@', '@example.org', `${'a'.repeat(250)}@example.org`])(
    'when the address is %p, then the problem is said',
    (address) => {
      expect(suppressionAddressProblem(address)).toMatch(/email address|254 characters/);
    },
  );
});
