import { readSnsMessage, stringToSign, type SnsMessage } from './message';
import { SnsSigner } from './testing';
import { SnsVerifier } from './verifier';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:ses-events';
const OTHER_TOPIC = 'arn:aws:sns:us-east-1:999999999999:attacker';
const signer = new SnsSigner();

function verifierFor(certificates = signer.certificates()) {
  return { certificates, verifier: new SnsVerifier({ topicArns: [TOPIC], certificates }) };
}

describe('stringToSign', () => {
  // Golden vectors written out by hand from the SNS documentation's field lists: every value ends
  // with a newline, the last one too (the bug useSend shipped, usesend/useSend#440).
  it('when a Notification has a Subject, then it is signed between MessageId and Timestamp', () => {
    const message: SnsMessage = {
      Type: 'Notification',
      MessageId: 'm-1',
      TopicArn: TOPIC,
      Subject: 'Hello',
      Message: '{"a":1}',
      Timestamp: '2026-12-07T21:00:00.000Z',
      SignatureVersion: '1',
      Signature: 'x',
      SigningCertURL: signer.certUrl,
    };
    expect(stringToSign(message)).toBe(
      `Message\n{"a":1}\nMessageId\nm-1\nSubject\nHello\nTimestamp\n2026-12-07T21:00:00.000Z\nTopicArn\n${TOPIC}\nType\nNotification\n`,
    );
  });

  it('when a Notification has no Subject, then Subject is left out', () => {
    const message = readSnsMessage({
      Type: 'Notification',
      MessageId: 'm-1',
      TopicArn: TOPIC,
      Subject: null,
      Message: 'body',
      Timestamp: 't',
      SignatureVersion: '2',
      Signature: 'x',
      SigningCertURL: signer.certUrl,
    });
    if (!message.ok) throw new Error(message.problem);
    expect(stringToSign(message.message)).toBe(
      `Message\nbody\nMessageId\nm-1\nTimestamp\nt\nTopicArn\n${TOPIC}\nType\nNotification\n`,
    );
  });

  it.each(['SubscriptionConfirmation', 'UnsubscribeConfirmation'] as const)(
    'when the message is a %s, then SubscribeURL and Token are signed too',
    (type) => {
      const message: SnsMessage = {
        Type: type,
        MessageId: 'm-2',
        TopicArn: TOPIC,
        Token: 'tok',
        Message: 'msg',
        SubscribeURL: 'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription',
        Timestamp: 't',
        SignatureVersion: '2',
        Signature: 'x',
        SigningCertURL: signer.certUrl,
      };
      expect(stringToSign(message)).toBe(
        'Message\nmsg\nMessageId\nm-2\nSubscribeURL\nhttps://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription\n' +
          `Timestamp\nt\nToken\ntok\nTopicArn\n${TOPIC}\nType\n${type}\n`,
      );
    },
  );
});

describe('readSnsMessage', () => {
  const good = signer.notification(TOPIC, '{}');

  it.each([
    ['an array', []],
    ['an unknown Type', { ...good, Type: 'Other' }],
    ['no MessageId', { ...good, MessageId: undefined }],
    ['a numeric Signature', { ...good, Signature: 5 }],
    ['a Subject object', { ...good, Subject: {} }],
    [
      'a confirmation without Token',
      { ...signer.confirmation('SubscriptionConfirmation', TOPIC, 'https://x'), Token: undefined },
    ],
    ['a huge SigningCertURL', { ...good, SigningCertURL: `https://${'a'.repeat(5000)}` }],
    ['a MessageId longer than an event key may be', { ...good, MessageId: 'm'.repeat(201) }],
  ])('when the body is %s, then it is not an SNS message', (_name, body) => {
    expect(readSnsMessage(body).ok).toBe(false);
  });

  it('when the body has fields SNS added, then they are ignored', () => {
    expect(readSnsMessage({ ...good, UnsubscribeURL: 'https://x', MessageAttributes: {} })).toEqual({
      ok: true,
      message: good,
    });
  });
});

