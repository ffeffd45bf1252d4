import { maskAddressesIn, type RecipientHasher } from '@mailer/contract';
import { Batcher, type BatchShape } from './batcher';
import { hexKeys, query, UUID } from './statements';
import type { ProviderEvent, ProviderEventOutcome, Queryable } from './types';

/** The longest diagnostic kept per recipient outcome. */
export const MAX_DIAGNOSTIC_LENGTH = 500;
/** The longest provider type or subtype kept. */
const MAX_TYPE_LENGTH = 100;
/** The longest masked address kept (an address is at most 320 characters, masked shorter still). */
const MAX_MASKED_LENGTH = 320;
/** The longest event key taken. */
const MAX_EVENT_KEY_LENGTH = 500;

const PROVIDERS = new Set(['ses', 'postmark', 'smtp']);
const OUTCOMES = new Set(['delivery_delayed', 'delivered', 'bounced', 'complained']);
const BOUNCE_KINDS = new Set(['hard', 'soft', 'undetermined']);
const EVENT_REASONS = new Set(['hard-bounce', 'complaint', 'unsubscribed']);

/** What a masked field holds at most: whatever the caller gave, no full address. */
export function maskedText(text: string, max: number): string {
  return maskAddressesIn(text).slice(0, max);
}

/**
 * What providers reported after they took an email (`recipient_outcomes`, suppressions from
 * events, `provider_events`), with the batcher of {@link applyProviderEvent}. The {@link Ledger}
 * facade documents what each answer means to a caller.
 */
export class Feedback {
  private readonly applyBatch: Batcher<EventItem, ProviderEventOutcome>;

  constructor(
    private readonly db: Queryable,
    shape: BatchShape,
    private readonly hasher?: RecipientHasher,
  ) {
    this.applyBatch = new Batcher({
      maxItems: shape.maxItems,
      // One batch under way at a time: two at once could lock the same emails and entries in
      // opposite orders. Events are not on the intake path; one statement at a time keeps up.
      maxConcurrent: 1,
      run: (items) => this.runApply(items),
    });
  }

  /** Applies one event (`ledger_apply_provider_events`, migration 0008). Batched. */
  async applyProviderEvent(event: ProviderEvent): Promise<ProviderEventOutcome> {
    return this.applyBatch.add(this.eventItem(event));
  }

  /** Deletes up to `limit` dedupe rows received more than `olderThanMs` ago; resolves with how many went. */
  async pruneProviderEvents(olderThanMs: number, limit: number): Promise<number> {
    const rows = await query<{ n: number }>(
      this.db,
      'pruning provider events',
      `WITH gone AS (
        DELETE FROM provider_events WHERE ctid IN (
          SELECT ctid FROM provider_events WHERE received_at < now() - $1 * interval '1 millisecond'
          ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED
        ) RETURNING 1
      ) SELECT count(*)::integer AS n FROM gone`,
      [Math.round(olderThanMs), limit],
    );
    return rows[0]?.n ?? 0;
  }

  /** Calls waiting for a batch. */
  get pending(): number {
    return this.applyBatch.pending;
  }

  private async runApply(items: readonly EventItem[]): Promise<ProviderEventOutcome[]> {
    const rows = await query<{ i: number; result: ProviderEventOutcome }>(
      this.db,
      'applying provider events',
      'SELECT i, result FROM ledger_apply_provider_events($1::jsonb, $2)',
      // Without a hasher no item adds a suppression (checked per event), so no key id is stored.
      [JSON.stringify(items.map((item, i) => ({ ...item, i }))), this.hasher?.keyId ?? ''],
    );
    const results = new Array<ProviderEventOutcome | undefined>(items.length).fill(undefined);
    for (const row of rows) results[row.i] = row.result;
    if (results.includes(undefined)) throw new Error('ledger_apply_provider_events gave no result for an event');
    return results as ProviderEventOutcome[];
  }

  /** The event as the statement takes it, checked and masked: a bad one fails its own caller only. */
  private eventItem(event: ProviderEvent): EventItem {
    if (!PROVIDERS.has(event.provider)) throw new RangeError(`unknown provider ${event.provider}`);
    if (event.eventKey.length === 0 || event.eventKey.length > MAX_EVENT_KEY_LENGTH) {
      throw new RangeError(`an event key has 1 to ${MAX_EVENT_KEY_LENGTH} characters`);
    }
    if (Number.isNaN(event.occurredAt.getTime())) throw new RangeError('an event needs the time it occurred');
    const suppresses = event.recipients.some((r) => r.suppress !== undefined);
    if (suppresses && this.hasher === undefined) {
      throw new Error('this ledger has no RecipientHasher (RECIPIENT_HASH_SECRET): it cannot add suppressions');
    }
    return {
      provider: event.provider,
      event_key: event.eventKey,
      // An id that is not one of ours cannot name an email: look it up by the provider's id instead.
      email_id: event.emailId !== undefined && UUID.test(event.emailId) ? event.emailId : null,
      provider_message_id: event.providerMessageId ?? null,
      occurred_at: event.occurredAt.toISOString(),
      received_at: event.receivedAt?.toISOString() ?? null,
      recipients: event.recipients.map((r) => {
        if (!OUTCOMES.has(r.outcome)) throw new RangeError(`unknown outcome ${r.outcome}`);
        if (r.bounceKind !== undefined && !BOUNCE_KINDS.has(r.bounceKind)) {
          throw new RangeError(`unknown bounce kind ${r.bounceKind}`);
        }
        if (r.suppress !== undefined && !EVENT_REASONS.has(r.suppress.reason)) {
          throw new RangeError(`an event cannot suppress for ${r.suppress.reason}`);
        }
        return {
          hashes: hexKeys(r.hashes),
          masked: maskedText(r.masked, MAX_MASKED_LENGTH),
          outcome: r.outcome,
          bounce_kind: r.bounceKind ?? null,
          provider_type: r.providerType === undefined ? null : maskedText(r.providerType, MAX_TYPE_LENGTH),
          provider_subtype: r.providerSubtype === undefined ? null : maskedText(r.providerSubtype, MAX_TYPE_LENGTH),
          diagnostic: r.diagnostic === undefined ? null : maskedText(r.diagnostic, MAX_DIAGNOSTIC_LENGTH),
          suppress:
            r.suppress === undefined
              ? null
              : { reason: r.suppress.reason, expires_at: r.suppress.expiresAt?.toISOString() ?? null },
        };
      }),
      unsuppress: (event.unsuppress ?? []).map((u) => ({
        hashes: hexKeys(u.hashes),
        masked: maskedText(u.masked, MAX_MASKED_LENGTH),
      })),
    };
  }
}

interface EventItem {
  readonly provider: string;
  readonly event_key: string;
  readonly email_id: string | null;
  readonly provider_message_id: string | null;
  readonly occurred_at: string;
  readonly received_at: string | null;
  readonly recipients: readonly object[];
  readonly unsuppress: readonly object[];
}
