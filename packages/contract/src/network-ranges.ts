import { BlockList, isIPv4, isIPv6 } from 'node:net';

/**
 * The address ranges an outbound webhook request may not reach (docs/events.md, "SSRF"): every
 * range that is not public unicast, IPv4 and IPv6, after unwrapping IPv4-mapped IPv6 addresses.
 * Used at registration (IP literals in a URL) and at connect time (every resolved address).
 */
const REFUSED_V4: readonly (readonly [string, number, string])[] = [
  ['0.0.0.0', 8, 'this network'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared address space'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, '6to4 relay'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

const REFUSED_V6: readonly (readonly [string, number, string])[] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  // IPv4-compatible (deprecated) and IPv4-mapped are unwrapped before the check; anything else
  // in ::/96 is refused outright.
  ['::', 96, 'IPv4-compatible'],
  ['::ffff:0:0:0', 96, 'IPv4-translated'],
  ['64:ff9b::', 96, 'NAT64'],
  ['64:ff9b:1::', 48, 'NAT64 local'],
  ['100::', 64, 'discard'],
  ['2001::', 32, 'Teredo'],
  ['2001:db8::', 32, 'documentation'],
  ['2002::', 16, '6to4'],
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
];

/** One list per range, with the range's name, to say which range refused an address. */
function namedLists(
  ranges: readonly (readonly [string, number, string])[],
  type: 'ipv4' | 'ipv6',
): readonly (readonly [BlockList, string])[] {
  return ranges.map(([network, prefix, name]) => {
    const list = new BlockList();
    list.addSubnet(network, prefix, type);
    return [list, name] as const;
  });
}

const refusedV4 = namedLists(REFUSED_V4, 'ipv4');
const refusedV6 = namedLists(REFUSED_V6, 'ipv6');

/** The eight 16-bit groups of an IPv6 address (any textual form, with or without brackets or zone). */
function groupsOf(address: string): number[] | undefined {
  let text = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad !== null) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : (halves[0] ?? '').split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? (halves[1] ?? '').split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail].map((g) =>
    Number.parseInt(g, 16),
  );
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

/**
 * The IPv4 address an IPv6 address carries as IPv4-mapped (`::ffff:a.b.c.d`) or IPv4-compatible
 * (`::a.b.c.d`), in dotted form; undefined for any other address.
 */
export function embeddedIPv4(address: string): string | undefined {
  const groups = groupsOf(address);
  if (groups === undefined) return undefined;
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [number, number, number, number, number, number, number, number];
  if (g0 !== 0 || g1 !== 0 || g2 !== 0 || g3 !== 0 || g4 !== 0 || (g5 !== 0xffff && g5 !== 0)) return undefined;
  if (g5 === 0 && g6 === 0) return undefined; // :: and ::1 are IPv6's own
  return `${g6 >> 8}.${g6 & 0xff}.${g7 >> 8}.${g7 & 0xff}`;
}

/** Why `address` (an IP literal) is refused as a webhook destination, or undefined when it is public. */
export function refusedRangeOf(address: string): string | undefined {
  const bare = address.replace(/^\[|\]$/g, '');
  if (isIPv4(bare)) return refusedV4.find(([list]) => list.check(bare, 'ipv4'))?.[1];
  const unwrapped = embeddedIPv4(bare);
  if (unwrapped !== undefined) {
    const inner = refusedRangeOf(unwrapped);
    return inner === undefined ? undefined : `${inner} (IPv4 in IPv6)`;
  }
  const plain = bare.replace(/%.*$/, '');
  if (!isIPv6(plain)) return 'not an IP address';
  return refusedV6.find(([list]) => list.check(plain, 'ipv6'))?.[1];
}

/** A network in CIDR form (`127.0.0.0/8`, `::1/128`), parsed. */
export interface Network {
  readonly address: string;
  readonly prefix: number;
  readonly type: 'ipv4' | 'ipv6';
}

/** Parses `a.b.c.d/n` or `x:y::z/n` (a bare address is a /32 or /128); undefined when malformed. */
export function parseNetwork(raw: string): Network | undefined {
  const [address = '', prefixText, extra] = raw.trim().split('/');
  if (extra !== undefined) return undefined;
  const type = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (type === undefined) return undefined;
  const max = type === 'ipv4' ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || !/^\d*$/.test(prefixText ?? '')) return undefined;
  return { address, prefix, type };
}

/**
 * Which destinations an outbound webhook request may reach: every public unicast address, plus
 * the networks an operator allowed (`WEBHOOK_ALLOW_NETWORKS`, empty by default).
 */
export class DestinationPolicy {
  private readonly allowed = new BlockList();

  constructor(readonly allowedNetworks: readonly Network[] = []) {
    for (const network of allowedNetworks) this.allowed.addSubnet(network.address, network.prefix, network.type);
  }

  /** Why `address` may not be reached, or undefined when it may. */
  refusal(address: string): string | undefined {
    const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
    if (this.isAllowed(bare)) return undefined;
    return refusedRangeOf(bare);
  }

  private isAllowed(address: string): boolean {
    if (this.allowedNetworks.length === 0) return false;
    if (isIPv4(address)) return this.allowed.check(address, 'ipv4');
    const inner = embeddedIPv4(address);
    if (inner !== undefined) return this.allowed.check(inner, 'ipv4');
    return isIPv6(address) && this.allowed.check(address, 'ipv6');
  }
}
