import { readFileSync } from 'node:fs';
import path from 'node:path';
import { documentedKeys, keyRows, type DocumentedKey } from '@mailer/testkit';
import { configKeys } from './config';

const byName = (rows: readonly DocumentedKey[]) => [...rows].sort((a, b) => a.name.localeCompare(b.name));

/**
 * docs/configuration.md cannot drift from the keys: the producer reads exactly the keys of the
 * tables that apply to it, each with its documented default (consumer/src/configuration-docs.test.ts
 * does the same for the consumer, so the tables "both services read" are read by both).
 */
describe('docs/configuration.md', () => {
  const markdown = readFileSync(path.resolve(__dirname, '../../../docs/configuration.md'), 'utf8');
  const tables = documentedKeys(markdown);

  it('when the producer reads its keys, then each is documented with its default, and each documented one is read', () => {
    const documented = ['Keys both services read', 'Ledger keys both services read', 'Producer'].flatMap(
      (section) => tables.get(section) ?? [],
    );
    expect(byName(keyRows(configKeys))).toEqual(byName(documented));
  });

  it('when a key was renamed, then its former name is documented too', () => {
    const former = Object.values(configKeys).flatMap((key) => ('formerly' in key ? [key.formerly.name] : []));
    expect(former).toEqual(['PUBLISH_TIMEOUT_MS', 'SHUTDOWN_TIMEOUT_MS']);
    expect(former.filter((name) => !markdown.includes(`\`${name}\``))).toEqual([]);
  });

  it("when it lists keys, then only in tables a test checks against the code, or the tests' own", () => {
    expect([...tables.keys()]).toEqual([
      'Keys both services read',
      'Ledger keys both services read',
      'Producer',
      'Consumer',
      'Variables the tests read',
    ]);
  });
});
