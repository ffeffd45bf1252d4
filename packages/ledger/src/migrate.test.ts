import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMigrations } from './migrate';

describe('readMigrations', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'migrations-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('when the package is read, then its migrations run 1, 2, ... with a checksum each', () => {
    const migrations = readMigrations();
    expect(migrations.map((m) => m.version)).toEqual(migrations.map((_, k) => k + 1));
    expect(migrations.every((m) => /^[0-9a-f]{64}$/.test(m.checksum))).toBe(true);
  });

  test('when files are listed out of order, then they are read in version order', () => {
    writeFileSync(join(dir, '0002_b.sql'), 'SELECT 2');
    writeFileSync(join(dir, '0001_a.sql'), 'SELECT 1');
    expect(readMigrations(dir).map((m) => [m.version, m.name])).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
  });

  test('when a version is missing or a file is misnamed, then reading refuses', () => {
    writeFileSync(join(dir, '0001_a.sql'), 'SELECT 1');
    writeFileSync(join(dir, '0003_c.sql'), 'SELECT 3');
    expect(() => readMigrations(dir)).toThrow(/found 3 at place 2/);
    rmSync(join(dir, '0003_c.sql'));
    writeFileSync(join(dir, '2_bad.sql'), 'SELECT 2');
    expect(() => readMigrations(dir)).toThrow(/not named NNNN_name.sql/);
  });
});
