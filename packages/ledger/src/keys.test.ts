import { hashRequest, IDEMPOTENCY_KEY_PATTERN } from './keys';

describe('hashRequest', () => {
  test('when two bodies differ only in key order, then they hash the same', () => {
    const a = hashRequest('POST /v1/emails', { to: ['a@x.io'], subject: 's', tags: { a: '1', b: '2' } });
    const b = hashRequest('POST /v1/emails', { tags: { b: '2', a: '1' }, subject: 's', to: ['a@x.io'] });
    expect(a).toBe(b);
  });

  test('when a value, the array order or the route differs, then the hash differs', () => {
    const base = hashRequest('POST /v1/emails', { to: ['a', 'b'], subject: 's' });
    expect(hashRequest('POST /v1/emails', { to: ['a', 'b'], subject: 't' })).not.toBe(base);
    expect(hashRequest('POST /v1/emails', { to: ['b', 'a'], subject: 's' })).not.toBe(base);
    expect(hashRequest('POST /v1/emails/batch', { to: ['a', 'b'], subject: 's' })).not.toBe(base);
  });
});

describe('IDEMPOTENCY_KEY_PATTERN', () => {
  test('when a key is 1-255 printable ASCII, then it matches; otherwise not', () => {
    expect(IDEMPOTENCY_KEY_PATTERN.test('order-42 retry #1')).toBe(true);
    expect(IDEMPOTENCY_KEY_PATTERN.test('x'.repeat(255))).toBe(true);
    for (const bad of ['', 'x'.repeat(256), 'tab\t', 'é', 'nul\u0000'])
      expect(IDEMPOTENCY_KEY_PATTERN.test(bad)).toBe(false);
  });
});
