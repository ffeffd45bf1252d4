import { Exited, fakeHost } from '../../test/support/fake-host';
import { readCommandLine } from './command-line';

const usage = 'usage: replay [--limit N]';

function read(args: string[]) {
  const host = fakeHost({ throwOnExit: true });
  const run = () => readCommandLine(args, { name: 'replay', usage, options: { limit: { type: 'string' } }, host });
  return { host, run };
}

describe('readCommandLine', () => {
  it.each([[['--help']], [['-h']], [['--', '--help']], [['--limit', '5', '--help']]])(
    'when the arguments are %j, then the usage goes to stdout and it exits 0',
    (args) => {
      const { host, run } = read(args);

      expect(run).toThrow(new Exited(0));
      expect(host.out()).toBe(`${usage}\n`);
      expect(host.err()).toBe('');
    },
  );

  it.each([
    [['--all'], "Unknown option '--all'"],
    [['--help', '--all'], "Unknown option '--all'"],
    [['--limit'], "Option '--limit <value>' argument missing"],
    [['everything'], "Unexpected argument 'everything'"],
    [['--', '--limit', '1', 'extra'], "Unexpected argument 'extra'"],
  ])('when the arguments are %j, then the problem and the usage go to stderr and it exits 2', (args, problem) => {
    const { host, run } = read(args);

    expect(run).toThrow(new Exited(2));
    expect(host.err()).toContain(`replay: ${problem}`);
    expect(host.err().endsWith(`\n${usage}\n`)).toBe(true);
    expect(host.out()).toBe('');
  });

  it.each([
    [[], {}],
    [['--limit', '3'], { limit: '3' }],
    [['--', '--limit=3'], { limit: '3' }],
  ])('when the arguments are %j, then the values are %j', (args, values) => {
    const { host, run } = read(args);

    expect(run().values).toEqual(values);
    expect(host.exits).toEqual([]);
  });

  it('when the command refuses a value, then the problem and the usage go to stderr and it exits 2', () => {
    const { host, run } = read(['--limit', 'zero']);
    const { refuse } = run();

    expect(() => refuse('--limit must be a whole number from 1')).toThrow(new Exited(2));
    expect(host.err()).toBe(`replay: --limit must be a whole number from 1\n${usage}\n`);
  });
});
