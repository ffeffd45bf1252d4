import { firstMatchingRow, type FailureRow } from './failure-table';
import { POSTMARK_FAILURE_TABLE } from './postmark/errors';
import { SES_FAILURE_TABLE } from './ses/errors';
import { SMTP_FAILURE_TABLE } from './smtp/errors';

const row = (name: string, match: (n: number) => boolean): FailureRow<number> => ({
  name,
  match,
  kind: 'transient',
  ambiguous: false,
  why: 'test',
});

describe('firstMatchingRow', () => {
  it('when two rows match, then the first one decides', () => {
    const table = [row('small', (n) => n < 10), row('even', (n) => n % 2 === 0), row('any', () => true)];

    expect(firstMatchingRow(table, 4).name).toBe('small');
    expect(firstMatchingRow(table, 12).name).toBe('even');
    expect(firstMatchingRow(table, 13).name).toBe('any');
  });

  it('when no row matches (the table has no last row for anything), then it says the table is a defect', () => {
    expect(() => firstMatchingRow([row('small', (n) => n < 10)], 12)).toThrow(
      /must end with a row that matches anything/,
    );
  });
});

describe('the failure tables', () => {
  it.each([
    ['ses', SES_FAILURE_TABLE],
    ['postmark', POSTMARK_FAILURE_TABLE],
    ['smtp', SMTP_FAILURE_TABLE],
  ] as const)(
    'when the %s table is read, then every row has a name of its own starting with the provider',
    (provider, table) => {
      const names = table.map((r) => r.name);

      expect(new Set(names).size).toBe(names.length);
      expect(names.filter((name) => !name.startsWith(`${provider}-`))).toEqual([]);
    },
  );
});
