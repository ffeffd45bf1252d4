import { escapePointerToken, quotable, type ValidationProblem } from '@mailer/contract';

/**
 * Most members (items or properties) of any one JSON array or object in a request body. The
 * widest a valid request gets is a batch's 100 emails; parsing a body of a million unknown
 * properties or five million items took seconds and hundreds of MB before validation could say no.
 */
export const MAX_JSON_MEMBERS = 1000;

/** Deepest nesting of arrays and objects in a request body; a valid one nests 5 deep. */
export const MAX_JSON_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** An open array or object: how many commas it has seen, and for an object its current key. */
interface Frame {
  readonly array: boolean;
  commas: number;
  /** Byte offsets of the current key's JSON string, quotes included. */
  key?: readonly [number, number];
}

/** The RFC 6901 pointer of the member each frame is in, from the body's root. */
function pointerOf(bytes: Buffer, frames: readonly Frame[]): string {
  return frames
    .map((frame) => {
      if (frame.array) return `/${frame.commas}`;
      if (frame.key === undefined) return '/';
      const key = JSON.parse(bytes.toString('utf8', frame.key[0], frame.key[1])) as unknown;
      return `/${escapePointerToken(String(key))}`;
    })
    .join('');
}

/** The index just past the quote that closes the string opened at `start`, or -1. */
function endOfString(bytes: Buffer, start: number): number {
  for (let quote = bytes.indexOf(QUOTE, start + 1); quote !== -1; quote = bytes.indexOf(QUOTE, quote + 1)) {
    let backslashes = 0;
    while (bytes[quote - 1 - backslashes] === BACKSLASH) backslashes += 1;
    if (backslashes % 2 === 0) return quote + 1;
  }
  return -1;
}

/**
 * The first array or object in a JSON body (UTF-8 bytes) with more than {@link MAX_JSON_MEMBERS}
 * members or nested deeper than {@link MAX_JSON_DEPTH}, as a problem at its pointer; undefined
 * when there is none. Reads the bytes once without building anything (strings are skipped with
 * `indexOf`), so it runs before the parser. Text that is not JSON is left to the parser to refuse.
 */
export function jsonShapeProblem(bytes: Buffer): ValidationProblem | undefined {
  const frames: Frame[] = [];
  let lastString: readonly [number, number] | undefined;
  for (let at = 0; at < bytes.length; at += 1) {
    switch (bytes[at]) {
      case QUOTE: {
        const end = endOfString(bytes, at);
        if (end === -1) return undefined;
        lastString = [at, end];
        at = end - 1;
        break;
      }
      case COLON: {
        const top = frames.at(-1);
        if (top !== undefined && !top.array && lastString !== undefined) top.key = lastString;
        break;
      }
      case OPEN_OBJECT:
      case OPEN_ARRAY:
        if (frames.length === MAX_JSON_DEPTH) {
          return quotable({
            pointer: pointerOf(bytes, frames),
            detail: `nests deeper than ${MAX_JSON_DEPTH} levels; no request does`,
          });
        }
        frames.push({ array: bytes[at] === OPEN_ARRAY, commas: 0 });
        break;
      case CLOSE_OBJECT:
      case CLOSE_ARRAY:
        frames.pop();
        break;
      case COMMA: {
        const top = frames.at(-1);
        if (top === undefined) break;
        top.commas += 1;
        if (top.commas === MAX_JSON_MEMBERS) {
          const members = top.array ? 'items' : 'properties';
          return quotable({
            pointer: pointerOf(bytes, frames.slice(0, -1)),
            detail: `has more than ${MAX_JSON_MEMBERS} ${members}; no ${top.array ? 'list' : 'object'} in a request may have that many`,
          });
        }
        break;
      }
    }
  }
  return undefined;
}
