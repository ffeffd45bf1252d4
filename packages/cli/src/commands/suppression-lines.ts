/*
 * Reading the lines of `mailer suppressions import FILE`: one address per line, or a CSV file
 * whose first column holds the address (as exported by SES's list, Postmark's suppression dump or
 * a spreadsheet). Pure, so the rules are tested without a file or a database.
 */

/** What one line of an import file holds. */
export type ImportLine =
  | { readonly kind: 'address'; readonly address: string }
  /** Blank, or a `#` comment. */
  | { readonly kind: 'skip' }
  /** The first column is empty or is a quoted field that never closes. */
  | { readonly kind: 'invalid' };

/**
 * The first CSV field of `line` (RFC 4180: a field in double quotes may hold commas, and `""`
 * inside it is one quote), trimmed; undefined for a quoted field that does not close on the line.
 */
export function firstField(line: string): string | undefined {
  const text = line.trimStart();
  if (!text.startsWith('"')) {
    const comma = text.search(/[,;\t]/);
    return (comma === -1 ? text : text.slice(0, comma)).trim();
  }
  let field = '';
  for (let i = 1; i < text.length; i += 1) {
    const c = text.charAt(i);
    if (c !== '"') {
      field += c;
      continue;
    }
    if (text[i + 1] === '"') {
      field += '"';
      i += 1;
      continue;
    }
    return field.trim();
  }
  return undefined;
}

/** One line of an import file: an address, nothing (blank or `#` comment), or unreadable. */
export function readImportLine(line: string): ImportLine {
  const text = line.replace(/^\uFEFF/, '').trim();
  if (text === '' || text.startsWith('#')) return { kind: 'skip' };
  const field = firstField(text);
  return field === undefined || field === '' ? { kind: 'invalid' } : { kind: 'address', address: field };
}

/**
 * Whether the first line that holds something is a CSV header rather than an address: its first
 * column has no `@` (`email`, `Email Address`, `"address"`).
 */
export function isHeader(line: ImportLine): boolean {
  return line.kind === 'address' && !line.address.includes('@');
}
