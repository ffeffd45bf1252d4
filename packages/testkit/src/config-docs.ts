/** A configuration key as a row of a key table of docs/configuration.md lists it. */
export interface DocumentedKey {
  readonly name: string;
  /** The Default column: `undefined` for "none: required" (or "unset"), `''` for "empty". */
  readonly default: string | undefined;
}

/** A key of a configuration table, as `@mailer/config`'s `Key` has it. */
interface KeyLike {
  readonly name: string;
  readonly default?: string;
}

/**
 * The key tables of docs/configuration.md by the `## ` section they sit under (`Producer`, ...),
 * each row `| \`NAME\` | default | ... |` in the order written. A Default cell other than a
 * backticked value, "empty", "none: required" or "unset" is kept as written, so that a comparison
 * shows it.
 */
export function documentedKeys(markdown: string): Map<string, DocumentedKey[]> {
  const tables = new Map<string, DocumentedKey[]>();
  let section = '';
  for (const line of markdown.split('\n')) {
    const heading = /^## (.+)$/.exec(line);
    if (heading !== null) section = (heading[1] as string).trim();
    const row = /^\| `([A-Z][A-Z0-9_]*)` +\| ([^|]*?) *\|/.exec(line);
    if (row === null) continue;
    const cell = row[2] as string;
    const quoted = /^`([^`]*)`/.exec(cell);
    const value =
      quoted !== null
        ? quoted[1]
        : cell === 'empty'
          ? ''
          : cell === 'none: required' || cell === 'unset'
            ? undefined
            : cell;
    tables.set(section, [...(tables.get(section) ?? []), { name: row[1] as string, default: value }]);
  }
  return tables;
}

/** Name and default of each key of a table, in its order: what {@link documentedKeys} should find. */
export function keyRows(keys: Readonly<Record<string, KeyLike>> | readonly KeyLike[]): DocumentedKey[] {
  return Object.values(keys).map((key) => ({ name: key.name, default: key.default }));
}
