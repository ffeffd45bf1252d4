import { readFileSync } from 'node:fs';
import path from 'node:path';
import { documentedKeys, keyRows, type DocumentedKey } from '@mailer/testkit';
import { configKeys } from './config';

const byName = (rows: readonly DocumentedKey[]) => [...rows].sort((a, b) => a.name.localeCompare(b.name));

/**
 * docs/configuration.md cannot drift from the keys: the consumer reads exactly the keys of the
 * tables that apply to it (its per-provider keys included), each with its documented default
 * (producer/src/configuration-docs.test.ts does the same for the producer).
 */
describe('docs/configuration.md', () => {
  const tables = documentedKeys(readFileSync(path.resolve(__dirname, '../../../docs/configuration.md'), 'utf8'));

  it('when the consumer reads its keys, then each is documented with its default, and each documented one is read', () => {
    const documented = ['Keys both services read', 'Ledger keys both services read', 'Consumer'].flatMap(
      (section) => tables.get(section) ?? [],
    );
    expect(byName(keyRows(configKeys))).toEqual(byName(documented));
  });
});
