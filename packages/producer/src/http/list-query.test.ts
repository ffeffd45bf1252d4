import { isCalendarDateTime, readListQuery } from './list-query';

describe('isCalendarDateTime', () => {
  it.each(['2026-01-31T08:00:00Z', '2024-02-29T00:00:00Z', '2000-02-29T23:59:59+01:00', '2026-12-31t00:00:00z'])(
    'when the date-time is %p, then it exists',
    (raw) => {
      expect(isCalendarDateTime(raw)).toBe(true);
    },
  );

  it.each([
    '2026-02-31T00:00:00Z',
    '2026-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-00-10T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-01-00T00:00:00Z',
    '2026-01-01T24:00:00Z',
  ])('when the date-time is %p, then it does not exist', (raw) => {
    expect(isCalendarDateTime(raw)).toBe(false);
  });
});

describe('readListQuery', () => {
  it('when cursor is empty, then it is the first page, as with no cursor', () => {
    expect(readListQuery({ cursor: '', status: 'sent' })).toEqual({ ok: true, filter: { status: 'sent' } });
  });

  it('when cursor is given, then it is read as before', () => {
    expect(readListQuery({ cursor: 'abc' })).toEqual({ ok: true, filter: { cursor: 'abc' } });
  });

  it('when since is 2026-02-31, then a problem at since', () => {
    expect(readListQuery({ since: '2026-02-31T00:00:00Z' })).toEqual({
      ok: false,
      errors: [{ parameter: 'since', detail: 'must be a date and time that exist (not 2026-02-31 or 24:00)' }],
    });
  });

  it('when since does not exist and another parameter is wrong, then both are named', () => {
    const checked = readListQuery({ since: '2026-04-31T00:00:00Z', limit: '0' });

    expect(checked.ok ? [] : checked.errors.map((error) => error.parameter)).toEqual(['limit', 'since']);
  });

  it('when since is not a date-time at all, then only the format problem is named', () => {
    const checked = readListQuery({ since: 'yesterday' });

    expect(checked.ok ? [] : checked.errors).toHaveLength(1);
  });
});
