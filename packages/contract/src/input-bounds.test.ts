import { Ajv2020 as Ajv } from 'ajv/dist/2020';
import { emailRequestSchema } from './email-request.schema';
import { MAX_QUOTED_POINTER_LENGTH, boundedRegExp, lengthBounds, quotable, sizeProblems } from './input-bounds';
import { emailBatchSchema } from './validation';

describe('lengthBounds', () => {
  it('when a pattern appears with several maxLengths, then its bound is the largest', () => {
    const schema = {
      properties: { a: { pattern: '^x$', maxLength: 5 }, b: { items: { pattern: '^x$', maxLength: 9 } } },
    };

    expect(lengthBounds('pattern', [schema]).get('^x$')).toBe(9);
  });

  it('when a pattern appears once without maxLength, then it has no bound', () => {
    const schema = { allOf: [{ pattern: '^x$', maxLength: 5 }, { not: { pattern: '^x$' } }] };

    expect(lengthBounds('pattern', [schema]).get('^x$')).toBe(Infinity);
  });

  it('when the request schema is read, then every pattern with a repeated group has a length bound', () => {
    // A repeated group is what V8 runs out of stack on over megabytes; a bare class or anchored
    // prefix is linear on any input and may go unbounded.
    const bounds = lengthBounds('pattern', [emailRequestSchema, emailBatchSchema]);
    const grouped = [...bounds.keys()].filter((pattern) => /\)[*+]/.test(pattern));

    expect(grouped.length).toBeGreaterThan(0);
    expect(grouped.filter((pattern) => !Number.isFinite(bounds.get(pattern)))).toEqual([]);
  });
});

describe('boundedRegExp', () => {
  const engine = boundedRegExp(new Map([['^(?:ab)+$', 6]]));

  it('when a string is within the bound, then the pattern judges it', () => {
    const regExp = engine('^(?:ab)+$', 'u');

    expect(regExp.test('abab')).toBe(true);
    expect(regExp.test('abba')).toBe(false);
  });

  it('when a string is over the bound, then the pattern is not run (maxLength refuses it)', () => {
    expect(engine('^(?:ab)+$', 'u').test('ab'.repeat(3_000_000))).toBe(true);
  });

  it('when a pattern has no bound, then it judges strings of any length', () => {
    expect(engine('^a+$', 'u').test('a'.repeat(1_000_000))).toBe(true);
    expect(engine('^a+$', 'u').test(`${'a'.repeat(1_000_000)}b`)).toBe(false);
  });

  it('when ajv compiles two patterns with it, then each keeps its own (ajv caches patterns by their text)', () => {
    const ajv = new Ajv({ code: { regExp: engine } });
    const check = ajv.compile({ properties: { a: { pattern: '^a+$' }, b: { pattern: '^(?:ab)+$' } } });

    expect(check({ a: 'aa', b: 'abab' })).toBe(true);
    expect(check({ a: 'aa', b: 'aa' })).toBe(false);
    expect(check({ a: 'abab', b: 'abab' })).toBe(false);
  });
});

describe('quotable', () => {
  it('when a pointer fits, then the problem is unchanged', () => {
    const problem = { pointer: '/to/0/email', detail: 'must match format "email"' };

    expect(quotable(problem)).toBe(problem);
  });

  it('when a pointer is too long, then it points at the deepest ancestor that fits and the detail says so', () => {
    const pointer = `/metadata/${'k'.repeat(10_000)}`;

    expect(quotable({ pointer, detail: 'is wrong' })).toEqual({
      pointer: '/metadata',
      detail: `below this place, at a pointer of ${pointer.length} characters (too long to quote): is wrong`,
    });
  });

  it('when a pointer is many short tokens, then the ancestor keeps as many as fit', () => {
    const pointer = '/0'.repeat(1_000);

    const { pointer: cut } = quotable({ pointer, detail: 'x' });

    expect(cut.length).toBeLessThanOrEqual(MAX_QUOTED_POINTER_LENGTH);
    expect(pointer.startsWith(`${cut}/`)).toBe(true);
  });
});

describe('sizeProblems', () => {
  const schema = {
    type: 'object',
    additionalProperties: false,
    properties: { list: { type: 'array', maxItems: 2, items: { $ref: 'item' } }, open: { maxProperties: 1 } },
  };
  const item = { type: 'object', additionalProperties: false, properties: { a: { type: 'string' } } };
  const resolve = (ref: string) => (ref === 'item' ? item : undefined);

  it('when the body is within every bound, then nothing is found', () => {
    const found = sizeProblems(schema, { list: [{ a: 'x' }], open: { k: 1 } }, resolve);

    expect([found.oversized, found.unknownProperties, found.problems.count]).toEqual([0, 0, 0]);
  });

  it('when a list and an object are over their bounds, then each is named and neither is entered', () => {
    const found = sizeProblems(schema, { list: [{ b: 1 }, { b: 1 }, { b: 1 }], open: { k: 1, l: 2 } }, resolve);

    expect(found.oversized).toBe(2);
    expect(found.unknownProperties).toBe(0);
    expect(found.problems.listed).toEqual([
      { pointer: '/list', detail: 'must NOT have more than 2 items' },
      { pointer: '/open', detail: 'must NOT have more than 1 properties' },
    ]);
  });

  it('when unknown properties sit at several levels, then all are counted, through a $ref too', () => {
    const found = sizeProblems(schema, { x: 1, list: [{ y: 1 }, { a: 'ok', z: 1 }] }, resolve);

    expect(found.unknownProperties).toBe(3);
    expect(found.problems.listed.map((problem) => problem.pointer)).toEqual(['/x', '/list/0/y', '/list/1/z']);
  });
});
