import type { SuppressionEntry, SuppressionListQuery, SuppressionPage, SuppressionView } from '@mailer/contract';
import { InvalidSuppressionCursorError, LedgerUnavailableError, type Ledger } from '@mailer/ledger';
import { BadCursorError, LedgerOutageError } from '../domain/email-ledger';
import type { SuppressionLedger } from '../domain/suppressions';

/** The ledger's errors in the domain's terms; anything else is a fault and passes unchanged. */
function translate(error: unknown): unknown {
  if (error instanceof LedgerUnavailableError) return new LedgerOutageError(error.message, { cause: error });
  if (error instanceof InvalidSuppressionCursorError) return new BadCursorError(error.message, { cause: error });
  return error;
}

async function translated<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw translate(error);
  }
}

/**
 * The domain's {@link SuppressionLedger} on `@mailer/ledger`. The ledger must have been made with
 * a `RecipientHasher` (as `openLedger` makes it): adding needs the current key's id.
 */
export class SuppressionAdapter implements SuppressionLedger {
  constructor(private readonly ledger: Ledger) {}

  find(hashes: readonly Buffer[]): Promise<SuppressionView | null> {
    return translated(() => this.ledger.findSuppression(hashes));
  }

  list(query: SuppressionListQuery): Promise<SuppressionPage> {
    return translated(() => this.ledger.listSuppressions(query));
  }

  add(entries: readonly SuppressionEntry[]): Promise<boolean[]> {
    return translated(() => this.ledger.addSuppressions(entries));
  }

  remove(hashes: readonly Buffer[], note: string | undefined, by: string): Promise<boolean> {
    return translated(() => this.ledger.removeSuppression(hashes, note, by));
  }
}
