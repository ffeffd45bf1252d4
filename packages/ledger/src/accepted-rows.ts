import { maskAddress, type AcceptedRecord, type RecipientHasher } from '@mailer/contract';

/** One accepted email as the ledger's statements take it (`emails`' columns). */
export interface AcceptedRow {
  readonly id: string;
  readonly client: string;
  readonly accepted_at: string;
  readonly recipient_count: number;
  readonly recipients: readonly string[];
  readonly tags: AcceptedRecord['tags'] | null;
  readonly metadata: AcceptedRecord['metadata'] | null;
  /**
   * Per recipient, its keys as hex (`RecipientHasher.candidates`: the current secret's first):
   * the first is stored, all are looked up on the suppression list. Absent without a hasher.
   */
  readonly recipient_keys?: readonly (readonly string[])[];
}

/**
 * One accepted email as the ledger's statements take it: recipients masked, jsonb-safe values,
 * and with a `hasher` each recipient's keys.
 */
export function acceptedRow(e: AcceptedRecord, hasher?: RecipientHasher): AcceptedRow {
  return {
    ...(hasher === undefined
      ? {}
      : { recipient_keys: e.recipients.map((r) => hasher.candidates(r).map((key) => key.toString('hex'))) }),
    id: e.id,
    client: e.client,
    accepted_at: e.acceptedAt.toISOString(),
    recipient_count: e.recipients.length,
    recipients: e.recipients.map(maskAddress),
    tags: e.tags === undefined ? null : jsonbSafe(e.tags),
    metadata: e.metadata === undefined ? null : jsonbSafe(e.metadata),
  };
}

/**
 * `values` as jsonb can hold them. PostgreSQL's jsonb cannot hold U+0000, which the request schema
 * allows in metadata names and string values: the ledger's copy shows U+FFFD there instead (the
 * queued message keeps the original). Unchanged, one such email would fail the batched statement
 * of every email recorded with it.
 */
export function jsonbSafe<T extends Readonly<Record<string, string | number | boolean | null>>>(values: T): T {
  const clean = (text: string) => text.replaceAll('\u0000', '\uFFFD');
  return Object.fromEntries(
    Object.entries(values).map(([name, value]) => [clean(name), typeof value === 'string' ? clean(value) : value]),
  ) as T;
}
