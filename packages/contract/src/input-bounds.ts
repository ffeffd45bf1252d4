import type { RegExpEngine } from 'ajv/dist/types';

/*
 * What keeps validation cheap whatever the body: a request of a few KB (gzipped) can hold five
 * million array items or a million unknown properties, and ajv with `allErrors` walks every item
 * and lists every unknown name, and runs every pattern on strings already too long. These
 * helpers check sizes before content and cap what is kept, so that time, memory and the answer
 * stay bounded.
 */

/** One thing wrong with a request: where (an RFC 6901 JSON pointer into the body) and what. */
export interface ValidationProblem {
  readonly pointer: string;
  readonly detail: string;
}

/** Most problems one refusal lists; the rest are only counted (`omitted`). */
export const MAX_LISTED_PROBLEMS = 100;

/** Longest pointer quoted in a problem: a property name can be megabytes long. */
export const MAX_QUOTED_POINTER_LENGTH = 512;

/** RFC 6901 escaping of one reference token. */
export function escapePointerToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * Problems as they are found: the first {@link MAX_LISTED_PROBLEMS} kept, every one counted.
 * `add` takes a function so that an unlisted problem costs no pointer string.
 */
export class ProblemList {
  readonly listed: ValidationProblem[] = [];
  count = 0;

  add(problem: () => ValidationProblem): void {
    this.count += 1;
    if (this.listed.length < MAX_LISTED_PROBLEMS) this.listed.push(problem());
  }
}

/**
 * A problem whose pointer fits in an answer: a longer one (a property name of megabytes, or junk
 * nested thousands deep) points at its deepest ancestor that fits, and the detail says so.
 */
export function quotable(problem: ValidationProblem): ValidationProblem {
  if (problem.pointer.length <= MAX_QUOTED_POINTER_LENGTH) return problem;
  const cut = problem.pointer.lastIndexOf('/', MAX_QUOTED_POINTER_LENGTH);
  return {
    pointer: problem.pointer.slice(0, Math.max(cut, 0)),
    detail: `below this place, at a pointer of ${problem.pointer.length} characters (too long to quote): ${problem.detail}`,
  };
}

/** A JSON Schema node, read loosely: only the keywords these helpers look at. */
type SchemaNode = Readonly<Record<string, unknown>>;

const isNode = (value: unknown): value is SchemaNode =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Every schema node below `root` (subschemas in keywords, lists and maps), `root` included. */
function* nodesOf(root: unknown): Generator<SchemaNode> {
  if (Array.isArray(root)) {
    for (const item of root) yield* nodesOf(item);
    return;
  }
  if (!isNode(root)) return;
  yield root;
  for (const value of Object.values(root)) yield* nodesOf(value);
}

/**
 * The longest string each value of `keyword` (`pattern` or `format`) is applied to in `schemas`:
 * the largest `maxLength` beside it, or Infinity where one has none.
 */
export function lengthBounds(keyword: 'pattern' | 'format', schemas: readonly unknown[]): ReadonlyMap<string, number> {
  const bounds = new Map<string, number>();
  for (const node of schemas.flatMap((schema) => [...nodesOf(schema)])) {
    const value = node[keyword];
    if (typeof value !== 'string') continue;
    const bound = typeof node['maxLength'] === 'number' ? node['maxLength'] : Infinity;
    bounds.set(value, Math.max(bounds.get(value) ?? 0, bound));
  }
  return bounds;
}

/**
 * ajv's regular-expression engine (its `code.regExp` option), with each pattern run only on
 * strings within the length its schema allows. A longer string already fails `maxLength`, which
 * says what is wrong; V8 would run a grouped pattern over megabytes into "Maximum call stack size
 * exceeded". `bounds` comes from {@link lengthBounds}; a pattern without one always runs (those
 * are anchored prefixes or single character classes, linear on any input).
 */
