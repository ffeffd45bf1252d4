import { jsonbSafe } from './accepted-rows';

describe('jsonbSafe', () => {
  test('when a name or string value holds U+0000, then the copy has U+FFFD there and the rest as is', () => {
    expect(jsonbSafe({ 'a\u0000b': 'x\u0000', n: 1, b: false, z: null, s: 'plain' })).toEqual({
      'a\uFFFDb': 'x\uFFFD',
      n: 1,
      b: false,
      z: null,
      s: 'plain',
    });
  });
});
