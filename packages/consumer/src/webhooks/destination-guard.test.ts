import type { LookupAddress } from 'node:dns';
import { DestinationPolicy, parseNetwork, type Network } from '@mailer/contract';
import { DestinationGuard, RefusedDestinationError, refusalOf, type ResolvedAddress } from './destination-guard';

const networks = (...raw: string[]): Network[] => raw.map((r) => parseNetwork(r) as Network);
const open = new DestinationPolicy();
const v4 = (address: string): ResolvedAddress => ({ address, family: 4 });
const v6 = (address: string): ResolvedAddress => ({ address, family: 6 });

/** Calls the guard's lookup as Node's net.connect does, with `all` or not. */
function lookupWith(
  guard: DestinationGuard,
  all: boolean,
  family?: 4 | 6,
): Promise<{ error: Error | null; result: string | LookupAddress[] }> {
  return new Promise((resolve) => {
    guard.lookup('hooks.example.com', { all, ...(family === undefined ? {} : { family }) }, (error, result) =>
      resolve({ error, result }),
    );
  });
}

describe('refusalOf', () => {
  it('when every address is public, then nothing is refused', () => {
    expect(refusalOf(open, [v4('93.184.215.14'), v6('2606:2800:21f:cb07:6820:80da:af6b:8b2c')])).toBeUndefined();
  });

  it('when one address among several is refused, then all are (rebinding through a mixed answer)', () => {
    expect(refusalOf(open, [v4('93.184.215.14'), v4('127.0.0.1'), v4('8.8.8.8')])).toBe('loopback');
    expect(refusalOf(open, [v6('2606:2800:21f:cb07:6820:80da:af6b:8b2c'), v6('fd00::1')])).toBe('unique-local');
  });

  it('when an address is IPv4-mapped IPv6 of a refused one, then it is refused', () => {
    expect(refusalOf(open, [v6('::ffff:127.0.0.1')])).toBe('loopback (IPv4 in IPv6)');
    expect(refusalOf(open, [v6('::ffff:a9fe:a9fe')])).toBe('link-local (IPv4 in IPv6)');
  });

  it('when the name has no address, then it is refused', () => {
    expect(refusalOf(open, [])).toBe('no address');
  });

  it('when the allow list names the network, then its addresses (mapped ones too) pass, and no other', () => {
    const policy = new DestinationPolicy(networks('127.0.0.0/8'));
    expect(refusalOf(policy, [v4('127.0.0.1'), v6('::ffff:127.0.0.2')])).toBeUndefined();
    expect(refusalOf(policy, [v4('127.0.0.1'), v4('10.0.0.1')])).toBe('private');
    expect(refusalOf(policy, [v6('::1')])).toBe('loopback');
  });
});

describe('DestinationGuard.lookup', () => {
  it('when one resolved address is refused, then the lookup fails with a refused destination and hands out none', async () => {
    const guard = new DestinationGuard(open, {
      allowHttp: false,
      resolveAll: () => Promise.resolve([v4('93.184.215.14'), v4('169.254.169.254')]),
    });
    for (const all of [true, false]) {
      const { error, result } = await lookupWith(guard, all);
      expect(error).toBeInstanceOf(RefusedDestinationError);
      expect((error as RefusedDestinationError).reason).toBe('link-local');
      expect(result).toBe('');
    }
  });

  it('when every address is allowed, then Node gets all of them (all: true) or the first (all: false)', async () => {
    const guard = new DestinationGuard(open, {
      allowHttp: false,
      resolveAll: () => Promise.resolve([v4('93.184.215.14'), v6('2606:2800:21f:cb07:6820:80da:af6b:8b2c')]),
    });
    expect(await lookupWith(guard, true)).toEqual({
      error: null,
      result: [v4('93.184.215.14'), v6('2606:2800:21f:cb07:6820:80da:af6b:8b2c')],
    });
    expect(await lookupWith(guard, false)).toEqual({ error: null, result: '93.184.215.14' });
    expect(await lookupWith(guard, false, 6)).toEqual({
      error: null,
      result: '2606:2800:21f:cb07:6820:80da:af6b:8b2c',
    });
  });

  it('when the name does not resolve, then the resolver’s error is passed on', async () => {
    const failure = Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    const guard = new DestinationGuard(open, { allowHttp: false, resolveAll: () => Promise.reject(failure) });
    expect((await lookupWith(guard, true)).error).toBe(failure);
  });
});

describe('DestinationGuard.refusalOfUrl', () => {
  const guard = new DestinationGuard(open, { allowHttp: false, resolveAll: () => Promise.resolve([]) });

  it.each([
    ['https://127.0.0.1/hook', 'loopback'],
    ['https://10.0.0.1/hook', 'private'],
    ['https://169.254.169.254/latest', 'link-local'],
    ['https://[::1]/hook', 'loopback'],
    ['https://[::ffff:127.0.0.1]/hook', 'loopback (IPv4 in IPv6)'],
    ['https://0x7f000001/hook', 'loopback'],
  ])('when the host is the IP literal of %s, then it is refused before connecting (%s)', (url, reason) => {
    expect(guard.refusalOfUrl(new URL(url))).toBe(reason);
  });

  it('when the URL is http:// and http is not allowed, or not http(s), or carries credentials, then it is refused', () => {
    expect(guard.refusalOfUrl(new URL('http://hooks.example.com/'))).toBe('http not allowed');
    expect(guard.refusalOfUrl(new URL('ftp://hooks.example.com/'))).toBe('not an http(s) URL');
    expect(guard.refusalOfUrl(new URL('https://u:p@hooks.example.com/'))).toBe('credentials in the URL');
  });

  it('when the host is a name, or a public IP literal, then the URL passes (the name is checked at connect time)', () => {
    expect(guard.refusalOfUrl(new URL('https://hooks.example.com/'))).toBeUndefined();
    expect(guard.refusalOfUrl(new URL('https://93.184.215.14/'))).toBeUndefined();
    const http = new DestinationGuard(open, { allowHttp: true, resolveAll: () => Promise.resolve([]) });
    expect(http.refusalOfUrl(new URL('http://hooks.example.com/'))).toBeUndefined();
  });
});