export function boundedRegExp(bounds: ReadonlyMap<string, number>): RegExpEngine {
  const engine = (pattern: string, flags: string) => {
    const regExp = new RegExp(pattern, flags);
    const bound = bounds.get(pattern) ?? Infinity;
    // ajv keys its compiled patterns by `toString()`: the RegExp's own keeps them apart.
    return { test: (text: string) => text.length > bound || regExp.test(text), toString: () => regExp.toString() };
  };
  // Only read by ajv's standalone code generation, which this project does not use.
  engine.code = 'new RegExp';
  return engine;
}

/** Where a value sits in the body, as a chain up to the root: its pointer is built only for a problem listed. */
interface PathNode {
  readonly parent: PathNode | undefined;
  readonly token: string | number;
}

/** The RFC 6901 pointer of `path` ('' for the root). */
function pointerOf(path: PathNode | undefined): string {
  const tokens: string[] = [];
  for (let at = path; at !== undefined; at = at.parent) tokens.push(escapePointerToken(String(at.token)));
  return tokens.length === 0 ? '' : `/${tokens.reverse().join('/')}`;
}

/** Each schema node's `patternProperties`, compiled once: the scan runs on every message. */
const compiledPatterns = new WeakMap<SchemaNode, readonly { readonly regExp: RegExp; readonly pattern: string }[]>();

function patternsOf(node: SchemaNode, patternProperties: SchemaNode) {
  let patterns = compiledPatterns.get(node);
  if (patterns === undefined) {
    patterns = Object.keys(patternProperties).map((pattern) => ({ regExp: new RegExp(pattern, 'u'), pattern }));
    compiledPatterns.set(node, patterns);
  }
  return patterns;
}

/**
 * The size problems of `body` against `schema`, found before any content is looked at: arrays
 * over `maxItems` and objects over `maxProperties` (neither is entered), and properties that a
 * closed object (`additionalProperties: false`) does not allow, counted across the whole body.
 * `resolve` gives the schema a `$ref` names. Recursion follows the schema, so its depth is the
 * schema's, whatever the body. A problem's pointer is built only when the problem is listed.
 */
export function sizeProblems(
  schema: SchemaNode,
  body: unknown,
  resolve: (ref: string) => SchemaNode | undefined,
): { readonly oversized: number; readonly unknownProperties: number; readonly problems: ProblemList } {
  const problems = new ProblemList();
  let oversized = 0;
  let unknownProperties = 0;

  const visit = (node: SchemaNode, value: unknown, path: PathNode | undefined): void => {
    const ref = node['$ref'];
    const at = typeof ref === 'string' ? (resolve(ref) ?? node) : node;
    if (Array.isArray(value)) {
      const maxItems = at['maxItems'];
      if (typeof maxItems === 'number' && value.length > maxItems) {
        oversized += 1;
        problems.add(() => ({ pointer: pointerOf(path), detail: `must NOT have more than ${maxItems} items` }));
        return;
      }
      const items = at['items'];
      if (isNode(items)) value.forEach((item: unknown, index) => visit(items, item, { parent: path, token: index }));
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const names = Object.keys(value);
    const maxProperties = at['maxProperties'];
    if (typeof maxProperties === 'number' && names.length > maxProperties) {
      oversized += 1;
      problems.add(() => ({ pointer: pointerOf(path), detail: `must NOT have more than ${maxProperties} properties` }));
      return;
    }
    const properties = isNode(at['properties']) ? at['properties'] : {};
    const patternProperties = isNode(at['patternProperties']) ? at['patternProperties'] : undefined;
    const patterns = patternProperties === undefined ? [] : patternsOf(at, patternProperties);
    const additional = at['additionalProperties'];
    for (const name of names) {
      let child: unknown = additional;
      if (Object.hasOwn(properties, name)) child = properties[name];
      else if (patterns.length > 0) {
        const matched = patterns.find(({ regExp }) => regExp.test(name));
        if (matched !== undefined) child = patternProperties?.[matched.pattern];
      }
      if (isNode(child)) {
        visit(child, (value as Record<string, unknown>)[name], { parent: path, token: name });
      } else if (child === false) {
        unknownProperties += 1;
        problems.add(() => ({
          pointer: pointerOf({ parent: path, token: name }),
          detail: 'is not an allowed property',
        }));
      }
    }
  };

  visit(schema, body, undefined);
  return { oversized, unknownProperties, problems };
}
