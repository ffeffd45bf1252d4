import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { EMAIL_ID_HEADER } from '@mailer/contract';
import { Models, ServerClient } from 'postmark';
import { PostmarkProvider, type PostmarkProviderOptions } from '../src/providers/postmark/send';
import { ProviderError, type OutboundEmail } from '../src/providers/provider';
import { describeProviderConformance, fullEmail, type ReceivedEmail } from './support/conformance';
import {
  parseAddressList,
  startFakePostmark,
  type FakePostmark,
  type PostmarkEmailJson,
} from './support/postmark-server';

const clientFor = (host: string, token: string): ServerClient =>
  new ServerClient(token, new Models.ClientOptions.Configuration(false, host));

const providerFor = (fake: FakePostmark, options: PostmarkProviderOptions = {}): PostmarkProvider =>
  new PostmarkProvider(clientFor(fake.host, fake.token), options);

const emails = (value: string | undefined): string[] =>
  value === undefined || value === '' ? [] : (parseAddressList(value) ?? []).map((m) => m.email.toLowerCase());

/** The JSON Postmark received, in the shape every provider's conformance run compares. */
function toReceivedEmail(json: PostmarkEmailJson): ReceivedEmail {
  const sender = parseAddressList(json.From ?? '')?.[0];
  return {
    from: { email: (sender?.email ?? '').toLowerCase(), ...(sender?.name ? { name: sender.name } : {}) },
    to: emails(json.To),
    cc: emails(json.Cc),
    bcc: emails(json.Bcc),
    replyTo: emails(json.ReplyTo),
    subject: json.Subject ?? '',
    ...(json.TextBody === undefined ? {} : { text: json.TextBody }),
    ...(json.HtmlBody === undefined ? {} : { html: json.HtmlBody }),
    headers: Object.fromEntries((json.Headers ?? []).map((h) => [h.Name.toLowerCase(), h.Value])),
    attachments: (json.Attachments ?? []).map((a) => ({
      filename: a.Name,
      contentType: a.ContentType,
      content: Buffer.from(a.Content, 'base64'),
    })),
  };
}

const CONFORMANCE_CONNECTIONS = 2;

describeProviderConformance(
  'postmark',
  async () => {
    const fake = await startFakePostmark();
    return {
      provider: providerFor(fake, { maxConnections: CONFORMANCE_CONNECTIONS }),
      received: async (id) => toReceivedEmail((await fake.received(id)).json),
      failNext: (kind) => fake.failNext(kind === 'recipient-rejected' ? 'inactive-recipient' : 'server-error'),
      holdNext: () => fake.holdNext(),
      has: (id) => fake.acceptedCount(id) > 0,
      close: () => fake.close(),
    };
  },
  { connections: CONFORMANCE_CONNECTIONS },
);

/** Sends and returns what the send rejected with (failing the test if it resolved). */
async function failureOf(promise: Promise<unknown>): Promise<ProviderError> {
  const error: unknown = await promise.then(
    () => new Error('expected the send to fail'),
    (e: unknown) => e,
  );
  if (!(error instanceof ProviderError)) throw error;
  return error;
}

