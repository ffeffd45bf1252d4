/**
 * The ledger cannot be reached (connection refused or lost, the server shutting down or not
 * accepting connections, no pooled connection in time). Callers answer 503 with
 * `reason: ledger-unavailable` (producer) or stop taking work until {@link Ledger.ping} succeeds
 * again (consumer); nothing is recorded by the call that failed.
 */
export class LedgerUnavailableError extends Error {
  override readonly name = 'LedgerUnavailableError';
  /** The `reason` services report on `/readyz` and in 503 answers. */
  readonly reason = 'ledger-unavailable';
}

/** Server shutting down, crash recovery, cannot connect now, no such database, statement timed out (overloaded or stuck). */
const unavailableStates = ['57P01', '57P02', '57P03', '3D000', '57014'];

const unavailableCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);

/**
 * Whether `error` says the database is out of reach rather than that a statement was wrong:
 * socket errors, SQLSTATE class 08 (connection exception), 57P01-57P03 (shutdown, crash
 * recovery, cannot connect now), 3D000 (no such database), 57014 (the statement timed out: the
 * server is overloaded or stuck), and node-postgres' own messages for
 * a lost connection, a pool that gave none in time, or a server that stopped answering.
 */
export function isUnavailable(error: unknown): boolean {
  // Duck-typed: node's socket errors may come from another realm (a test VM), where instanceof fails.
  if (typeof error !== 'object' || error === null) return false;
  const { code, message, errors } = error as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof code === 'string') {
    if (unavailableCodes.has(code) || code.startsWith('08') || unavailableStates.includes(code)) {
      return true;
    }
  }
  if (Array.isArray(errors) && errors.some(isUnavailable)) return true;
  return (
    typeof message === 'string' &&
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout/.test(
      message,
    )
  );
}

/** `error` as a {@link LedgerUnavailableError} when it is one, else unchanged. */
export function classify(error: unknown, doing: string): unknown {
  if (error instanceof LedgerUnavailableError || !isUnavailable(error)) return error;
  const { message } = error as { message?: unknown };
  const why = typeof message === 'string' ? message : 'no message';
  return new LedgerUnavailableError(`ledger unavailable while ${doing}: ${why}`, { cause: error });
}
