import type { Logger } from '@mailer/service';
import { LedgerOutageError, type EmailLedger, type KeyAnswerStore, type KeyReservation } from '../domain/email-ledger';

/** What {@link KeyAnswers} needs. */
export interface KeyAnswersOptions {
  readonly ledger: Pick<EmailLedger, 'completeKey'>;
  readonly logger: Logger;
}

const keyOf = (client: string, key: string) => `${client}\u0000${key}`;

/**
 * Stores the `202` of keyed requests under their `Idempotency-Key` while the answer goes out,
 * instead of before it: the emails were recorded by a durable commit before their publish and the
 * broker confirmed them, so the stored answer only turns a later retry into a replay. Waiting for
 * it was a third round trip to PostgreSQL on the path of every keyed request (docs/benchmarks.md).
 *
 * A retry that reaches this producer while its key's answer is still being stored waits for the
 * store and is then replayed, as before. One that reaches another producer within those few
 * milliseconds finds the key in flight (`409` with `Retry-After: 1`). A store that fails (the
 * ledger went away after the confirm) leaves the key in flight: a retry takes it over once it is
 * stale, with the same ids, as when a producer dies before answering (docs/api.md).
 */
export class KeyAnswers implements KeyAnswerStore {
  private readonly pending = new Map<string, Promise<void>>();

  constructor(private readonly options: KeyAnswersOptions) {}

  /** Stores under way. */
  get size(): number {
    return this.pending.size;
  }

  store(reservation: KeyReservation, status: number, body: unknown): void {
    const id = keyOf(reservation.client, reservation.key);
    const stored = this.options.ledger.completeKey(reservation, status, body).then(
      () => undefined,
      (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        if (error instanceof LedgerOutageError) {
          this.options.logger.warn('idempotency answer not stored: a retry takes the key over once it is stale', {
            error: message,
          });
        } else {
          this.options.logger.error('idempotency answer not stored', { error: message });
        }
      },
    );
    const tracked = stored.finally(() => {
      if (this.pending.get(id) === tracked) this.pending.delete(id);
    });
    this.pending.set(id, tracked);
  }

  settled(client: string, key: string): Promise<void> | undefined {
    return this.pending.get(keyOf(client, key));
  }

  /** Waits for every store under way (at shutdown, before the pool closes). */
  async drain(): Promise<void> {
    await Promise.all(this.pending.values());
  }
}