/** A port on 127.0.0.1 that nothing listens on: taken from the OS, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('postmark provider against a fake Postmark API', () => {
  let fake: FakePostmark;
  let provider: PostmarkProvider;

  beforeAll(async () => {
    fake = await startFakePostmark();
    provider = providerFor(fake, { messageStream: 'transactional' });
  });

  afterAll(async () => {
    await fake.close();
  });

  const send = (email: OutboundEmail = fullEmail(), signal = AbortSignal.timeout(10_000)) =>
    provider.send(email, signal);

  it("when Postmark accepts the email, then the send resolves with Postmark's MessageID", async () => {
    const email = fullEmail();

    const receipt = await send(email);

    const { messageId } = await fake.received(email.id);
    expect(receipt).toEqual({ providerMessageId: messageId });
  });

  it('when an email is sent, then the request carries the Postmark fields: stream, tag, metadata, headers', async () => {
    const base = fullEmail();
    const email: OutboundEmail = {
      ...base,
      request: {
        ...base.request,
        tags: { tag: 'password-reset', team: 'accounts' },
        metadata: { user: 'u-42', attempt: 3, vip: true, none: null },
      },
    };

    await send(email);

    const { json } = await fake.received(email.id);
    expect(json).toMatchObject({
      From: 'Example Sender <sender@example.com>',
      To: 'To One <to1@example.org>, to2@example.org',
      Cc: 'cc@example.org',
      Bcc: 'hidden@example.org',
      ReplyTo: 'replies@example.com',
      MessageStream: 'transactional',
      Tag: 'password-reset',
      Metadata: { user: 'u-42', attempt: '3', vip: 'true', email_id: email.id },
    });
    expect(json.Headers).toContainEqual({ Name: EMAIL_ID_HEADER, Value: email.id });
    expect(json.Attachments?.map((a) => a.Name)).toEqual(['hello.txt', 'data.bin']);
  });

  it('when an attachment content_type carries caller parameters, then Postmark gets only the type and its charset', async () => {
    const base = fullEmail();
    const email: OutboundEmail = {
      ...base,
      id: '01a2207a-0000-7000-8000-0000000000ab',
      request: {
        ...base.request,
        attachments: [
          {
            filename: 'notes.txt',
            content: Buffer.from('hello').toString('base64'),
            content_type: 'Text/Plain; name="../../evil.exe"; charset=utf-8; filename=x.exe',
          },
        ],
      },
    };

    await send(email);

    const { json } = await fake.received(email.id);
    expect(json.Attachments?.map((a) => [a.Name, a.ContentType])).toEqual([['notes.txt', 'text/plain; charset=utf-8']]);
  });

  it('when a display name has commas, quotes and backslashes, then Postmark reads it back exactly', async () => {
    const name = 'Acme, Inc. "Billing" \\ Ops';
    const email: OutboundEmail = {
      id: '01a2207a-0000-7000-8000-0000000000aa',
      request: {
        from: { email: 'billing@example.com', name },
        to: [{ email: 'a@example.org', name: 'Doe, Jane' }],
        subject: 'Quoting',
        text: 'Body',
      },
    };

    await send(email);

    const { json } = await fake.received(email.id);
    expect(parseAddressList(json.From ?? '')).toEqual([{ email: 'billing@example.com', name }]);
    expect(parseAddressList(json.To ?? '')).toEqual([{ email: 'a@example.org', name: 'Doe, Jane' }]);
  });

  it('when an email has Bcc recipients only, then it is sent without a To', async () => {
    const email: OutboundEmail = {
      id: '01a2207a-0000-7000-8000-0000000000bb',
      request: {
        from: { email: 'sender@example.com' },
        bcc: [{ email: 'only@example.org' }],
        subject: 'Bcc',
        html: '<p>x</p>',
      },
    };

    await send(email);

    const { json } = await fake.received(email.id);
    expect(json.To).toBeUndefined();
    expect(json.Bcc).toBe('only@example.org');
  });

  it('when Postmark answers 422 ErrorCode 406 (inactive recipient), then the failure is recipient-rejected', async () => {
    fake.failNext('inactive-recipient');

    const error = await failureOf(send());

    expect(error).toMatchObject({ kind: 'recipient-rejected', code: '406', ambiguous: false });
  });

  it('when Postmark answers 422 ErrorCode 300 (invalid email request), then the failure is recipient-rejected', async () => {
    fake.failNext('invalid-request');

    const error = await failureOf(send());

    expect(error).toMatchObject({ kind: 'recipient-rejected', code: '300', ambiguous: false });
  });

  it('when the server token is wrong (401 ErrorCode 10), then the failure is provider-unavailable', async () => {
    const wrongToken = new PostmarkProvider(clientFor(fake.host, 'not-the-token'));

    const error = await failureOf(wrongToken.send(fullEmail(), AbortSignal.timeout(10_000)));

    expect(error).toMatchObject({ kind: 'provider-unavailable', code: '10', ambiguous: false });
  });

  it('when Postmark answers 422 ErrorCode 401 (sender signature not confirmed), then the failure is provider-unavailable', async () => {
    fake.failNext('sender-not-confirmed');

    const error = await failureOf(send());

    expect(error).toMatchObject({ kind: 'provider-unavailable', code: '401', ambiguous: false });
  });

  it('when Postmark answers 429 (rate limit), then the failure is transient and not ambiguous', async () => {
    fake.failNext('rate-limit');

    const error = await failureOf(send());

    expect(error).toMatchObject({ kind: 'transient', code: '429', ambiguous: false });
  });

  it('when Postmark answers 500 with a plain-text body, then the failure is transient and not ambiguous', async () => {
    fake.failNext('server-error');

    const error = await failureOf(send());

    expect(error).toMatchObject({ kind: 'transient', ambiguous: false });
    expect(error.message).toContain('HTTP 500');
  });

  it('when Postmark answers 503 (maintenance), then the failure is transient and not ambiguous', async () => {
    fake.failNext('unavailable');

    const error = await failureOf(send());

    expect(error).toMatchObject({ kind: 'transient', code: '100', ambiguous: false });
  });

  it('when Postmark hangs past the signal timeout, then the send rejects as transient and ambiguous', async () => {
    fake.failNext('hang');
    const hung = once(fake.events, 'hang');

    const [error] = await Promise.all([failureOf(send(fullEmail(), AbortSignal.timeout(300))), hung]);

    expect(error).toMatchObject({ kind: 'transient', code: 'TIMEOUT', ambiguous: true });
  });

  it("when Postmark hangs past the client's own timeout, then the send rejects as transient and ambiguous", async () => {
    const shortTimeout = providerFor(fake, { requestTimeoutSeconds: 0.3 });
    fake.failNext('hang');
    const hung = once(fake.events, 'hang');

    const [error] = await Promise.all([failureOf(shortTimeout.send(fullEmail(), AbortSignal.timeout(10_000))), hung]);

    expect(error).toMatchObject({ kind: 'transient', code: 'TIMEOUT', ambiguous: true });
  });

  it('when the connection is reset after the request was sent, then the failure is transient and ambiguous', async () => {
    fake.failNext('reset');

    const error = await failureOf(send());

    expect(error).toMatchObject({ kind: 'transient', ambiguous: true });
    expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(error.code);
  });

  it('when the signal has already aborted, then nothing is sent and the failure is transient and not ambiguous', async () => {
    const before = fake.requestCount;

    const error = await failureOf(send(fullEmail(), AbortSignal.abort()));

    expect(error).toMatchObject({ kind: 'transient', code: 'ABORTED', ambiguous: false });
    expect(fake.requestCount).toBe(before);
  });

  it('when the connection is refused, then the failure is transient and not ambiguous', async () => {
    const refused = new PostmarkProvider(clientFor(`127.0.0.1:${await closedPort()}`, 'any-token'));

    const error = await failureOf(refused.send(fullEmail(), AbortSignal.timeout(10_000)));

    expect(error).toMatchObject({ kind: 'transient', code: 'ECONNREFUSED', ambiguous: false });
  });
});
