import { firstField, isHeader, readImportLine } from './suppression-lines';

describe('readImportLine', () => {
  it.each([
    ['jane@example.org', 'jane@example.org'],
    ['  jane@example.org  ', 'jane@example.org'],
    ['jane@example.org,hard bounce,2026-01-01', 'jane@example.org'],
    ['jane@example.org;Bounce', 'jane@example.org'],
    ['jane@example.org\tBounce', 'jane@example.org'],
    ['"jane@example.org","a, b"', 'jane@example.org'],
    ['"odd,""quoted""@example.org",x', 'odd,"quoted"@example.org'],
    ['\uFEFFjane@example.org', 'jane@example.org'],
  ])('when a line is %p, then its address is %p', (line, address) => {
    expect(readImportLine(line)).toEqual({ kind: 'address', address });
  });

  it.each(['', '   ', '# exported 2026-12-07', '  # comment'])('when a line is %p, then it is skipped', (line) => {
    expect(readImportLine(line)).toEqual({ kind: 'skip' });
  });

  it.each([',no address first', '"never closed@example.org', '"",x'])(
    'when a line is %p, then it is invalid',
    (line) => {
      expect(readImportLine(line)).toEqual({ kind: 'invalid' });
    },
  );
});

describe('firstField and isHeader', () => {
  it('when the first field has no @, then the line is a header', () => {
    expect(isHeader(readImportLine('email,reason'))).toBe(true);
    expect(isHeader(readImportLine('"Email Address",Reason'))).toBe(true);
    expect(isHeader(readImportLine('jane@example.org,reason'))).toBe(false);
    expect(isHeader(readImportLine('# comment'))).toBe(false);
  });

  it('when a quoted field closes, then what follows it is not part of it', () => {
    expect(firstField('"a@example.org"trailing,x')).toBe('a@example.org');
  });
});
