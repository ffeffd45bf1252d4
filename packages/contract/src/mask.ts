/*
 * The one masking rule for email addresses: the first character of the local part and the whole
 * domain stay, the rest of the local part becomes `***` (`jane.doe@example.com` reads
 * `j***@example.com`). The ledger keeps recipients so, and every error text that is stored or shown
 * (a provider's reply often quotes the recipient: Postfix's `<jane@example.org>: Recipient address
 * rejected`) goes through {@link maskAddressesIn} first.
 */

const MARK = '***';

/** Masks one address field: `jane.doe@example.com` becomes `j***@example.com`; no local part, `***`. */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at <= 0) return MARK;
  return `${address.slice(0, firstCharLength(address, 0))}${MARK}${address.slice(at)}`;
}

/**
 * Masks every email address found in a free text (a provider's error message, a raw SMTP reply, a
 * JSON answer), as {@link maskAddress} masks one; the rest of the text is left as it is.
 *
 * An address is any `@` with a local part before it and the start of a domain after it. The local
 * part is the run of RFC 5322 `atext` and dots before the `@` (any non-ASCII character that is not
 * a space counts, for RFC 6531 addresses), or a quoted string ending in `"` right before the `@`
 * (taken from the `"` before it, so a JSON-escaped `\"odd local\"@x` is caught too). It errs towards
 * masking: text that merely looks like an address (`user:pass@host`) is masked as well.
 *
 * Linear in the text's length whatever it holds (no regular expression): each character is looked
 * at by at most one backward scan of a local part and one forward scan for quotes.
 */
export function maskAddressesIn(text: string): string {
  let at = text.indexOf('@');
  if (at === -1) return text;
  // Spans [start, end) of local parts to hide, in order; a quoted local part may swallow earlier ones.
  const starts: number[] = [];
  const ends: number[] = [];
  const quotes = new QuoteScanner(text);
  while (at !== -1) {
    const localStart = at > 0 ? localPartStart(text, at, quotes) : at;
    if (
      localStart < at &&
      at + 1 < text.length &&
      isDomainStart(text.charCodeAt(at + 1)) &&
      !isMasked(text, localStart, at)
    ) {
      let start = localStart + firstCharLength(text, localStart);
      while (starts.length > 0 && start <= (ends.at(-1) ?? -1)) {
        start = Math.min(start, starts.pop() ?? start);
        ends.pop();
      }
      starts.push(start);
      ends.push(at);
    }
    at = text.indexOf('@', at + 1);
  }
  if (starts.length === 0) return text;
  let masked = '';
  let cursor = 0;
  for (let i = 0; i < starts.length; i += 1) {
    masked += `${text.slice(cursor, starts[i])}${MARK}`;
    cursor = ends[i] ?? cursor;
  }
  return masked + text.slice(cursor);
}

/** Where the local part ending right before `at` starts; `at` itself when there is none. */
function localPartStart(text: string, at: number, quotes: QuoteScanner): number {
  const before = at - 1;
  if (text.charCodeAt(before) === QUOTE) return quotes.lastBefore(before) ?? before;
  let start = at;
  while (start > 0 && isLocalChar(text.charCodeAt(start - 1))) start -= 1;
  return start;
}

/**
 * Whether the local part [start, at) is masked already (`j***`, or the `***` of `"***`), so that
 * masking again (at the source, then at the ledger's write, then when shown) changes nothing.
 */
function isMasked(text: string, start: number, at: number): boolean {
  const kept = at - MARK.length - start;
  return kept >= 0 && text.startsWith(MARK, at - MARK.length) && (kept === 0 || kept === firstCharLength(text, start));
}

const QUOTE = 0x22;

/**
 * Finds the last `"` before a position, for positions asked in increasing order: it only ever
 * reads forward, so all the questions about one text cost one pass over it.
 */
class QuoteScanner {
  private last: number | undefined;
  private next = 0;

  constructor(private readonly text: string) {}

  lastBefore(position: number): number | undefined {
    for (;;) {
      const found = this.text.indexOf('"', this.next);
      // The quote at `position` itself is always found, so the search never runs past it.
      if (found === -1 || found >= position) return this.last;
      this.last = found;
      this.next = found + 1;
    }
  }
}

/** RFC 5322 `atext` and the dot, ASCII part. */
const LOCAL_ASCII = (() => {
  const table = new Uint8Array(128);
  const allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~.";
  for (let i = 0; i < allowed.length; i += 1) table[allowed.charCodeAt(i)] = 1;
  return table;
})();

function isLocalChar(code: number): boolean {
  return code < 0x80 ? LOCAL_ASCII[code] === 1 : !isWideSpace(code);
}

/** A domain starts with a letter or digit (an IDN label with any non-ASCII one), or `[` for an address literal. */
function isDomainStart(code: number): boolean {
  if (code >= 0x80) return !isWideSpace(code);
  return (
    (code >= 0x30 && code <= 0x39) ||
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    code === 0x5b ||
    code === 0x5f
  );
}

/** Unicode spaces and line breaks above ASCII: they end an address as an ASCII space does. */
function isWideSpace(code: number): boolean {
  return (
    code === 0x85 ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200b) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** UTF-16 units of the character at `index`: 2 for a surrogate pair, so a kept first character is whole. */
function firstCharLength(text: string, index: number): number {
  const code = text.charCodeAt(index);
  const next = text.charCodeAt(index + 1);
  return code >= 0xd800 && code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff ? 2 : 1;
}
