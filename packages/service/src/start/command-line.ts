import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { messageOf, processHost, type Host } from './host';

/** A command's name, usage text and options (as node's `util.parseArgs` takes them). */
export interface Command<O extends ParseArgsOptionsConfig> {
  readonly name: string;
  /** Printed on `--help` (stdout, exit 0) and after a refused command line (stderr, exit 2). */
  readonly usage: string;
  readonly options: O;
  readonly host?: Host;
}

/** The values `util.parseArgs` returns for `options` in strict mode. */
export type CommandValues<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>
>['values'];

/** A command line that parsed. */
export interface CommandLine<O extends ParseArgsOptionsConfig> {
  readonly values: CommandValues<O>;
  /** Prints `problem` and the usage on stderr and exits 2: for values the options' types allow but the command does not. */
  readonly refuse: (problem: string) => never;
}

/**
 * Reads a command line strictly, before anything changes state: `--help` (or `-h`) prints the
 * usage and exits 0; an unknown flag, a missing value or a stray argument prints the problem and
 * the usage on stderr and exits 2. A leading `--` is dropped: `pnpm replay -- --help` passes it on.
 */
export function readCommandLine<O extends ParseArgsOptionsConfig>(
  args: readonly string[],
  command: Command<O>,
): CommandLine<O> {
  const host = command.host ?? processHost;
  const refuse = (problem: string): never => {
    host.stderr.write(`${command.name}: ${problem}\n${command.usage}\n`);
    return host.exit(2);
  };
  const given = args[0] === '--' ? args.slice(1) : [...args];
  let parsed: Record<string, unknown>;
  try {
    // Typed by hand: parseArgs cannot infer its result from a generic options table.
    ({ values: parsed } = parseArgs({
      args: given,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return refuse(messageOf(error));
  }
  if (parsed['help'] === true) {
    host.stdout.write(`${command.usage}\n`);
    return host.exit(0);
  }
  const { help: _help, ...values } = parsed;
  return { values: values as CommandValues<O>, refuse };
}
