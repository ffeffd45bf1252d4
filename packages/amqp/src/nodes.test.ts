import { NodeRotation, nodeAddress, splitAmqpUrls } from './nodes';

describe('splitAmqpUrls', () => {
  it('when AMQP_URL lists nodes, then each entry is returned without the spaces around it', () => {
    expect(splitAmqpUrls('amqp://a:1, amqp://b:2 ,amqp://c:3')).toEqual(['amqp://a:1', 'amqp://b:2', 'amqp://c:3']);
  });

  it('when AMQP_URL is a single URL, then it is the only entry', () => {
    expect(splitAmqpUrls('amqp://guest:guest@127.0.0.1:5672')).toEqual(['amqp://guest:guest@127.0.0.1:5672']);
  });
});

describe('nodeAddress', () => {
  it.each([
    ['amqp://guest:s3cret@10.0.0.1:5673/vhost', '10.0.0.1:5673'],
    ['amqp://user:s3cret@rabbit-2', 'rabbit-2:5672'],
    ['amqps://user:s3cret@rabbit-3', 'rabbit-3:5671'],
    ['user:s3cret@nowhere', 'unparsable URL'],
  ])('when the URL is %p, then the node is named %p, without its password', (url, address) => {
    expect(nodeAddress(url)).toBe(address);
    expect(nodeAddress(url)).not.toContain('s3cret');
  });
});

describe('NodeRotation', () => {
  it('when it starts, then the first node is current', () => {
    expect(new NodeRotation('amqp://a,amqp://b,amqp://c').current).toBe('amqp://a');
  });

  it('when it advances, then it takes each node in turn and comes back to the first', () => {
    const nodes = new NodeRotation('amqp://a,amqp://b,amqp://c');
    expect([nodes.advance(), nodes.advance(), nodes.advance(), nodes.advance()]).toEqual([
      'amqp://b',
      'amqp://c',
      'amqp://a',
      'amqp://b',
    ]);
    expect(nodes.size).toBe(3);
  });

  it('when there is a single URL, then advancing keeps it', () => {
    const nodes = new NodeRotation('amqp://guest:guest@127.0.0.1:5672');
    expect(nodes.advance()).toBe('amqp://guest:guest@127.0.0.1:5672');
    expect(nodes.current).toBe('amqp://guest:guest@127.0.0.1:5672');
  });

  it('when the value names no node, then it is refused', () => {
    expect(() => new NodeRotation(' , ')).toThrow('AMQP_URL names no broker node');
  });
});
