import { lookup as dnsLookup } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import type { DestinationPolicy } from '@mailer/contract';

/** One resolved address. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Resolves a host name to every address it has (A and AAAA); injectable for tests. */
export type ResolveAll = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** The system resolver (what Node itself would use), every address, in the resolver's order. */
export const systemResolveAll: ResolveAll = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, order: 'verbatim' }, (error, addresses) => {
      if (error !== null) reject(error);
      else resolve(addresses.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 })));
    });
  });

/** Raised when a destination is refused: the request never connects. */
export class RefusedDestinationError extends Error {
  override readonly name = 'RefusedDestinationError';
  constructor(readonly reason: string) {
    super(`refused destination: ${reason}`);
  }
}

/**
 * Why a set of resolved addresses may not be reached: the first refused one's range. One refused
 * address refuses them all (a name with a public and a loopback address is a rebinding tool).
 */
export function refusalOf(policy: DestinationPolicy, addresses: readonly ResolvedAddress[]): string | undefined {
  if (addresses.length === 0) return 'no address';
  for (const { address } of addresses) {
    const refusal = policy.refusal(address);
    if (refusal !== undefined) return refusal;
  }
  return undefined;
}

/**
 * The SSRF guard of outbound webhook requests (docs/events.md, "SSRF"). The URL is checked before
 * a request starts (scheme, and an IP-literal host, which Node connects to without a lookup);
 * a host name is checked at connect time by {@link lookup}, the `lookup` option of the request:
 * it resolves every address, refuses the request if any is refused, and hands the socket only the
 * addresses it checked, so a second resolution (DNS rebinding) cannot change what is reached.
 */
export class DestinationGuard {
  /** The `lookup` to give `http.request`: Node calls it with `all: true` (happy eyeballs) or not. */
  readonly lookup: LookupFunction;

  constructor(
    private readonly policy: DestinationPolicy,
    private readonly options: { readonly allowHttp: boolean; readonly resolveAll?: ResolveAll },
  ) {
    const resolveAll = options.resolveAll ?? systemResolveAll;
    this.lookup = (hostname, lookupOptions, callback) => {
      resolveAll(hostname).then(
        (found) => {
          const family = lookupOptions.family === 4 || lookupOptions.family === 6 ? lookupOptions.family : undefined;
          const refusal = refusalOf(this.policy, found);
          if (refusal !== undefined) {
            callback(new RefusedDestinationError(refusal), '', 4);
            return;
          }
          const usable = family === undefined ? found : found.filter((a) => a.family === family);
          const first = usable[0];
          if (first === undefined) {
            const error: NodeJS.ErrnoException = new Error(`no IPv${family ?? ''} address for the host`);
            error.code = 'ENOTFOUND';
            callback(error, '', 4);
          } else if (lookupOptions.all === true) {
            (callback as unknown as (e: null, all: ResolvedAddress[]) => void)(null, [...usable]);
          } else {
            callback(null, first.address, first.family);
          }
        },
        (error: unknown) => {
          const failure = error instanceof Error ? (error as NodeJS.ErrnoException) : new Error(String(error));
          callback(failure, '', 4);
        },
      );
    };
  }

  /** Why `url` may not be requested before any connection is tried, or undefined when it may (so far). */
  refusalOfUrl(url: URL): string | undefined {
    if (url.protocol === 'http:' && !this.options.allowHttp) return 'http not allowed';
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'not an http(s) URL';
    if (url.username !== '' || url.password !== '') return 'credentials in the URL';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) !== 0) return this.policy.refusal(host);
    return undefined;
  }
}
