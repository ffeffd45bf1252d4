import { Command, CommanderError } from 'commander';
import { deadLettersCommand } from './commands/dead-letters';
import { emailsCommand } from './commands/emails';
import { keysCommand } from './commands/keys';
import { suppressionsCommand } from './commands/suppressions';
import { webhooksCommand } from './commands/webhooks';
import { CliError, EXIT, type Io } from './io';

/**
 * The whole command tree. Every command refuses unknown options, unknown subcommands and extra
 * arguments before its action runs: a typo must never start work.
 */
export function buildProgram(io: Io): Command {
  const program = new Command('mailer')
    .description(
      'Operate the distributed mailer: parked emails, ledger records, the suppression list, webhooks and API keys.',
    )
    .addHelpText('after', '\nExit codes: 0 done, 1 failed or not found, 2 wrong command line or configuration.');
  keysCommand(program, io);
  emailsCommand(program, io);
  deadLettersCommand(program, io);
  suppressionsCommand(program, io);
  webhooksCommand(program, io);
  const strict = (command: Command): void => {
    command
      .exitOverride()
      .allowExcessArguments(false)
      .allowUnknownOption(false)
      .showHelpAfterError('(add --help for usage)')
      .configureOutput({ writeOut: io.out, writeErr: io.err });
    // A group without an action refuses an unknown subcommand, and prints its help on stderr
    // with a non-zero exit when none is given.
    command.commands.forEach(strict);
  };
  strict(program);
  return program;
}

/**
 * Runs one command line (without `node` and the script) and returns the exit code. The first
 * `--` is dropped: `pnpm replay -- --limit 10` hands the script `-- --limit 10`, and no argument
 * of these commands starts with a dash.
 */
export async function run(args: readonly string[], io: Io): Promise<number> {
  const dash = args.indexOf('--');
  const line = dash === -1 ? args : [...args.slice(0, dash), ...args.slice(dash + 1)];
  try {
    await buildProgram(io).parseAsync(line, { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version print and exit 0; every parse error is a usage error.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof CliError) {
      // An empty message: the command said everything on stdout and only sets the exit code.
      if (error.message !== '') io.err(`mailer: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
}
