import { createHash, timingSafeEqual } from 'node:crypto';
import { fail, ok, type Parsed } from '@mailer/config';

/**
 * What an API key may do: `send` (POST /v1/emails, /v1/emails/batch), `read` (GET its own
 * emails), `suppressions` (read and change the deployment's suppression list, shared by every
 * caller: never given unless named) and `webhooks` (register and manage its own webhook
 * endpoints, which then get its emails' events: never given unless named).
 */
export type ApiScope = 'send' | 'read' | 'suppressions' | 'webhooks';

/** Every {@link ApiScope}, in the order docs/configuration.md lists them. */
export const API_SCOPES: readonly ApiScope[] = ['send', 'read', 'suppressions', 'webhooks'];

/** The scopes of an entry written without `scopes` (as every entry was before scopes existed). */
export const DEFAULT_SCOPES: readonly ApiScope[] = ['send', 'read'];

/** A caller: a named API key, the senders it may use and what it may do. */
export interface ApiKey {
  /** Shown in logs and carried on queued messages; never the key itself. */
  readonly name: string;
  /** SHA-256 of the key, as 32 bytes. Only the hash is configured, so config leaks no key. */
  readonly keyHash: Buffer;
  /** Exact addresses (`billing@example.com`) and whole domains (`example.com`), lower case. */
  readonly senders: readonly string[];
  /** What the key may do; absent: {@link DEFAULT_SCOPES} (an entry written without `scopes`). */
  readonly scopes?: readonly ApiScope[];
}

/** Whether `key` may do what `scope` allows. */
export function hasScope(key: ApiKey, scope: ApiScope): boolean {
  return (key.scopes ?? DEFAULT_SCOPES).includes(scope);
}

/** SHA-256 of a presented key. */
export function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** Finds the caller whose key hash matches `presented`, comparing in constant time. */
export function findApiKey(keys: readonly ApiKey[], presented: string): ApiKey | undefined {
  const hash = hashKey(presented);
  return keys.find((key) => timingSafeEqual(key.keyHash, hash));
}

/**
 * Whether `key` may send from `address`: an exact address entry matches that address, a domain
 * entry matches every address at exactly that domain (not its subdomains). Case-insensitive.
 */
export function maySendFrom(key: ApiKey, address: string): boolean {
  const lower = address.toLowerCase();
  const at = lower.lastIndexOf('@');
  const domain = at >= 0 ? lower.slice(at + 1) : '';
  return key.senders.some((sender) => (sender.includes('@') ? sender === lower : sender === domain));
}

const senderPattern = /^(?:[^\s@]+@)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/;

/** Reads an entry's `scopes`: absent is the default; otherwise a non-empty list of known scopes, each once. */
function parseScopes(raw: unknown, at: string, problems: string[]): readonly ApiScope[] | undefined {
  if (raw === undefined) return undefined;
  const known = (value: unknown): value is ApiScope => (API_SCOPES as readonly unknown[]).includes(value);
  const list: readonly unknown[] = Array.isArray(raw) ? raw : [];
  if (list.length === 0 || !list.every(known)) {
    problems.push(`${at}.scopes must be a non-empty list of ${API_SCOPES.join(', ')}`);
    return undefined;
  }
  if (new Set(list).size !== list.length) {
    problems.push(`${at}.scopes repeats a scope`);
    return undefined;
  }
  return list;
}

/**
 * Parses `API_KEYS`: a JSON list of `{ "name", "key_sha256", "senders", "scopes"? }`. `senders`
 * is required of a key that may send (no `scopes`, or `scopes` with `send`) and optional otherwise.
 */
export function parseApiKeys(raw: string): Parsed<ApiKey[]> {
  let entries: unknown;
  try {
    entries = JSON.parse(raw);
  } catch {
    return fail('must be JSON: [{"name":"...","key_sha256":"<64 hex>","senders":["example.com"]}]');
  }
  if (!Array.isArray(entries) || entries.length === 0) {
    return fail('must be a non-empty JSON list of keys (there is no open relay)');
  }
  const problems: string[] = [];
  const keys: ApiKey[] = [];
  const names = new Set<string>();
  const hashes = new Set<string>();
  entries.forEach((entry: unknown, index) => {
    const at = `[${index}]`;
    if (typeof entry !== 'object' || entry === null) {
      problems.push(`${at} must be an object`);
      return;
    }
    const { name, key_sha256: keySha256, senders, scopes: rawScopes } = entry as Record<string, unknown>;
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
      problems.push(`${at}.name must be 1-64 of A-Z a-z 0-9 _ . -`);
    } else if (names.has(name)) {
      problems.push(`${at}.name repeats "${name}"`);
    }
    if (typeof keySha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(keySha256)) {
      problems.push(`${at}.key_sha256 must be the SHA-256 of the key, 64 hex digits`);
    } else if (hashes.has(keySha256.toLowerCase())) {
      problems.push(`${at}.key_sha256 repeats another entry's key (each caller needs its own key)`);
    }
    const scopes = parseScopes(rawScopes, at, problems);
    // A key that cannot send needs no senders; when it names some they must still be well formed.
    const sends = rawScopes === undefined || (Array.isArray(rawScopes) && rawScopes.includes('send'));
    const senderList = Array.isArray(senders) ? senders : [];
    if (
      (sends || senders !== undefined) &&
      (senderList.length === 0 ||
        !senderList.every((s): s is string => typeof s === 'string' && senderPattern.test(s.toLowerCase())))
    ) {
      problems.push(`${at}.senders must list addresses (a@example.com) or domains (example.com)`);
    }
    if (typeof name === 'string' && typeof keySha256 === 'string') {
      names.add(name);
      hashes.add(keySha256.toLowerCase());
      keys.push({
        name,
        keyHash: Buffer.from(keySha256, 'hex'),
        senders: senderList.map((s) => String(s).toLowerCase()),
        ...(scopes === undefined ? {} : { scopes }),
      });
    }
  });
  return problems.length > 0 ? fail(problems.join('; ')) : ok(keys);
}
