import type { ApiKey } from './api-keys';
import {
  BadCursorError,
  LedgerOutageError,
  type EmailListQuery,
  type EmailLedger,
  type EmailListPage,
  type EmailView,
} from './email-ledger';

/** What `findEmail` found. */
export type FindOutcome =
  | { readonly kind: 'found'; readonly email: EmailView }
  /** Unknown id, malformed id, or another caller's email: all look the same from outside. */
  | { readonly kind: 'not-found' }
  | { readonly kind: 'ledger-unavailable'; readonly error: LedgerOutageError };

/** What `listEmails` found. */
export type ListOutcome =
  | { readonly kind: 'page'; readonly page: EmailListPage }
  | { readonly kind: 'bad-cursor' }
  | { readonly kind: 'ledger-unavailable'; readonly error: LedgerOutageError };

/** One of the caller's emails, with every try; another caller's is not found, like an unknown id. */
export async function findEmail(ledger: EmailLedger, client: ApiKey, id: string): Promise<FindOutcome> {
  try {
    const email = await ledger.getEmail(client.name, id);
    return email === null ? { kind: 'not-found' } : { kind: 'found', email };
  } catch (error) {
    if (error instanceof LedgerOutageError) return { kind: 'ledger-unavailable', error };
    throw error;
  }
}

/** A page of the caller's emails, newest first. */
export async function listEmails(ledger: EmailLedger, client: ApiKey, filter: EmailListQuery): Promise<ListOutcome> {
  try {
    return { kind: 'page', page: await ledger.listEmails(client.name, filter) };
  } catch (error) {
    if (error instanceof BadCursorError) return { kind: 'bad-cursor' };
    if (error instanceof LedgerOutageError) return { kind: 'ledger-unavailable', error };
    throw error;
  }
}
