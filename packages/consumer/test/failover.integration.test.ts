import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Models, ServerClient } from 'postmark';
import { DeliveryHeaders, type EmailRequest } from '@mailer/contract';
import { freePort, takeMessages } from '@mailer/testkit';
import type { Settlement } from '../src/delivery/handle-email';
import { CaptureProvider } from '../src/providers/capture/send';
import { PostmarkProvider } from '../src/providers/postmark/send';
import { startTestConsumer, type TestConsumer } from './support/consumer';
import { startFakePostmark, type FakePostmark, type PostmarkFault } from './support/postmark-server';

type Settled = Settlement | { action: 'requeued'; id: string | undefined };

const email = (subject: string): EmailRequest => ({
  from: { email: 'sender@example.com' },
  to: [{ email: 'jane@example.org' }],
  subject,
  text: 'Hello',
});

function nextSettlement(consumer: TestConsumer): Promise<Settled> {
  return new Promise((resolve) => consumer.worker.once('settled', resolve));
}

describe('failover from Postmark (A) to capture (B) on the real broker', () => {
  let postmark: FakePostmark;
  let directory: string;
  let consumer: TestConsumer;

  beforeEach(async () => {
    postmark = await startFakePostmark();
    directory = await mkdtemp(path.join(tmpdir(), 'mailer-failover-'));
    const client = new ServerClient(postmark.token, new Models.ClientOptions.Configuration(false, postmark.host));
    consumer = await startTestConsumer('failover', {
      providers: [new PostmarkProvider(client), new CaptureProvider(directory)],
      providerTimeoutMs: 500,
      circuit: { failureThreshold: 3, coolDownMs: 60_000 },
    });
  });

  afterEach(async () => {
    await consumer.close();
    await postmark.close();
    await rm(directory, { recursive: true, force: true });
  });

  it.each<[string, PostmarkFault]>([
    ['answers 500', 'server-error'],
    ['answers 503', 'unavailable'],
    ['answers 429', 'rate-limit'],
    ['hangs past its timeout', 'hang'],
    ['resets the connection', 'reset'],
  ])('when A %s and B is healthy, then exactly one send happens, through B', async (_label, fault) => {
    postmark.failNext(fault);
    const settled = nextSettlement(consumer);

    const id = await consumer.publish(email(`A fails: ${fault}`));

    expect(await settled).toMatchObject({ action: 'sent', id, provider: 'capture', attempts: 1 });
    expect(postmark.requestCount).toBe(1);
    await expect(Promise.race([postmark.received(id), Promise.resolve('not accepted')])).resolves.toBe('not accepted');
    expect(existsSync(path.join(directory, `${id}.eml`))).toBe(true);
  });

  it('when A refuses the recipient, then the email is parked and B is not tried', async () => {
    postmark.failNext('inactive-recipient');
    const settled = nextSettlement(consumer);

    const id = await consumer.publish(email('Inactive recipient'));

    expect(await settled).toMatchObject({ action: 'park', id, reason: 'recipient-rejected' });
    expect(existsSync(path.join(directory, `${id}.eml`))).toBe(false);
    const [dead] = await takeMessages(consumer.topology.deadQueue.name, 1);
    expect(dead?.properties.headers).toMatchObject({
      [DeliveryHeaders.parkedReason]: 'recipient-rejected',
      [DeliveryHeaders.lastFailureKind]: 'recipient-rejected',
      [DeliveryHeaders.providersTried]: 'postmark',
    });
  });

  it('when A says it cannot send (bad token), then its circuit opens and the next email skips it', async () => {
    postmark.failNext('bad-token');
    const first = nextSettlement(consumer);
    await consumer.publish(email('Bad token'));
    expect(await first).toMatchObject({ action: 'sent', provider: 'capture' });

    const second = nextSettlement(consumer);
    const id = await consumer.publish(email('A skipped'));

    expect(await second).toMatchObject({ action: 'sent', id, provider: 'capture', attempts: 1 });
    expect(postmark.requestCount).toBe(1);
    expect(consumer.chain[0]?.circuit.state).toBe('open');
  });

  it('when A is healthy, then it sends and B is not used', async () => {
    const settled = nextSettlement(consumer);

    const id = await consumer.publish(email('A healthy'));

    expect(await settled).toMatchObject({ action: 'sent', id, provider: 'postmark', attempts: 1 });
    expect((await postmark.received(id)).json.Subject).toBe('A healthy');
    expect(existsSync(path.join(directory, `${id}.eml`))).toBe(false);
  });
});

describe('when A refuses connections (nothing listens) and B is healthy', () => {
  it('then exactly one send happens, through B', async () => {
    const directory = await mkdtemp(path.join(tmpdir(), 'mailer-refused-'));
    const closedPort = await freePort();
    const client = new ServerClient('token', new Models.ClientOptions.Configuration(false, `127.0.0.1:${closedPort}`));
    const consumer = await startTestConsumer('refused', {
      providers: [new PostmarkProvider(client), new CaptureProvider(directory)],
    });
    try {
      const settled = nextSettlement(consumer);
      const id = await consumer.publish(email('A refused'));

      expect(await settled).toMatchObject({ action: 'sent', id, provider: 'capture', attempts: 1 });
      expect(existsSync(path.join(directory, `${id}.eml`))).toBe(true);
    } finally {
      await consumer.close();
      await rm(directory, { recursive: true, force: true });
    }
  });
});
