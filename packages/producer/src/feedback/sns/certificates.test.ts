import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BoundedResponse } from '../bounded-get';
import { CertificateUnavailableError, DirectoryCertificateSource, HttpsCertificateSource } from './certificates';
import { isSubscribeUrl } from './urls';

const URL_A = 'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem';
const URL_B = 'https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-fedcba9876543210fedcba9876543210.pem';
const PEM = '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n';

/** A GET that answers when told to, counting calls per URL. */
function controlledGet() {
  const calls: string[] = [];
  const waiting: ((response: BoundedResponse) => void)[] = [];
  return {
    calls,
    answer: (response: BoundedResponse) => waiting.shift()?.(response),
    get: (url: string) => {
      calls.push(url);
      return new Promise<BoundedResponse>((resolve) => waiting.push(resolve));
    },
  };
}

describe('HttpsCertificateSource', () => {
  it('when two gets of one URL overlap, then one fetch serves both, and the next get within the TTL fetches nothing', async () => {
    const http = controlledGet();
    const source = new HttpsCertificateSource({ ttlMs: 60_000, timeoutMs: 1000, get: http.get });
    const first = source.get(URL_A);
    const second = source.get(URL_A);
    http.answer({ status: 200, body: PEM });
    expect(await Promise.all([first, second])).toEqual([PEM, PEM]);
    expect(await source.get(URL_A)).toBe(PEM);
    expect(http.calls).toEqual([URL_A]);
  });

  it('when the TTL has passed, then the certificate is fetched again', async () => {
    let now = 0;
    const source = new HttpsCertificateSource({
      ttlMs: 1000,
      timeoutMs: 1000,
      now: () => now,
      get: () => Promise.resolve({ status: 200, body: PEM }),
    });
    const spy = jest.spyOn(source as unknown as { load: (url: string) => Promise<string> }, 'load');
    await source.get(URL_A);
    now = 999;
    await source.get(URL_A);
    now = 1000;
    await source.get(URL_A);
    expect(spy).toHaveBeenCalledTimes(2);
  });

  it('when a fetch fails, then it is not cached: the next get fetches again', async () => {
    const answers: BoundedResponse[] = [
      { status: 500, body: '' },
      { status: 200, body: PEM },
    ];
    const calls: string[] = [];
    const source = new HttpsCertificateSource({
      ttlMs: 60_000,
      timeoutMs: 1000,
      get: (url) => {
        calls.push(url);
        return Promise.resolve(answers.shift() ?? { status: 599, body: '' });
      },
    });
    await expect(source.get(URL_A)).rejects.toThrow(CertificateUnavailableError);
    expect(await source.get(URL_A)).toBe(PEM);
    expect(calls).toEqual([URL_A, URL_A]);
  });

  it.each([
    ['a GET error', () => Promise.reject(new Error('ECONNREFUSED')), 'ECONNREFUSED'],
    ['a 404', () => Promise.resolve({ status: 404, body: 'no' }), 'answered 404'],
    ['a body that is no PEM', () => Promise.resolve({ status: 200, body: '<html>' }), 'not PEM'],
  ])('when the fetch gives %s, then the get fails as unavailable', async (_name, get, text) => {
    const source = new HttpsCertificateSource({ ttlMs: 60_000, timeoutMs: 1000, get });
    await expect(source.get(URL_A)).rejects.toThrow(text);
  });

  it('when more URLs than the cap are cached, then the oldest is dropped', async () => {
    const calls: string[] = [];
    const source = new HttpsCertificateSource({
      ttlMs: 60_000,
      timeoutMs: 1000,
      maxEntries: 1,
      get: (url) => {
        calls.push(url);
        return Promise.resolve({ status: 200, body: PEM });
      },
    });
    await source.get(URL_A);
    await source.get(URL_B);
    await source.get(URL_A);
    expect(calls).toEqual([URL_A, URL_B, URL_A]);
  });
});

describe('DirectoryCertificateSource', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sns-certs-'));
    await mkdir(join(dir, 'sns.us-east-1.amazonaws.com'));
    await writeFile(
      join(dir, 'sns.us-east-1.amazonaws.com', 'SimpleNotificationService-0123456789abcdef0123456789abcdef.pem'),
      PEM,
    );
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('when the folder holds the file for the URL, then its PEM is returned', async () => {
    expect(await new DirectoryCertificateSource(dir).get(URL_A)).toBe(PEM);
  });

  it('when the folder has no file for the URL, then the get fails as unavailable, naming host and file', async () => {
    await expect(new DirectoryCertificateSource(dir).get(URL_B)).rejects.toThrow(
      /no certificate sns\.eu-west-1\.amazonaws\.com\/SimpleNotificationService-fedcba/,
    );
  });

  it('when the URL is not a certificate URL, then no file is read', async () => {
    await expect(
      new DirectoryCertificateSource(dir).get('https://sns.us-east-1.amazonaws.com/../../etc/passwd'),
    ).rejects.toThrow('not a signing certificate URL');
  });
});

describe('isSubscribeUrl', () => {
  const subscribe =
    'https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37';

  it.each([
    [subscribe, [], true],
    ['https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription&Token=x', [], true],
    ['http://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription', [], false],
    ['https://evil.example/?Action=ConfirmSubscription', [], false],
    ['https://sns.us-west-2.amazonaws.com:444/?x', [], false],
    ['http://127.0.0.1:8080/confirm?token=1', [], false],
    ['http://127.0.0.1:8080/confirm?token=1', ['http://127.0.0.1:8080'], true],
    ['http://127.0.0.1:8081/confirm', ['http://127.0.0.1:8080'], false],
    ['http://u:p@127.0.0.1:8080/confirm', ['http://127.0.0.1:8080'], false],
    ['file:///etc/passwd', ['null'], false],
  ])('when the SubscribeURL is %s (trusted %j), then it may be fetched: %p', (url, trusted, allowed) => {
    expect(isSubscribeUrl(url, trusted)).toBe(allowed);
  });
});
