import { createHash, timingSafeEqual } from 'node:crypto';

/** The HTTP Basic credentials Postmark's webhook URL carries (`POSTMARK_WEBHOOK_USER`/`_PASSWORD`). */
export interface BasicCredentials {
  readonly user: string;
  readonly password: string;
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * Checks an `Authorization` header against `expected` in constant time: both sides are hashed
 * first, so neither the lengths nor the first differing byte show in the time taken, and both
 * halves are always compared.
 */
export function basicCredentialsMatch(header: string | undefined, expected: BasicCredentials): boolean {
  const match = /^Basic[ ]+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  const decoded = match?.[1] === undefined ? '' : Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon < 0 ? '' : decoded.slice(0, colon);
  const password = colon < 0 ? '' : decoded.slice(colon + 1);
  const userOk = timingSafeEqual(digest(user), digest(expected.user));
  const passwordOk = timingSafeEqual(digest(password), digest(expected.password));
  return match !== null && colon >= 0 && userOk && passwordOk;
}
