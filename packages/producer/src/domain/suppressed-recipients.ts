import { maskAddress, type Address, type EmailRequest } from '@mailer/contract';

/** An email's request split by the suppression list: what is still to be sent, and to whom it is not. */
export interface SuppressedSplit {
  /** The request with the suppressed recipients left out; `undefined` when none is left. */
  readonly remaining: EmailRequest | undefined;
  /** The recipients left out, masked (`j***@example.org`), each address once, in to, cc, bcc order. */
  readonly suppressed: readonly string[];
}

/**
 * Leaves the recipients at `positions` (from 0, counted across to, then cc, then bcc: the
 * ledger's answer to recording the email) out of `request`. A list emptied so is left out of the
 * request rather than sent empty; the others keep their order, and nothing else changes (no
 * recipient moves from cc or bcc into to: a request with no `to` is already a valid one, and
 * moving a bcc recipient would disclose it). Positions past the recipients are ignored.
 */
export function withoutSuppressed(request: EmailRequest, positions: readonly number[]): SuppressedSplit {
  if (positions.length === 0) return { remaining: request, suppressed: [] };
  const dropped = new Set(positions);
  const suppressed: string[] = [];
  const seen = new Set<string>();
  let position = 0;
  const keep = (list: readonly Address[] | undefined): Address[] => {
    const kept: Address[] = [];
    for (const address of list ?? []) {
      if (!dropped.has(position++)) {
        kept.push(address);
        continue;
      }
      const key = address.email.toLowerCase();
      if (seen.has(key)) continue;
      seen.add(key);
      suppressed.push(maskAddress(address.email));
    }
    return kept;
  };
  // In this order: positions count to, then cc, then bcc.
  const to = keep(request.to);
  const cc = keep(request.cc);
  const bcc = keep(request.bcc);
  if (to.length + cc.length + bcc.length === 0) return { remaining: undefined, suppressed };
  const { to: _to, cc: _cc, bcc: _bcc, ...rest } = request;
  return {
    remaining: {
      ...rest,
      ...(to.length === 0 ? {} : { to }),
      ...(cc.length === 0 ? {} : { cc }),
      ...(bcc.length === 0 ? {} : { bcc }),
    },
    suppressed,
  };
}
