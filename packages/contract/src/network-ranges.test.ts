import { DestinationPolicy, embeddedIPv4, parseNetwork, refusedRangeOf } from './network-ranges';

describe('refusedRangeOf', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'shared address space'],
    ['0.0.0.0', 'this network'],
    ['255.255.255.255', 'reserved'],
    ['224.0.0.1', 'multicast'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::', 'unspecified'],
    ['fd00::1', 'unique-local'],
    ['fe80::1%eth0', 'link-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback (IPv4 in IPv6)'],
    ['::ffff:7f00:1', 'loopback (IPv4 in IPv6)'],
    ['[::ffff:a9fe:a9fe]', 'link-local (IPv4 in IPv6)'],
    ['::127.0.0.1', 'loopback (IPv4 in IPv6)'],
    ['64:ff9b::7f00:1', 'NAT64'],
    ['::ffff:0:7f00:1', 'IPv4-translated'],
    ['2002:7f00:1::', '6to4'],
  ])('when the address is %s, then it is refused as %s', (address, range) => {
    expect(refusedRangeOf(address)).toBe(range);
  });

  it.each(['93.184.215.14', '8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8'])(
    'when the address is public (%s), then it is not refused',
    (address) => {
      expect(refusedRangeOf(address)).toBeUndefined();
    },
  );

  it('when the text is not an address, then it is refused as such', () => {
    expect(refusedRangeOf('example.com')).toBe('not an IP address');
  });
});

describe('embeddedIPv4', () => {
  it('when an IPv6 address carries an IPv4 one, then it is unwrapped; otherwise undefined', () => {
    expect(embeddedIPv4('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(embeddedIPv4('0:0:0:0:0:ffff:0a01:0203')).toBe('10.1.2.3');
    expect(embeddedIPv4('::1')).toBeUndefined();
    expect(embeddedIPv4('2001:db8::1')).toBeUndefined();
  });
});

describe('DestinationPolicy', () => {
  it('when nothing is allowed, then loopback is refused; when 127.0.0.0/8 is allowed, then 127.0.0.1 and its mapped form pass and 10.0.0.1 does not', () => {
    expect(new DestinationPolicy().refusal('127.0.0.1')).toBe('loopback');
    const network = parseNetwork('127.0.0.0/8');
    expect(network).toEqual({ address: '127.0.0.0', prefix: 8, type: 'ipv4' });
    const policy = new DestinationPolicy(network === undefined ? [] : [network]);
    expect(policy.refusal('127.0.0.1')).toBeUndefined();
    expect(policy.refusal('::ffff:127.0.0.1')).toBeUndefined();
    expect(policy.refusal('10.0.0.1')).toBe('private');
    expect(policy.refusal('8.8.8.8')).toBeUndefined();
  });

  it('when a network is malformed, then parseNetwork gives undefined', () => {
    expect(parseNetwork('127.0.0.0/33')).toBeUndefined();
    expect(parseNetwork('localhost/8')).toBeUndefined();
    expect(parseNetwork('10.0.0.0/8/1')).toBeUndefined();
    expect(parseNetwork('::1')).toEqual({ address: '::1', prefix: 128, type: 'ipv6' });
  });
});
