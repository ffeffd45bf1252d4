/**
 * Which URLs an SNS message may make this service fetch (docs/feedback.md). Only SNS's own hosts:
 * `sns.<region>.amazonaws.com` or, in China, `sns.<region>.amazonaws.com.cn`, over https on the
 * default port, with no user info. A signing certificate must also have SNS's path.
 */

const SNS_HOST = /^sns\.[a-z0-9-]{3,}\.amazonaws\.com(\.cn)?$/;
const CERTIFICATE_PATH = /^\/SimpleNotificationService-[0-9a-f]{32}\.pem$/i;

/** `raw` parsed, or undefined when it is not a URL or not written in its normal form. */
function parseExact(raw: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  // A URL the parser rewrote (dot segments, backslashes, escapes, case) is not taken on trust.
  return url.href === raw ? url : undefined;
}

/** An https URL on an SNS host, default port, no user info; undefined otherwise. */
function snsUrl(raw: string): URL | undefined {
  const url = parseExact(raw);
  if (url === undefined) return undefined;
  if (url.protocol !== 'https:' || url.port !== '' || url.username !== '' || url.password !== '') return undefined;
  return SNS_HOST.test(url.hostname) ? url : undefined;
}

/** True when `raw` is an SNS signing certificate URL: SNS host and path, no query or fragment. */
export function isSigningCertUrl(raw: string): boolean {
  const url = snsUrl(raw);
  return url !== undefined && url.search === '' && url.hash === '' && CERTIFICATE_PATH.test(url.pathname);
}

/** The host and file name of a signing certificate URL (for a certificate folder). */
export function certificateFileOf(raw: string): { readonly host: string; readonly file: string } | undefined {
  if (!isSigningCertUrl(raw)) return undefined;
  const url = new URL(raw);
  return { host: url.hostname, file: url.pathname.slice(1) };
}

/**
 * True when `raw` may be fetched to confirm a subscription: an SNS URL (any path and query), or a
 * URL on one of `trustedOrigins` exactly (`SNS_TRUSTED_ORIGINS`: tests and private networks).
 */
export function isSubscribeUrl(raw: string, trustedOrigins: readonly string[]): boolean {
  if (snsUrl(raw) !== undefined) return true;
  const url = parseExact(raw);
  return (
    url !== undefined &&
    url.username === '' &&
    url.password === '' &&
    (url.protocol === 'https:' || url.protocol === 'http:') &&
    trustedOrigins.includes(url.origin)
  );
}
