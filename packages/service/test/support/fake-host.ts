import type { Host } from '../../src/start/host';

/** A {@link Host} that records what an entry point wrote, the signals it listens to and its exit codes. */
export interface FakeHost extends Host {
  readonly out: () => string;
  readonly err: () => string;
  readonly exits: number[];
  /** Resolves with the first exit code. */
  readonly exited: Promise<number>;
  /** Delivers `signal` as the process would. */
  send(signal: NodeJS.Signals): void;
}

/** Thrown by a fake host's `exit` when `throwOnExit` is set, so synchronous callers stop there. */
export class Exited extends Error {
  override readonly name = 'Exited';
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** A fake process for unit tests of start-up and shutdown. */
export function fakeHost(options: { throwOnExit?: boolean } = {}): FakeHost {
  let out = '';
  let err = '';
  const exits: number[] = [];
  const listeners = new Map<NodeJS.Signals, ((signal: NodeJS.Signals) => void)[]>();
  let resolveExit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (resolveExit = resolve));
  return {
    stdout: { write: (text: string) => (out += text) },
    stderr: { write: (text: string) => (err += text) },
    onSignal: (signal, listener) => listeners.set(signal, [...(listeners.get(signal) ?? []), listener]),
    exit: (code) => {
      exits.push(code);
      resolveExit(code);
      if (options.throwOnExit === true) throw new Exited(code);
      return undefined as never;
    },
    out: () => out,
    err: () => err,
    exits,
    exited,
    send: (signal) => {
      for (const listener of listeners.get(signal) ?? []) listener(signal);
    },
  };
}
