import type { Readiness } from '@mailer/contract';
import { InvalidCursorError, LedgerUnavailableError, hashRequest, type Ledger } from '@mailer/ledger';
import {
  BadCursorError,
  LedgerOutageError,
  type AcceptedRecord,
  type EmailListQuery,
  type EmailLedger,
  type EmailListPage,
  type EmailView,
  type KeyOutcome,
  type KeyReservation,
  type KeyedRequest,
  type RecordedEmail,
} from '../domain/email-ledger';

/** How long keys live and when a holder counts as dead; from configuration. */
export interface KeyTimes {
  readonly ttlMs: number;
  readonly staleAfterMs: number;
}

/**
 * The hash a key is bound to: the route and the parsed body, so the same JSON in another key
 * order or spacing is the same request, and the same body on the other route is not.
 */
export function requestHashOf(request: Pick<KeyedRequest, 'route' | 'body'>): string {
  return hashRequest(request.route, request.body);
}

/** The ledger's errors in the domain's terms; anything else is a fault and passes unchanged. */
function translate(error: unknown): unknown {
  if (error instanceof LedgerUnavailableError) return new LedgerOutageError(error.message, { cause: error });
  if (error instanceof InvalidCursorError) return new BadCursorError(error.message, { cause: error });
  return error;
}

async function translated<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw translate(error);
  }
}

/** The domain's {@link EmailLedger} on `@mailer/ledger` (PostgreSQL). */
export class LedgerAdapter implements EmailLedger {
  constructor(
    private readonly ledger: Ledger,
    private readonly times: KeyTimes,
  ) {}

  reserveKeyAndRecord(request: KeyedRequest, emails: readonly AcceptedRecord[]): Promise<KeyOutcome> {
    return translated(() =>
      this.ledger.reserveKeyAndRecord(
        {
          client: request.client,
          key: request.key,
          token: request.token,
          requestHash: requestHashOf(request),
          ttlMs: this.times.ttlMs,
          staleAfterMs: this.times.staleAfterMs,
        },
        emails,
      ),
    );
  }

  recordAccepted(emails: readonly AcceptedRecord[]): Promise<readonly RecordedEmail[]> {
    return translated(() => this.ledger.recordAccepted(emails));
  }

  completeKey(reservation: KeyReservation, status: number, body: unknown): Promise<boolean> {
    return translated(() => this.ledger.completeIdempotencyKey({ reservation, status, body }));
  }

  releaseKey(reservation: KeyReservation): Promise<boolean> {
    return translated(() => this.ledger.releaseIdempotencyKey(reservation));
  }

  async discardUnpublished(ids: readonly string[]): Promise<void> {
    await translated(() => this.ledger.discardUnpublished(ids));
  }

  getEmail(client: string, id: string): Promise<EmailView | null> {
    return translated(() => this.ledger.getEmail(client, id));
  }

  listEmails(client: string, filter: EmailListQuery): Promise<EmailListPage> {
    return translated(() => this.ledger.listEmails(client, filter));
  }

  /**
   * `/readyz`'s view of the ledger, within `boundMs`: a server that stopped answering must not
   * hold the probe until the pool's own timeouts.
   */
  async readiness(boundMs = 2000): Promise<Readiness> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Readiness>((resolve) => {
      timer = setTimeout(() => resolve({ ready: false, reason: 'ledger-unavailable' }), boundMs);
    });
    try {
      return await Promise.race([this.ledger.readiness(), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
