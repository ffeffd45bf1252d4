import { generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import type { CertificateSource } from './certificates';
import { stringToSign, type SnsMessage, type SnsMessageType } from './message';

/**
 * Signs SNS messages as SNS does, with a key pair made here: for tests and the bench, which post
 * messages no emulator can sign offline (docs/feedback.md "Testing").
 */
export class SnsSigner {
  readonly publicKeyPem: string;
  private readonly privateKeyPem: string;
  /** A certificate URL that passes the rules, unique to this signer. */
  readonly certUrl: string;

  constructor(options: { readonly region?: string } = {}) {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    this.privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const region = options.region ?? 'us-east-1';
    this.certUrl = `https://sns.${region}.amazonaws.com/SimpleNotificationService-${randomBytes(16).toString('hex')}.pem`;
  }

  /** A certificate source that knows only this signer's certificate URL. */
  certificates(): CertificateSource & { readonly requested: string[] } {
    const requested: string[] = [];
    return {
      requested,
      get: (url) => {
        requested.push(url);
        return url === this.certUrl
          ? Promise.resolve(this.publicKeyPem)
          : Promise.reject(new Error('unknown certificate'));
      },
    };
  }

  /** Signs `fields` (any `SigningCertURL` given is kept) with SignatureVersion `version`. */
  sign(fields: UnsignedSnsMessage, version: '1' | '2' = '2'): SnsMessage {
    const unsigned: SnsMessage = {
      SigningCertURL: this.certUrl,
      ...fields,
      SignatureVersion: version,
      Signature: '',
    };
    return { ...unsigned, Signature: this.signString(stringToSign(unsigned), version) };
  }

  /** The base64 signature of `text` with this signer's key: for tests of a wrong string to sign. */
  signString(text: string, version: '1' | '2' = '2'): string {
    return sign(version === '1' ? 'sha1' : 'sha256', Buffer.from(text, 'utf8'), this.privateKeyPem).toString('base64');
  }

  /** A signed Notification carrying `message` on `topicArn`. */
  notification(topicArn: string, message: string, version: '1' | '2' = '2'): SnsMessage {
    return this.sign(
      {
        Type: 'Notification',
        MessageId: randomUUID(),
        TopicArn: topicArn,
        Message: message,
        Timestamp: new Date().toISOString(),
      },
      version,
    );
  }

  /** A signed SubscriptionConfirmation or UnsubscribeConfirmation. */
  confirmation(
    type: Exclude<SnsMessageType, 'Notification'>,
    topicArn: string,
    subscribeUrl: string,
    version: '1' | '2' = '2',
  ): SnsMessage {
    return this.sign(
      {
        Type: type,
        MessageId: randomUUID(),
        TopicArn: topicArn,
        Token: randomBytes(32).toString('hex'),
        Message: `You have chosen to subscribe to the topic ${topicArn}.`,
        SubscribeURL: subscribeUrl,
        Timestamp: new Date().toISOString(),
      },
      version,
    );
  }
}

/** The fields of a message before signing; `SigningCertURL` defaults to the signer's. */
export type UnsignedSnsMessage = Omit<SnsMessage, 'Signature' | 'SignatureVersion' | 'SigningCertURL'> & {
  readonly SigningCertURL?: string;
};
