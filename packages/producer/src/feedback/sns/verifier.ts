import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { CertificateUnavailableError, type CertificateSource } from './certificates';
import { stringToSign, type SnsMessage } from './message';
import { isSigningCertUrl } from './urls';

/**
 * Our own SNS signature verifier (docs/feedback.md "Why our own verifier"): `sns-validator` leaves
 * `Token` out of an UnsubscribeConfirmation's string to sign, and a short verifier over
 * `node:crypto` with an injectable certificate source is easy to audit and to test offline.
 */

/** Signature versions: 1 is SHA1withRSA, 2 is SHA256withRSA; anything else is refused. */
const ALGORITHMS: Readonly<Record<string, string>> = { '1': 'sha1', '2': 'sha256' };

/** Why a message was refused; each is a 403 except `certificate-unavailable` (503: SNS retries). */
export type SnsRefusal =
  | 'topic-not-allowed'
  | 'bad-certificate-url'
  | 'unsupported-signature-version'
  | 'bad-signature'
  | 'certificate-unavailable';

/** What {@link SnsVerifier.verify} decided. */
export type SnsVerdict =
  { readonly ok: true } | { readonly ok: false; readonly refusal: SnsRefusal; readonly detail: string };

/** Parsed keys kept at once, by PEM text. */
const MAX_KEYS = 32;

/**
 * Authenticates and authorizes SNS messages: the topic must be allowed (checked first, so an
 * unlisted topic makes this service fetch nothing), the certificate URL SNS's own, the signature
 * version known, and the signature good over the exact string to sign.
 */
export class SnsVerifier {
  private readonly keys = new Map<string, KeyObject>();
  private readonly topics: ReadonlySet<string>;
  private readonly certificates: CertificateSource;

  constructor(options: { readonly topicArns: readonly string[]; readonly certificates: CertificateSource }) {
    this.topics = new Set(options.topicArns);
    this.certificates = options.certificates;
  }

  async verify(message: SnsMessage): Promise<SnsVerdict> {
    if (!this.topics.has(message.TopicArn)) {
      return { ok: false, refusal: 'topic-not-allowed', detail: 'the TopicArn is not in SNS_TOPIC_ARNS' };
    }
    if (!isSigningCertUrl(message.SigningCertURL)) {
      return {
        ok: false,
        refusal: 'bad-certificate-url',
        detail: 'SigningCertURL is not https://sns.<region>.amazonaws.com[.cn]/SimpleNotificationService-<hex>.pem',
      };
    }
    const algorithm = ALGORITHMS[message.SignatureVersion];
    if (algorithm === undefined) {
      return { ok: false, refusal: 'unsupported-signature-version', detail: 'SignatureVersion must be 1 or 2' };
    }
    let key: KeyObject;
    try {
      key = this.keyOf(await this.certificates.get(message.SigningCertURL));
    } catch (error) {
      const detail =
        error instanceof CertificateUnavailableError ? error.message : 'the signing certificate could not be read';
      return { ok: false, refusal: 'certificate-unavailable', detail };
    }
    const signature = Buffer.from(message.Signature, 'base64');
    const good =
      signature.length > 0 && verifySignature(algorithm, Buffer.from(stringToSign(message), 'utf8'), key, signature);
    return good ? { ok: true } : { ok: false, refusal: 'bad-signature', detail: 'the signature does not match' };
  }

  /** The public key in `pem` (a certificate or a bare SPKI key), parsed once. */
  private keyOf(pem: string): KeyObject {
    const known = this.keys.get(pem);
    if (known !== undefined) return known;
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch {
      throw new CertificateUnavailableError('the signing certificate holds no public key');
    }
    if (this.keys.size >= MAX_KEYS) this.keys.clear();
    this.keys.set(pem, key);
    return key;
  }
}
