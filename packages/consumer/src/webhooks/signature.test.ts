import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { signatureHeaders } from './signature';

// The Standard Webhooks reference vector: standard-webhooks/standard-webhooks,
// libraries/javascript/src/webhook.test.ts ("sign function works"), commit 10d3e46d.
const vector = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  payload: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const otherSecret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

describe('signatureHeaders', () => {
  it('when signing the reference vector, then the signature is the specification’s', () => {
    expect(signatureHeaders([vector.secret], vector.id, vector.payload, new Date(vector.timestamp * 1000))).toEqual({
      'webhook-id': vector.id,
      'webhook-timestamp': String(vector.timestamp),
      'webhook-signature': vector.signature,
    });
  });

  it('when the time has milliseconds, then the timestamp is whole seconds and the signature covers exactly it', () => {
    const headers = signatureHeaders(
      [vector.secret],
      vector.id,
      vector.payload,
      new Date(vector.timestamp * 1000 + 999),
    );
    expect(headers['webhook-timestamp']).toBe(String(vector.timestamp));
    expect(headers['webhook-signature']).toBe(vector.signature);
  });

  it('when two secrets sign (a rotation’s overlap), then the header lists one v1 signature per secret, space-separated, each verifiable alone', () => {
    const now = new Date();
    const body = '{"id":"e1"}';
    const headers = signatureHeaders([otherSecret, vector.secret], 'e1', body, now);
    const parts = headers['webhook-signature'].split(' ');
    expect(parts).toHaveLength(2);
    const hmac = (secret: string) =>
      `v1,${createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64'))
        .update(`e1.${headers['webhook-timestamp']}.${body}`)
        .digest('base64')}`;
    expect(parts).toEqual([hmac(otherSecret), hmac(vector.secret)]);
    for (const secret of [otherSecret, vector.secret]) {
      expect(new Webhook(secret).verify(body, { ...headers })).toEqual({ id: 'e1' });
    }
  });

  it('when there is no secret, then it refuses to sign', () => {
    expect(() => signatureHeaders([], 'e1', '{}', new Date())).toThrow('no secret');
  });
});
