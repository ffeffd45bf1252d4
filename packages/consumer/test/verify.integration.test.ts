import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Models, ServerClient } from 'postmark';
import { DEFAULT_DELIVERY_LIMIT, buildTopology } from '@mailer/contract';
import { AMQP_URL, deleteTopology, runService, uniquePrefix } from '@mailer/testkit';
import { CaptureProvider } from '../src/providers/capture/send';
import { ProviderChecks } from '../src/providers/checks';
import { PostmarkProvider } from '../src/providers/postmark/send';
import { ProviderError, type EmailProvider } from '../src/providers/provider';
import { SesProvider, createSesClient } from '../src/providers/ses/send';
import { SmtpProvider, createSmtpTransport } from '../src/providers/smtp/send';
import { startFakePostmark, type FakePostmark } from './support/postmark-server';
import { refusedEndpoint, sesError, startSesEmulator, type SesEmulator } from './support/ses-emulator';
import { TestSmtpServer } from './support/smtp-server';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'local-secret' };

const sesAt = (endpoint: string): SesProvider =>
  new SesProvider(createSesClient({ region: 'us-east-1', endpoint, credentials, requestTimeoutMs: 10_000 }));

const postmarkAt = (host: string, token: string): PostmarkProvider =>
  new PostmarkProvider(new ServerClient(token, new Models.ClientOptions.Configuration(false, host)));

const smtpAt = (port: number, auth?: { user: string; pass: string }): SmtpProvider =>
  new SmtpProvider(createSmtpTransport({ host: '127.0.0.1', port, secure: false, auth }));

/** A loopback port where nothing listens (one just freed). */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** What `verify` rejected with (fails the test if it resolved or rejected with anything but a ProviderError). */
async function refusal(provider: EmailProvider): Promise<ProviderError> {
  const error: unknown = await provider.verify!(AbortSignal.timeout(20_000)).then(
    () => new Error('expected verify to fail'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe('verify, SES through aws-ses-v2-local', () => {
  let emulator: SesEmulator;
  let provider: SesProvider;

  beforeAll(async () => {
    emulator = await startSesEmulator();
    provider = sesAt(emulator.endpoint);
  });
  afterAll(async () => {
    await provider.close();
    await emulator.close();
  });

  it('when SES answers GetSendQuota, then verify resolves after one request', async () => {
    const before = emulator.requestCount;

    await provider.verify(AbortSignal.timeout(20_000));

    expect(emulator.requestCount - before).toBe(1);
  });

  it('when SES does not know the access key, then verify fails as provider-unavailable', async () => {
    emulator.failNext(sesError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403));

    expect(await refusal(provider)).toMatchObject({ kind: 'provider-unavailable', code: 'InvalidClientTokenId' });
  });

  it('when the credentials may send but not read the quota (AccessDenied), then verify resolves: SES took them', async () => {
    emulator.failNext(sesError('AccessDenied', 'User is not authorized to perform ses:GetSendQuota', 403));
    const before = emulator.requestCount;

    await provider.verify(AbortSignal.timeout(20_000));

    // The one request was answered with the scripted AccessDenied.
    expect(emulator.requestCount - before).toBe(1);
  });

  it('when nothing listens at the endpoint, then verify fails as transient with ECONNREFUSED', async () => {
    const unreachable = sesAt(await refusedEndpoint());
    try {
      expect(await refusal(unreachable)).toMatchObject({ kind: 'transient', code: 'ECONNREFUSED' });
    } finally {
      await unreachable.close();
    }
  });
});

describe('verify, Postmark through its stand-in', () => {
  let fake: FakePostmark;

  beforeAll(async () => {
    fake = await startFakePostmark();
  });
  afterAll(() => fake.close());

  it('when the server token is known, then verify resolves with one GET /server and no email sent', async () => {
    const before = fake.serverChecks;

    await postmarkAt(fake.host, fake.token).verify(AbortSignal.timeout(20_000));

    expect(fake.serverChecks - before).toBe(1);
    expect(fake.requestCount).toBe(0);
  });

  it('when the server token is not known, then verify fails as provider-unavailable with ErrorCode 10', async () => {
    expect(await refusal(postmarkAt(fake.host, 'not-the-token'))).toMatchObject({
      kind: 'provider-unavailable',
      code: '10',
    });
  });

  it('when nothing listens, then verify fails as transient, not ambiguous', async () => {
    expect(await refusal(postmarkAt(`127.0.0.1:${await closedPort()}`, fake.token))).toMatchObject({
      kind: 'transient',
      code: 'ECONNREFUSED',
      ambiguous: false,
    });
  });
});

describe('verify, SMTP through smtp-server', () => {
  let server: TestSmtpServer;

  beforeAll(async () => {
    server = await TestSmtpServer.start();
  });
  afterAll(() => server.close());

  it('when the server greets and takes the credentials, then verify resolves on a connection of its own', async () => {
    const provider = smtpAt(server.port, { user: 'mailer', pass: 'secret' });
    const opened = server.connectionsOpened;
    try {
      await provider.verify(AbortSignal.timeout(20_000));

      expect(server.connectionsOpened - opened).toBe(1);
    } finally {
      await provider.close();
    }
  });

  it('when the server refuses the credentials (535), then verify fails as provider-unavailable', async () => {
    const provider = smtpAt(server.port, { user: 'mailer', pass: 'wrong' });
    server.next('AUTH', { code: 535, text: '5.7.8 Authentication credentials invalid' });
    try {
      expect(await refusal(provider)).toMatchObject({ kind: 'provider-unavailable' });
    } finally {
      await provider.close();
    }
  });

  it('when nothing listens, then verify fails as transient', async () => {
    const provider = smtpAt(await closedPort());
    try {
      expect(await refusal(provider)).toMatchObject({ kind: 'transient', ambiguous: false });
    } finally {
      await provider.close();
    }
  });
});

describe('verify, capture', () => {
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(path.join(tmpdir(), 'mailer-verify-'));
  });
  afterAll(() => rm(directory, { recursive: true, force: true }));

  it('when the folder can be written (made if missing), then verify resolves and leaves nothing in it', async () => {
    const folder = path.join(directory, 'captures');

    await new CaptureProvider(folder).verify(AbortSignal.timeout(20_000));

    expect(await readdir(folder)).toEqual([]);
  });

  it('when a file stands where the folder should be, then verify fails as provider-unavailable', async () => {
    const blocked = path.join(directory, 'a-file');
    await writeFile(blocked, 'not a folder');

    expect(await refusal(new CaptureProvider(blocked))).toMatchObject({ kind: 'provider-unavailable' });
  });
});

