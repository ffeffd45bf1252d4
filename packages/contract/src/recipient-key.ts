import { createHash, createHmac } from 'node:crypto';
import { domainToASCII } from 'node:url';

/**
 * The form of an address its recipient key is computed over: trimmed, Unicode NFC, the whole
 * address lower case, and the domain in ASCII (IDNA, `bücher.example` -> `xn--bcher-kva.example`).
 *
 * The local part is lower-cased too although RFC 5321 lets a host tell `Ann@` from `ann@`: in
 * practice mailbox hosts treat it case-insensitively, and so do the providers' own suppression
 * lists (SES's and Postmark's), which is what this key is compared with. No provider-specific
 * rule is applied (no dot or `+tag` stripping: those are Gmail's alone), so two addresses that
 * differ only there are two recipients.
 */
export function normalizeAddress(address: string): string {
  const lower = address.trim().normalize('NFC').toLowerCase();
  const at = lower.lastIndexOf('@');
  if (at === -1) return lower;
  const domain = lower.slice(at + 1);
  // domainToASCII answers '' for a domain it cannot convert: keep the lower-cased text then.
  const ascii = domain === '' ? '' : domainToASCII(domain);
  return `${lower.slice(0, at + 1)}${ascii === '' ? domain : ascii}`;
}

/** The shortest secret {@link RecipientHasher} takes (`RECIPIENT_HASH_SECRET`). */
export const MIN_RECIPIENT_SECRET_LENGTH = 32;

/** The secrets recipient keys are made with: the current one, and earlier ones still matched. */
export interface RecipientSecrets {
  readonly current: string;
  /** Earlier secrets, newest first: entries made under them still match until they are rewritten. */
  readonly previous?: readonly string[];
}

/** The short, public id of a secret: the first 12 hex digits of SHA-256("mailer recipient key\n" + secret). */
export function recipientKeyId(secret: string): string {
  return createHash('sha256').update(`mailer recipient key\n${secret}`).digest('hex').slice(0, 12);
}

/**
 * Keys recipients without holding their address: HMAC-SHA256 of {@link normalizeAddress}'s form
 * under a server secret. The ledger stores these keys (beside the masked address) and never the
 * address; the same address always gives the same key under one secret, and nobody without the
 * secret can test a guessed address against the ledger.
 *
 * Rotation: the new secret becomes `current` and the old one moves to `previous`; a lookup tries
 * every {@link candidates} key, and the ledger rewrites an entry found under an old key with the
 * current one (`docs/ledger.md`).
 */
export class RecipientHasher {
  private readonly secrets: readonly string[];
  private readonly ids: readonly string[];

  constructor(secrets: RecipientSecrets) {
    const all = [secrets.current, ...(secrets.previous ?? [])];
    for (const secret of all) {
      if (secret.length < MIN_RECIPIENT_SECRET_LENGTH) {
        throw new RangeError(`a recipient hash secret has at least ${MIN_RECIPIENT_SECRET_LENGTH} characters`);
      }
    }
    // The same secret twice would only repeat a candidate.
    this.secrets = all.filter((secret, i) => all.indexOf(secret) === i);
    this.ids = this.secrets.map(recipientKeyId);
  }

  /** The short id of the current secret ({@link recipientKeyId}): stored beside each suppression. */
  get keyId(): string {
    return this.keyIdOf(0);
  }

  /** The id of the secret at `index` of {@link candidates}' order: 0 current, then each previous one. */
  keyIdOf(index: number): string {
    const id = this.ids[index];
    if (id === undefined) throw new RangeError(`no recipient hash secret at index ${index}`);
    return id;
  }

  /** The address's key under the current secret: 32 bytes. */
  hash(address: string): Buffer {
    return this.hashWith(0, normalizeAddress(address));
  }

  /** The address's key under every secret: the current one first, then each previous one in order. */
  candidates(address: string): Buffer[] {
    const normalized = normalizeAddress(address);
    return this.secrets.map((_, i) => this.hashWith(i, normalized));
  }

  private hashWith(index: number, normalized: string): Buffer {
    return createHmac('sha256', this.secrets[index] ?? '')
      .update(normalized, 'utf8')
      .digest();
  }
}
