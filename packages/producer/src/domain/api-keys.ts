import { createHash, timingSafeEqual } from 'node:crypto';
import { fail, ok, type Parsed } from '@mailer/config';

/** A caller: a named API key and the senders it may use. */
export interface ApiKey {
  /** Shown in logs and carried on queued messages; never the key itself. */
  readonly name: string;
  /** SHA-256 of the key, as 32 bytes. Only the hash is configured, so config leaks no key. */
  readonly keyHash: Buffer;
  /** Exact addresses (`billing@example.com`) and whole domains (`example.com`), lower case. */
  readonly senders: readonly string[];
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

/** Parses `API_KEYS`: a JSON list of `{ "name", "key_sha256", "senders" }`. */
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
    const { name, key_sha256: keySha256, senders } = entry as Record<string, unknown>;
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
    const senderList = Array.isArray(senders) ? senders : [];
    if (
      senderList.length === 0 ||
      !senderList.every((s): s is string => typeof s === 'string' && senderPattern.test(s.toLowerCase()))
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
      });
    }
  });
  return problems.length > 0 ? fail(problems.join('; ')) : ok(keys);
}
