import { findApiKey, hasScope, hashKey, maySendFrom, parseApiKeys, type ApiKey } from './api-keys';

const sha256 = (key: string) => hashKey(key).toString('hex');

function keysOf(raw: string): ApiKey[] {
  const parsed = parseApiKeys(raw);
  if (!parsed.ok) throw new Error(`expected API_KEYS to parse: ${parsed.problem}`);
  return parsed.value;
}

function problemOf(raw: string): string {
  const parsed = parseApiKeys(raw);
  if (parsed.ok) throw new Error('expected API_KEYS to be refused');
  return parsed.problem;
}

describe('parseApiKeys', () => {
  it('when the list is well formed, then each key has its name, hash bytes and lower-case senders', () => {
    const keys = keysOf(
      JSON.stringify([
        { name: 'billing', key_sha256: sha256('k1'), senders: ['Billing@Example.NET'] },
        { name: 'alerts.v2', key_sha256: sha256('k2').toUpperCase(), senders: ['example.com', 'mail.example.org'] },
      ]),
    );

    expect(keys).toEqual([
      { name: 'billing', keyHash: hashKey('k1'), senders: ['billing@example.net'] },
      { name: 'alerts.v2', keyHash: hashKey('k2'), senders: ['example.com', 'mail.example.org'] },
    ]);
  });

  it.each(['', 'not json', '[{"name":'])(
    'when API_KEYS is %p (not JSON), then the problem shows the expected shape',
    (raw) => {
      expect(problemOf(raw)).toMatch(/^must be JSON: \[\{"name"/);
    },
  );

  it.each(['[]', '{}', '"key"', 'null'])('when API_KEYS is %p, then a non-empty list is required', (raw) => {
    expect(problemOf(raw)).toBe('must be a non-empty JSON list of keys (there is no open relay)');
  });

  it('when several entries are bad, then every problem of every entry is reported together', () => {
    const problem = problemOf(
      JSON.stringify([
        42,
        { name: 'bad name!', key_sha256: 'xyz', senders: [] },
        { name: 'ok', key_sha256: sha256('k'), senders: ['localhost'] },
        { name: 'ok', key_sha256: sha256('k3'), senders: ['a@example.com', 7] },
      ]),
    );

    expect(problem.split('; ')).toEqual([
      '[0] must be an object',
      '[1].name must be 1-64 of A-Z a-z 0-9 _ . -',
      '[1].key_sha256 must be the SHA-256 of the key, 64 hex digits',
      '[1].senders must list addresses (a@example.com) or domains (example.com)',
      '[2].senders must list addresses (a@example.com) or domains (example.com)',
      '[3].name repeats "ok"',
      '[3].senders must list addresses (a@example.com) or domains (example.com)',
    ]);
  });

  it.each([
    ['a key of 63 hex digits', { key_sha256: 'a'.repeat(63) }, '[0].key_sha256'],
    ['no senders field', { senders: undefined }, '[0].senders'],
    ['a sender with two @', { senders: ['a@b@example.com'] }, '[0].senders'],
    ['a sender with a space', { senders: ['a b@example.com'] }, '[0].senders'],
    ['a name of 65 characters', { name: 'n'.repeat(65) }, '[0].name'],
  ])('when an entry has %s, then it is refused', (_label, change, field) => {
    const entry = { name: 'n', key_sha256: sha256('k'), senders: ['example.com'], ...change };

    expect(problemOf(JSON.stringify([entry])).split(' ')[0]).toBe(field);
  });
});

describe('parseApiKeys with a repeated key', () => {
  it('when two entries share a key hash, then the second is refused', () => {
    const entries = [
      { name: 'a', key_sha256: sha256('same'), senders: ['example.com'] },
      { name: 'b', key_sha256: sha256('same').toUpperCase(), senders: ['example.org'] },
    ];

    expect(problemOf(JSON.stringify(entries))).toBe(
      "[1].key_sha256 repeats another entry's key (each caller needs its own key)",
    );
  });
});

describe('findApiKey', () => {
  const keys = keysOf(
    JSON.stringify([
      { name: 'one', key_sha256: sha256('first-key'), senders: ['example.com'] },
      { name: 'two', key_sha256: sha256('second-key'), senders: ['example.org'] },
    ]),
  );

  it('when the presented key matches a hash, then that caller is found', () => {
    expect(findApiKey(keys, 'second-key')?.name).toBe('two');
    expect(findApiKey(keys, 'first-key')?.name).toBe('one');
  });

  it.each(['', 'first-key ', 'FIRST-KEY', sha256('first-key')])(
    'when the presented key is %p, then no caller',
    (key) => {
      expect(findApiKey(keys, key)).toBeUndefined();
    },
  );
});

describe('maySendFrom', () => {
  const key: ApiKey = { name: 'k', keyHash: hashKey('k'), senders: ['example.com', 'alerts@example.org'] };

  it.each([
    ['any address at a domain entry', 'no-reply@example.com'],
    ['a domain entry, in another case', 'Jane@EXAMPLE.com'],
    ['the exact address entry', 'alerts@example.org'],
    ['the exact address entry, in another case', 'Alerts@Example.ORG'],
  ])('when the sender is %s, then it is allowed', (_label, address) => {
    expect(maySendFrom(key, address)).toBe(true);
  });

  it.each([
    ['another address at an exact-address domain', 'billing@example.org'],
    ['a subdomain of a domain entry', 'a@mail.example.com'],
    ['a domain that merely ends like a domain entry', 'a@badexample.com'],
    ['a parent of a domain entry', 'a@com'],
    ['an unrelated domain', 'a@example.net'],
    ['not an address at all', 'example.com'],
  ])('when the sender is %s, then it is refused', (_label, address) => {
    expect(maySendFrom(key, address)).toBe(false);
  });

  it('when a key lists only addresses, then the domain of those addresses is not allowed by itself', () => {
    const onlyAddress: ApiKey = { ...key, senders: ['alerts@example.org'] };

    expect(maySendFrom(onlyAddress, 'alerts@example.org')).toBe(true);
    expect(maySendFrom(onlyAddress, 'other@example.org')).toBe(false);
  });
});

describe('parseApiKeys with scopes', () => {
  const entry = (extra: Record<string, unknown>) => ({ name: 'n', key_sha256: sha256('k'), ...extra });

  it('when an entry has no scopes (as before scopes existed), then it may send and read, and not touch suppressions or webhooks', () => {
    const [key] = keysOf(JSON.stringify([entry({ senders: ['example.com'] })]));
    if (key === undefined) throw new Error('expected one key');

    expect(key.scopes).toBeUndefined();
    expect([hasScope(key, 'send'), hasScope(key, 'read'), hasScope(key, 'suppressions')]).toEqual([true, true, false]);
    expect(hasScope(key, 'webhooks')).toBe(false);
  });

  it('when an entry names the webhooks scope, then it may manage webhooks and nothing else it did not name', () => {
    const [key] = keysOf(JSON.stringify([entry({ scopes: ['webhooks'] })]));
    if (key === undefined) throw new Error('expected one key');

    expect([hasScope(key, 'webhooks'), hasScope(key, 'send'), hasScope(key, 'read')]).toEqual([true, false, false]);
  });

  it('when an entry names its scopes, then it has exactly those', () => {
    const [key] = keysOf(JSON.stringify([entry({ senders: ['example.com'], scopes: ['send', 'suppressions'] })]));
    if (key === undefined) throw new Error('expected one key');

    expect(key.scopes).toEqual(['send', 'suppressions']);
    expect([hasScope(key, 'send'), hasScope(key, 'read'), hasScope(key, 'suppressions')]).toEqual([true, false, true]);
  });

  it('when a key cannot send, then it needs no senders', () => {
    const [key] = keysOf(JSON.stringify([entry({ scopes: ['suppressions', 'read'] })]));

    expect(key).toEqual({ name: 'n', keyHash: hashKey('k'), senders: [], scopes: ['suppressions', 'read'] });
  });

  it.each([
    [
      'scopes that are not a list',
      { senders: ['example.com'], scopes: 'send' },
      '[0].scopes must be a non-empty list of send, read, suppressions, webhooks',
    ],
    [
      'an empty scope list',
      { senders: ['example.com'], scopes: [] },
      '[0].scopes must be a non-empty list of send, read, suppressions, webhooks',
    ],
    [
      'an unknown scope',
      { senders: ['example.com'], scopes: ['send', 'admin'] },
      '[0].scopes must be a non-empty list of send, read, suppressions, webhooks',
    ],
    ['a scope twice', { senders: ['example.com'], scopes: ['read', 'read'] }, '[0].scopes repeats a scope'],
    [
      'the send scope and no senders',
      { scopes: ['send'] },
      '[0].senders must list addresses (a@example.com) or domains (example.com)',
    ],
    [
      'no sending but malformed senders',
      { scopes: ['read'], senders: ['not a domain'] },
      '[0].senders must list addresses (a@example.com) or domains (example.com)',
    ],
  ])('when an entry has %s, then it is refused', (_label, extra, problem) => {
    expect(problemOf(JSON.stringify([entry(extra)]))).toBe(problem);
  });
});
