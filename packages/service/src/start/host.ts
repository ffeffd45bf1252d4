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
  const stack = typeof error === 'object' && error !== null ? (error as { stack?: unknown }).stack : undefined;
  return typeof stack === 'string' ? stack : messageOf(error);
}

/** An error's message; works for errors from another realm too (node's own, seen from a test VM). */
export function messageOf(error: unknown): string {
  const message = typeof error === 'object' && error !== null ? (error as { message?: unknown }).message : undefined;
  return typeof message === 'string' ? message : String(error);
}
