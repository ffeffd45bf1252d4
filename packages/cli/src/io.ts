import { loadKeys, type Env, type Keys, type Values } from '@mailer/config';

/** Where a command writes and what it reads: the process's own in `main`, captured in tests. */
export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: Env;
  /** A person is at a terminal (stdin and stderr are TTYs): progress bars are drawn, questions asked. */
  readonly interactive?: boolean;
  /** Asks a question on stderr and resolves with the line typed (absent: nothing can be asked). */
  readonly ask?: (question: string) => Promise<string>;
}

/** Exit codes: documented in docs/cli.md, relied on by scripts. */
export const EXIT = {
  ok: 0,
  /** The command ran and found nothing, or the work failed (unknown email, unreachable ledger). */
  failed: 1,
  /** The command line or the configuration is wrong; nothing was done. */
  usage: 2,
} as const;

/** A refusal a command reports on stderr with its exit code, instead of a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A command's configuration from the environment; a wrong value is a usage error (exit 2). */
export function configFrom<K extends Keys>(keys: K, io: Io): Values<K> {
  try {
    return loadKeys(keys, io.env);
  } catch (error) {
    throw new CliError((error as Error).message, EXIT.usage);
  }
}