describe('ProviderChecks over the real adapters', () => {
  let fake: FakePostmark;
  let server: TestSmtpServer;

  beforeAll(async () => {
    fake = await startFakePostmark();
    server = await TestSmtpServer.start();
  });
  afterAll(async () => {
    await fake.close();
    await server.close();
  });

  it('when /readyz is asked 50 times within the interval, then Postmark gets one GET /server, and the answer comes from it', async () => {
    const postmark = postmarkAt(fake.host, fake.token);
    const checks = new ProviderChecks([{ provider: postmark, timeoutMs: 10_000 }]);
    const before = fake.serverChecks;

    const answers = Array.from({ length: 50 }, () => checks.readiness());
    expect(await checks.run()).toEqual([{ provider: 'postmark', state: 'answered' }]);
    answers.push(checks.readiness());

    expect(fake.serverChecks - before).toBe(1);
    expect(answers.every((answer) => answer.ready)).toBe(true);
  });

  it('when every provider fails its check, then readiness says which, and one that answers makes it ready again', async () => {
    const smtp = smtpAt(server.port, { user: 'mailer', pass: 'wrong' });
    server.next('AUTH', { code: 535, text: '5.7.8 Authentication credentials invalid' });
    const checks = new ProviderChecks(
      [
        { provider: postmarkAt(fake.host, 'not-the-token'), timeoutMs: 10_000 },
        { provider: smtp, timeoutMs: 10_000 },
      ],
      // A clock that stands still: no probe starts a run of its own, the test starts each one.
      { now: () => 0 },
    );
    try {
      const results = await checks.run();
      expect(results.map(({ provider, state }) => ({ provider, state }))).toEqual([
        { provider: 'postmark', state: 'failed' },
        { provider: 'smtp', state: 'failed' },
      ]);
      expect(checks.readiness()).toEqual({ ready: false, reason: 'no provider answered its check (postmark, smtp)' });

      // The SMTP server takes the credentials again (its refusal was for one AUTH): the next run finds it.
      expect((await checks.run()).map(({ state }) => state)).toEqual(['failed', 'answered']);
      expect(checks.readiness()).toEqual({ ready: true });
    } finally {
      checks.stop();
      await smtp.close();
    }
  });
});

describe('the consumer process, checking its providers', () => {
  const main = path.resolve(__dirname, '../dist/main.js');
  const prefix = uniquePrefix('consumer-verify');
  let fake: FakePostmark;

  beforeAll(async () => {
    fake = await startFakePostmark();
  });
  afterAll(async () => {
    await fake.close();
    await deleteTopology(buildTopology({ prefix, retryDelaysMs: [60_000], deliveryLimit: DEFAULT_DELIVERY_LIMIT }));
  });

  it('when it starts with Postmark up and SMTP down, then it logs which answered, and 20 probes of /readyz cost Postmark one GET /server', async () => {
    const consumer = runService(main, {
      AMQP_URL,
      AMQP_PREFIX: prefix,
      RETRY_DELAYS: '60s',
      LEDGER: 'off',
      PROVIDERS: 'postmark,smtp',
      POSTMARK_SERVER_TOKEN: fake.token,
      POSTMARK_API_HOST: fake.host,
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(await closedPort()),
      LOG_LEVEL: 'info',
    });
    try {
      const checked = await consumer.logged((line) => line['message'] === 'providers checked');
      expect(checked).toMatchObject({ answered: ['postmark'], failed: ['smtp'], unchecked: [] });
      const warned = await consumer.logged((line) => line['message'] === 'provider did not pass its check');
      expect(warned).toMatchObject({ provider: 'smtp', error: expect.stringContaining('ECONNREFUSED') });
      const started = await consumer.logged((line) => line['message'] === 'consumer started');
      await consumer.logged((line) => line['message'] === 'consuming');
      const checksAtStart = fake.serverChecks;

      const statuses: number[] = [];
      for (let probe = 0; probe < 20; probe += 1) {
        statuses.push((await fetch(`http://127.0.0.1:${String(started['http_port'])}/readyz`)).status);
      }

      expect(checksAtStart).toBe(1);
      expect(statuses.every((status) => status === 200)).toBe(true);
      expect(fake.serverChecks).toBe(1);
    } finally {
      consumer.child.kill('SIGTERM');
      await consumer.exited;
    }
  });
});
