import { createHash, createHmac } from 'node:crypto';
import { normalizeAddress, recipientKeyId, RecipientHasher } from './recipient-key';

const CURRENT = 'c'.repeat(32);
const OLD = 'o'.repeat(40);
const OLDER = 'p'.repeat(33);

describe('normalizeAddress', () => {
  it.each([
    ['  Ann.Lee@Example.COM \n', 'ann.lee@example.com'],
    ['ann+news@example.com', 'ann+news@example.com'],
    ['a.n.n@gmail.com', 'a.n.n@gmail.com'],
    ['ann@Bücher.Example', 'ann@xn--bcher-kva.example'],
    ['ann@xn--bcher-kva.example', 'ann@xn--bcher-kva.example'],
    // U+0065 U+0301 (e + combining acute) composes to U+00E9 under NFC.
    ['Rene\u0301@example.com', 'ren\u00e9@example.com'],
    ['"a@b"@example.com', '"a@b"@example.com'],
    ['no-at-sign', 'no-at-sign'],
  ])('when the address is %p, then its normal form is %p', (address, normal) => {
    expect(normalizeAddress(address)).toBe(normal);
  });

  it('when a domain cannot be converted to ASCII, then its lower-case text is kept', () => {
    expect(normalizeAddress('ann@Exa mple..com')).toBe('ann@exa mple..com');
  });
});

describe('RecipientHasher', () => {
  const hasher = new RecipientHasher({ current: CURRENT, previous: [OLD, OLDER] });

  it('when an address is hashed, then it is HMAC-SHA256 of its normal form under the current secret', () => {
    const expected = createHmac('sha256', CURRENT).update('ann@example.com').digest();
    expect(hasher.hash(' ANN@Example.com')).toEqual(expected);
    expect(hasher.hash('ann@example.com')).toHaveLength(32);
  });

  it('when two spellings have the same normal form, then they have the same key', () => {
    expect(hasher.hash('Ann@BÜCHER.example')).toEqual(hasher.hash('ann@xn--bcher-kva.example'));
  });

  it('when addresses differ by a dot or a +tag, then their keys differ', () => {
    expect(hasher.hash('ann@example.com')).not.toEqual(hasher.hash('a.nn@example.com'));
    expect(hasher.hash('ann@example.com')).not.toEqual(hasher.hash('ann+x@example.com'));
  });

  it('when candidates are asked for, then the current key comes first and each previous one follows in order', () => {
    const list = hasher.candidates('Ann@example.com');
    expect(list).toEqual([
      createHmac('sha256', CURRENT).update('ann@example.com').digest(),
      createHmac('sha256', OLD).update('ann@example.com').digest(),
      createHmac('sha256', OLDER).update('ann@example.com').digest(),
    ]);
  });

  it('when a previous secret repeats the current one, then it gives no second candidate', () => {
    expect(new RecipientHasher({ current: CURRENT, previous: [CURRENT] }).candidates('a@b.c')).toHaveLength(1);
  });

  it('when key ids are asked for, then each is the first 12 hex of SHA-256 of the labelled secret', () => {
    const id = (secret: string) =>
      createHash('sha256').update(`mailer recipient key\n${secret}`).digest('hex').slice(0, 12);
    expect(hasher.keyId).toBe(id(CURRENT));
    expect(hasher.keyIdOf(1)).toBe(id(OLD));
    expect(hasher.keyIdOf(2)).toBe(recipientKeyId(OLDER));
    expect(hasher.keyId).toMatch(/^[0-9a-f]{12}$/);
    expect(() => hasher.keyIdOf(3)).toThrow(RangeError);
  });

  it('when a secret is shorter than 32 characters, then the hasher refuses it', () => {
    expect(() => new RecipientHasher({ current: 'short' })).toThrow(RangeError);
    expect(() => new RecipientHasher({ current: CURRENT, previous: ['x'.repeat(31)] })).toThrow(RangeError);
  });
});
