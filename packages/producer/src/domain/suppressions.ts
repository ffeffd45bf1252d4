import {
  maskAddress,
  type RecipientHasher,
  type SuppressionAddRequest,
  type SuppressionEntry,
  type SuppressionListQuery,
  type SuppressionPage,
  type SuppressionView,
} from '@mailer/contract';
import type { ApiKey } from './api-keys';
import { BadCursorError, LedgerOutageError } from './email-ledger';

/**
 * The deployment's suppression list as the use cases see it: recipients are named by their keys
 * (`RecipientHasher.candidates`), never by address. Every method rejects with
 * {@link LedgerOutageError} when the ledger cannot be reached.
 */
export interface SuppressionLedger {
  /** A recipient's unexpired entry; null when it has none. */
  find(hashes: readonly Buffer[]): Promise<SuppressionView | null>;
  /** A page, newest first; rejects with {@link BadCursorError} for a cursor it did not give. */
  list(query: SuppressionListQuery): Promise<SuppressionPage>;
  /** Adds entries; per entry, whether the list changed. */
  add(entries: readonly SuppressionEntry[]): Promise<boolean[]>;
  /** Removes a recipient's entry, with a history row; false when it had none. */
  remove(hashes: readonly Buffer[], note: string | undefined, by: string): Promise<boolean>;
}

/** What the suppression use cases need. */
export interface SuppressionDeps {
  readonly suppressions: SuppressionLedger;
  readonly hasher: Pick<RecipientHasher, 'candidates'>;
  readonly now: () => Date;
}

/** The ledger could not be reached. */
export interface Unavailable {
  readonly kind: 'ledger-unavailable';
  readonly error: LedgerOutageError;
}

export type FindSuppressionOutcome =
  { readonly kind: 'found'; readonly entry: SuppressionView } | { readonly kind: 'not-found' } | Unavailable;

export type ListSuppressionsOutcome =
  { readonly kind: 'page'; readonly page: SuppressionPage } | { readonly kind: 'bad-cursor' } | Unavailable;

export type AddSuppressionOutcome =
  /** The address was not on the list (or its entry had expired): it is now. */
  | { readonly kind: 'added'; readonly entry: SuppressionView }
  /** It was on the list already: its reason and first source are kept, a later expiry extends it. */
  | { readonly kind: 'already'; readonly entry: SuppressionView }
  | Unavailable;

export type RemoveSuppressionOutcome = { readonly kind: 'removed' } | { readonly kind: 'not-found' } | Unavailable;

/** Runs a ledger call, turning an outage into its outcome; any other error is a fault and is thrown. */
async function guarded<T>(call: () => Promise<T>): Promise<T | Unavailable> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof LedgerOutageError) return { kind: 'ledger-unavailable', error };
    throw error;
  }
}

/** Whether the address is on the list (unexpired), under any of its keys. */
export function findSuppression(deps: SuppressionDeps, address: string): Promise<FindSuppressionOutcome> {
  return guarded<FindSuppressionOutcome>(async () => {
    const entry = await deps.suppressions.find(deps.hasher.candidates(address));
    return entry === null ? { kind: 'not-found' } : { kind: 'found', entry };
  });
}

/** A page of the list, newest first, optionally of one reason. */
export async function listSuppressions(
  deps: SuppressionDeps,
  query: SuppressionListQuery,
): Promise<ListSuppressionsOutcome> {
  try {
    return await guarded<ListSuppressionsOutcome>(async () => ({
      kind: 'page',
      page: await deps.suppressions.list(query),
    }));
  } catch (error) {
    if (error instanceof BadCursorError) return { kind: 'bad-cursor' };
    throw error;
  }
}

/**
 * Puts the address on the list for `client` (its name is the entry's `created_by`). Looked up
 * before and after, so the answer tells a new entry from one already there and shows the entry as
 * it now is; two callers adding the same address at once get one `added` and one `already`.
 */
export function addSuppression(
  deps: SuppressionDeps,
  client: ApiKey,
  request: SuppressionAddRequest,
): Promise<AddSuppressionOutcome> {
  return guarded<AddSuppressionOutcome>(async () => {
    const hashes = deps.hasher.candidates(request.email);
    const before = await deps.suppressions.find(hashes);
    const [changed] = await deps.suppressions.add([
      {
        hashes,
        masked: maskAddress(request.email),
        reason: request.reason,
        createdBy: client.name,
        ...(request.note === undefined ? {} : { note: request.note }),
        ...(request.expiresAt === undefined ? {} : { expiresAt: request.expiresAt }),
      },
    ]);
    const kind = before === null && changed === true ? 'added' : 'already';
    // Gone again already (removed or expired meanwhile): answer with what was written.
    const entry = (await deps.suppressions.find(hashes)) ?? {
      masked: maskAddress(request.email),
      reason: request.reason,
      createdAt: deps.now(),
      createdBy: client.name,
      ...(request.note === undefined ? {} : { note: request.note }),
      ...(request.expiresAt === undefined ? {} : { expiresAt: request.expiresAt }),
    };
    return { kind, entry };
  });
}

/** Takes the address off the list for `client`; the history keeps the removal, with its note. */
export function removeSuppression(
  deps: SuppressionDeps,
  client: ApiKey,
  address: string,
  note: string | undefined,
): Promise<RemoveSuppressionOutcome> {
  return guarded<RemoveSuppressionOutcome>(async () =>
    (await deps.suppressions.remove(deps.hasher.candidates(address), note, client.name))
      ? { kind: 'removed' }
      : { kind: 'not-found' },
  );
}