describe('SnsVerifier', () => {
  describe.each(['1', '2'] as const)('SignatureVersion %s', (version) => {
    it('when a Notification is signed, then it is accepted', async () => {
      const { verifier, certificates } = verifierFor();
      expect(await verifier.verify(signer.notification(TOPIC, '{"eventType":"Bounce"}', version))).toEqual({
        ok: true,
      });
      expect(certificates.requested).toEqual([signer.certUrl]);
    });

    it.each(['SubscriptionConfirmation', 'UnsubscribeConfirmation'] as const)(
      'when a %s is signed (Token included), then it is accepted',
      async (type) => {
        const { verifier } = verifierFor();
        const message = signer.confirmation(
          type,
          TOPIC,
          'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription',
          version,
        );
        expect(await verifier.verify(message)).toEqual({ ok: true });
      },
    );

    it('when the Message was changed after signing, then the signature is refused', async () => {
      const { verifier } = verifierFor();
      const message = signer.notification(TOPIC, '{"eventType":"Delivery"}', version);
      expect(await verifier.verify({ ...message, Message: '{"eventType":"Bounce"}' })).toMatchObject({
        ok: false,
        refusal: 'bad-signature',
      });
    });
  });

  it("when an UnsubscribeConfirmation was signed without its Token (sns-validator's string), then it is refused", async () => {
    const { verifier } = verifierFor();
    const message = signer.confirmation('UnsubscribeConfirmation', TOPIC, 'https://sns.us-east-1.amazonaws.com/');
    const { Token: _token, ...withoutToken } = message;
    // The right key over the wrong string: a verifier that leaves Token out would accept this.
    const forged = { ...message, Signature: signer.signString(stringToSign(withoutToken)) };
    expect(await verifier.verify(forged)).toMatchObject({ ok: false, refusal: 'bad-signature' });
  });

  it('when the message is signed by another key on the same certificate URL, then it is refused', async () => {
    const { verifier } = verifierFor();
    const impostor = new SnsSigner();
    const message = impostor.sign({ ...impostor.notification(TOPIC, '{}'), SigningCertURL: signer.certUrl });
    expect(await verifier.verify(message)).toMatchObject({ ok: false, refusal: 'bad-signature' });
  });

  it('when the TopicArn is not allowed, then it is refused before any certificate is asked for', async () => {
    const { verifier, certificates } = verifierFor();
    expect(await verifier.verify(signer.notification(OTHER_TOPIC, '{}'))).toMatchObject({
      ok: false,
      refusal: 'topic-not-allowed',
    });
    expect(certificates.requested).toEqual([]);
  });

  it.each([
    ['http', 'http://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem'],
    ['another host', 'https://s3.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem'],
    [
      'a look-alike host',
      'https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem',
    ],
    [
      'a port',
      'https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem',
    ],
    [
      'user info',
      'https://a@sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem',
    ],
    [
      'a query',
      'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem?x=1',
    ],
    [
      'a bad path',
      'https://sns.us-east-1.amazonaws.com/attacker/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem',
    ],
    ['a short hex', 'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem'],
    [
      'dot segments',
      'https://sns.us-east-1.amazonaws.com/x/../SimpleNotificationService-0123456789abcdef0123456789abcdef.pem',
    ],
    ['not a URL', 'sns.us-east-1.amazonaws.com'],
  ])('when the certificate URL has %s, then it is refused and nothing is fetched', async (_name, url) => {
    const { verifier, certificates } = verifierFor();
    const message = signer.sign({ ...signer.notification(TOPIC, '{}'), SigningCertURL: url });
    expect(await verifier.verify(message)).toMatchObject({ ok: false, refusal: 'bad-certificate-url' });
    expect(certificates.requested).toEqual([]);
  });

  it('when the certificate URL is in China, then it is accepted', async () => {
    const china = new SnsSigner({ region: 'cn-north-1' });
    const chinaCert = china.certUrl.replace('.amazonaws.com/', '.amazonaws.com.cn/');
    const certificates = {
      get: (url: string) => (url === chinaCert ? Promise.resolve(china.publicKeyPem) : Promise.reject(new Error('no'))),
    };
    const verifier = new SnsVerifier({ topicArns: [TOPIC], certificates });
    expect(
      await verifier.verify(china.sign({ ...china.notification(TOPIC, '{}'), SigningCertURL: chinaCert })),
    ).toEqual({ ok: true });
  });

  it.each(['3', '0', ''])('when SignatureVersion is %p, then it is refused', async (version) => {
    const { verifier } = verifierFor();
    const message = { ...signer.notification(TOPIC, '{}'), SignatureVersion: version };
    expect(await verifier.verify(message)).toMatchObject({ ok: false, refusal: 'unsupported-signature-version' });
  });

  it('when the certificate cannot be had, then the refusal says so (the route answers 503, SNS retries)', async () => {
    const verifier = new SnsVerifier({
      topicArns: [TOPIC],
      certificates: { get: () => Promise.reject(new Error('down')) },
    });
    expect(await verifier.verify(signer.notification(TOPIC, '{}'))).toMatchObject({
      ok: false,
      refusal: 'certificate-unavailable',
    });
  });

  it('when the certificate source gives something that is no key, then it is unavailable, not a crash', async () => {
    const verifier = new SnsVerifier({
      topicArns: [TOPIC],
      certificates: { get: () => Promise.resolve('-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n') },
    });
    expect(await verifier.verify(signer.notification(TOPIC, '{}'))).toMatchObject({
      ok: false,
      refusal: 'certificate-unavailable',
    });
  });

  it('when the Signature is empty or not base64, then it is refused', async () => {
    const { verifier } = verifierFor();
    const message = signer.notification(TOPIC, '{}');
    expect(await verifier.verify({ ...message, Signature: '' })).toMatchObject({ ok: false, refusal: 'bad-signature' });
    expect(await verifier.verify({ ...message, Signature: '!!!' })).toMatchObject({
      ok: false,
      refusal: 'bad-signature',
    });
  });
});
