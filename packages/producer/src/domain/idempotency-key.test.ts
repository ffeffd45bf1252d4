import { checkIdempotencyKey } from './idempotency-key';

describe('checkIdempotencyKey', () => {
  it.each([
    ['a UUID', '0191f7a4-8c1e-7c4b-9a53-2f9d8d3e4b10'],
    ['one character', 'k'],
    ['255 characters', 'k'.repeat(255)],
    ['spaces and punctuation inside', 'order 42: retry #1 ~ ok'],
    ['every printable ASCII character', Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i)).join('')],
  ])('when the key is %s, then it is kept as it is', (_label, raw) => {
    expect(checkIdempotencyKey(raw)).toEqual({ ok: true, key: raw });
  });

  it.each([
    ['empty', '', 'Idempotency-Key must not be empty'],
    ['256 characters', 'k'.repeat(256), 'Idempotency-Key must be at most 255 characters (got 256)'],
    ['with a tab', 'a\tb', 'Idempotency-Key must be printable ASCII (space to ~), without control characters'],
    ['with DEL', 'a\u007fb', 'Idempotency-Key must be printable ASCII (space to ~), without control characters'],
    [
      'with a non-ASCII letter',
      'clé',
      'Idempotency-Key must be printable ASCII (space to ~), without control characters',
    ],
  ])('when the key is %s, then the problem is named', (_label, raw, detail) => {
    expect(checkIdempotencyKey(raw)).toEqual({ ok: false, detail });
  });
});
