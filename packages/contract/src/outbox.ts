import type { LifecycleEvent, LifecycleEventType } from './lifecycle-event';

/**
 * The ledger's outbox (docs/events.md): one row per lifecycle event, written in the transaction
 * of the state change it tells of; the relay publishes rows and marks them published after the
 * broker's confirm. The ledger implements {@link OutboxStore}.
 */
export interface OutboxStore {
  /**
   * In one transaction: locks up to `limit` unpublished rows, oldest first, that no other relay
   * holds (`FOR UPDATE SKIP LOCKED`), awaits `publish(events)` (which resolves once every event is
   * confirmed by the broker), marks them published and commits. When `publish` throws, nothing is
   * marked and the rows are free again. Resolves with the number published (0: nothing to do).
   */
  publishBatch(limit: number, publish: (events: readonly LifecycleEvent[]) => Promise<void>): Promise<number>;
  /** Deletes up to `limit` rows published more than `olderThanMs` ago; resolves with how many. */
  prunePublished(olderThanMs: number, limit: number): Promise<number>;
  /** The outbox lag: how many rows wait, and the age of the oldest (null when none waits). */
  lag(): Promise<{ readonly unpublished: number; readonly oldestAgeMs: number | null }>;
  /**
   * One client's events still in the outbox (published or not), oldest first, from `since` on:
   * what `mailer webhooks replay` sends again. `cursor` is the last page's `next`.
   */
  eventsOf(
    client: string,
    page: {
      readonly since: Date;
      readonly types?: readonly LifecycleEventType[];
      readonly limit: number;
      readonly cursor?: string;
    },
  ): Promise<{ readonly events: readonly LifecycleEvent[]; readonly next: string | null }>;
}
