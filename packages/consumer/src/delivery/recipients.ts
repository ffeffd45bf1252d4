import {
  maskAddress,
  normalizeAddress,
  type Address,
  type EmailRequest,
  type RecipientHasher,
  type RecipientKeys,
  type SuppressionEntry,
} from '@mailer/contract';
import type { OutboundEmail, RefusedRecipient } from '../providers/provider';

/*
 * The recipients of one email as the consumer narrows them: those found on the suppression list
 * just before the send, and those a provider refused by name, are dropped and the email goes to
 * the others. Pure: addresses are compared in `normalizeAddress`'s form (the form recipient keys
 * are made from), so `Ann@Example.org` and `ann@example.org` are one recipient.
 */

/** A recipient a provider refused by name, with the provider. */
export interface ProviderRefusal extends RefusedRecipient {
  readonly provider: string;
}

/** Every recipient of the request, to then cc then bcc, as given. */
export function recipientAddresses(request: EmailRequest): string[] {
  return [...(request.to ?? []), ...(request.cc ?? []), ...(request.bcc ?? [])].map((a) => a.email);
}

/**
 * The email without the recipients whose normalized address is in `drop`, a list left empty
 * removed; `undefined` when no recipient is left. The rest of the request (and the id, hence the
 * Message-ID) is unchanged.
 */
export function withoutRecipients(email: OutboundEmail, drop: ReadonlySet<string>): OutboundEmail | undefined {
  if (drop.size === 0) return email;
  const keep = (list: readonly Address[] | undefined): readonly Address[] | undefined => {
    const kept = list?.filter((a) => !drop.has(normalizeAddress(a.email)));
    return kept === undefined || kept.length === 0 ? undefined : kept;
  };
  const { to: _to, cc: _cc, bcc: _bcc, ...rest } = email.request;
  const [to, cc, bcc] = [keep(email.request.to), keep(email.request.cc), keep(email.request.bcc)];
  if (to === undefined && cc === undefined && bcc === undefined) return undefined;
  const request: EmailRequest = {
    ...rest,
    ...(to === undefined ? {} : { to: [...to] }),
    ...(cc === undefined ? {} : { cc: [...cc] }),
    ...(bcc === undefined ? {} : { bcc: [...bcc] }),
  };
  return { ...email, request };
}

/** Each address's normalized form, once. */
export function normalizedSet(addresses: Iterable<string>): Set<string> {
  return new Set([...addresses].map(normalizeAddress));
}

/**
 * Of what a provider refused, the entries naming a recipient of `email`, once per recipient (a
 * name the email does not have is ignored: a provider's text is not trusted to add recipients).
 */
export function refusedAmong<R extends RefusedRecipient>(email: OutboundEmail, refused: readonly R[]): R[] {
  const recipients = normalizedSet(recipientAddresses(email.request));
  const seen = new Set<string>();
  return refused.filter((r) => {
    const key = normalizeAddress(r.address);
    if (!recipients.has(key) || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** A recipient as the ledger names it: its candidate keys and its masked address. */
export function keysOf(hasher: RecipientHasher, address: string): RecipientKeys {
  return { hashes: hasher.candidates(address), masked: maskAddress(address) };
}

/**
 * The suppression list entry for a recipient a provider refused: reason `recipient-rejected`,
 * the refusal's reason (no address in it) as the note, this email and the provider as its source.
 */
export function refusalEntry(hasher: RecipientHasher, emailId: string, refusal: ProviderRefusal): SuppressionEntry {
  return {
    ...keysOf(hasher, refusal.address),
    reason: 'recipient-rejected',
    note: refusal.reason,
    createdBy: 'provider',
    source: { emailId, provider: refusal.provider },
  };
}
