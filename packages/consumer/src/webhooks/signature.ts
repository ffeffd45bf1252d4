import { Webhook } from 'standardwebhooks';

/** The three Standard Webhooks headers of one delivery. */
export interface SignatureHeaders {
  readonly 'webhook-id': string;
  /** Unix seconds of the try, as text. */
  readonly 'webhook-timestamp': string;
  /** `v1,<base64>` per secret, space-separated: two during a rotation's overlap. */
  readonly 'webhook-signature': string;
}

/**
 * Signs `body` (the exact bytes sent) with every current secret (`whsec_…`), with the npm
 * `standardwebhooks` library: HMAC-SHA256 over `id.timestamp.body` with the base64-decoded secret.
 * The timestamp is the try's, so a receiver's 5-minute tolerance measures this try, not the event.
 */
export function signatureHeaders(secrets: readonly string[], id: string, body: string, at: Date): SignatureHeaders {
  if (secrets.length === 0) throw new Error('no secret to sign with');
  const seconds = Math.floor(at.getTime() / 1000);
  // The library signs with the timestamp floored to seconds too; give it exactly that instant.
  const instant = new Date(seconds * 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(seconds),
    'webhook-signature': secrets.map((secret) => new Webhook(secret).sign(id, instant, body)).join(' '),
  };
}
