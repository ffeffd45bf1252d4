import type { SuppressionView } from './feedback-records';
import { maskAddress, maskAddressesIn } from './mask';

/** One suppression entry as the API answers it and the CLI prints it with `--json` (snake_case). */
export interface SuppressionJson {
  /** Masked: `j***@example.org`. The full address is never kept. */
  readonly address: string;
  readonly reason: SuppressionView['reason'];
  readonly created_at: string;
  /** `null`: until removed. */
  readonly expires_at: string | null;
  readonly note: string | null;
  /** The API key's name, `provider`, or `cli:<user>`. */
  readonly created_by: string | null;
  /** The email (and provider) the entry came from first; `null` for a manual entry. */
  readonly source: { readonly email_id: string | null; readonly provider: string | null } | null;
}

/**
 * The JSON of an entry. The provider event's key is left out: some keys are made from the
 * recipient's key, which no answer shows. The address and note are masked again here (masking a
 * masked address changes nothing), as the email views mask error texts: a view must not depend on
 * every writer having masked.
 */
export function suppressionJson(view: SuppressionView): SuppressionJson {
  const emailId = view.source?.emailId ?? null;
  const provider = view.source?.provider ?? null;
  return {
    address: maskAddress(view.masked),
    reason: view.reason,
    created_at: view.createdAt.toISOString(),
    expires_at: view.expiresAt === undefined ? null : view.expiresAt.toISOString(),
    note: view.note === undefined ? null : maskAddressesIn(view.note),
    created_by: view.createdBy ?? null,
    source: emailId === null && provider === null ? null : { email_id: emailId, provider },
  };
}
