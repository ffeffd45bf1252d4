import { MAX_JSON_DEPTH, MAX_JSON_MEMBERS, jsonShapeProblem } from './json-shape';

const shapeOf = (text: string) => jsonShapeProblem(Buffer.from(text));
const list = (count: number) => `[${new Array<string>(count).fill('1').join(',')}]`;

describe('jsonShapeProblem', () => {
  it('when a request is an ordinary email, then no problem', () => {
    const email = {
      from: { email: 'a@example.com' },
      to: [{ email: 'b@example.org', name: 'B, "quoted" \\ and [brackets] {braces}' }],
      subject: 'Hi, there: "x"',
      headers: { 'X-A': '1,2,3' },
    };

    expect(shapeOf(JSON.stringify(email))).toBeUndefined();
  });

  it(`when a list has exactly ${MAX_JSON_MEMBERS} items, then no problem; one more, then a problem at the list`, () => {
    expect(shapeOf(`{"to":${list(MAX_JSON_MEMBERS)}}`)).toBeUndefined();
    expect(shapeOf(`{"subject":"s","to":${list(MAX_JSON_MEMBERS + 1)}}`)).toEqual({
      pointer: '/to',
      detail: `has more than ${MAX_JSON_MEMBERS} items; no list in a request may have that many`,
    });
  });

  it('when an object has too many properties, then a problem at the object, names escaped', () => {
    const fields = Array.from({ length: MAX_JSON_MEMBERS + 1 }, (_, i) => `"f${i}":0`).join(',');

    expect(shapeOf(`{"emails":[{},{"a/b~":{${fields}}}]}`)).toEqual({
      pointer: '/emails/1/a~1b~0',
      detail: `has more than ${MAX_JSON_MEMBERS} properties; no object in a request may have that many`,
    });
  });

  it('when commas sit inside strings, escaped quotes included, then they are not members', () => {
    const text = JSON.stringify({ text: 'a,\\",'.repeat(MAX_JSON_MEMBERS * 2) });

    expect(shapeOf(text)).toBeUndefined();
  });

  it('when a key holds an escaped quote, then the pointer reads it decoded', () => {
    expect(shapeOf(`{"a\\"b":${list(MAX_JSON_MEMBERS + 1)}}`)?.pointer).toBe('/a"b');
  });

  it(`when lists nest ${MAX_JSON_DEPTH} deep, then no problem; one deeper, then a problem`, () => {
    expect(shapeOf(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`)).toBeUndefined();
    expect(shapeOf(`${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`)).toEqual({
      pointer: '/0'.repeat(MAX_JSON_DEPTH),
      detail: `nests deeper than ${MAX_JSON_DEPTH} levels; no request does`,
    });
  });

  it('when ten million brackets open, then one problem, found without parsing', () => {
    expect(jsonShapeProblem(Buffer.alloc(10_000_000, '['))?.detail).toContain('nests deeper');
  });

  it('when the text is not JSON, then no problem: the parser refuses it', () => {
    expect(shapeOf('{"a": "unterminated')).toBeUndefined();
    expect(shapeOf(',,,')).toBeUndefined();
  });
});
