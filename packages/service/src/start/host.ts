/**
 * The parts of the process an entry point touches: its output streams, signals and exit. Tests
 * pass their own; everywhere else it is {@link processHost}.
 */
export interface Host {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  onSignal(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): void;
  exit(code: number): never;
}

/** The real process. */
export const processHost: Host = {
  stdout: process.stdout,
  stderr: process.stderr,
  onSignal: (signal, listener) => {
    process.on(signal, listener);
  },
  exit: (code) => process.exit(code),
};

/** The text of an error for a human: its stack when it has one. */
export function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
