import { once } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { connect } from 'amqplib';
import {
  DEFAULT_DELIVERY_LIMIT,
  ENVELOPE_VERSION,
  WORK_ROUTING_KEY,
  buildTopology,
  encodeEnvelope,
  type EmailEnvelope,
} from '@mailer/contract';
import {
  AMQP_URL,
  deleteTopology,
  freePort,
  queueDepth,
  runService,
  uniquePrefix,
  type Service,
  killServices,
} from '@mailer/testkit';
import { startFakePostmark, type FakePostmark } from './support/postmark-server';
import { testLedger } from './support/consumer';
import { TestSmtpServer } from './support/smtp-server';

const main = path.resolve(__dirname, '../dist/main.js');
const RETRY_DELAYS_MS = [60_000];

/** Publishes one email to the work exchange as the producer would; returns its id. */
async function publishEmail(prefix: string, subject: string): Promise<string> {
  const id = uuidv7();
  const envelope: EmailEnvelope = {
    version: ENVELOPE_VERSION,
    id,
    accepted_at: new Date().toISOString(),
    client: 'test',
    request: { from: { email: 'sender@example.com' }, to: [{ email: 'jane@example.org' }], subject, text: 'Hi' },
  };
  const model = await connect(AMQP_URL);
  try {
    const channel = await model.createConfirmChannel();
    channel.publish(`${prefix}.work`, WORK_ROUTING_KEY, encodeEnvelope(envelope), { persistent: true, messageId: id });
    await channel.waitForConfirms();
    return id;
  } finally {
    await model.close();
  }
}

describe('the consumer process, sending through Postmark', () => {
  const prefix = uniquePrefix('consumer-process');
  const topology = buildTopology({ prefix, retryDelaysMs: RETRY_DELAYS_MS, deliveryLimit: DEFAULT_DELIVERY_LIMIT });
  const services: Service[] = [];
  let postmark: FakePostmark;
  let databaseUrl: string;

  const start = (env: Record<string, string> = {}): Service => {
    const service = runService(main, {
      AMQP_URL,
      AMQP_PREFIX: prefix,
      RETRY_DELAYS: '60s',
      PROVIDERS: 'postmark',
      POSTMARK_SERVER_TOKEN: postmark.token,
      POSTMARK_API_HOST: postmark.host,
      POSTMARK_TIMEOUT: '60s',
      LOG_LEVEL: 'info',
      DATABASE_URL: databaseUrl,
      ...env,
    });
    services.push(service);
    return service;
  };

  beforeAll(async () => {
    if (!existsSync(main)) throw new Error(`${main} is missing: run "pnpm run build" first (pnpm test does)`);
    postmark = await startFakePostmark();
    databaseUrl = (await testLedger()).url;
  });

  afterEach(() => killServices(services.splice(0)));

  afterAll(async () => {
    await postmark.close();
    await deleteTopology(topology);
  });

  it('when it is killed (-9) mid-send, then the email is redelivered and sent at most once more', async () => {
    const first = start();
    await first.logged((line) => line['message'] === 'consuming');
    postmark.failNext('hang');
    const hung = once(postmark.events, 'hang');
    const id = await publishEmail(prefix, 'Killed mid-send');
    await hung;

    first.child.kill('SIGKILL');
    await first.exited;
    const requestsBefore = postmark.requestCount;
    const second = start();
    const accepted = await postmark.received(id);
    await second.logged((line) => line['message'] === 'email sent' && line['email_id'] === id);

    expect(accepted.json.Subject).toBe('Killed mid-send');
    // One send that hung when the process died (the provider may or may not have sent it) and
    // one that went through: the email went out once more at most. The ledger saw the first
    // try claimed and never finished: in doubt, resent (IN_DOUBT=resend), and marked so.
    expect(requestsBefore).toBe(1);
    expect(postmark.requestCount).toBe(2);
    const { ledger } = await testLedger();
    expect(await ledger.getEmail('test', id)).toMatchObject({
      state: 'sent',
      inDoubt: true,
      attempts: [
        expect.objectContaining({ outcome: 'in-doubt', ambiguous: true }),
        expect.objectContaining({ outcome: 'sent' }),
      ],
    });
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(await queueDepth(topology.workQueue.name)).toBe(0);
  });

  it('when SIGTERM comes during a send that outlasts the shutdown bound, then it exits 0 and the email is not lost', async () => {
    const first = start({ SHUTDOWN_TIMEOUT: '500ms' });
    await first.logged((line) => line['message'] === 'consuming');
    postmark.failNext('hang');
    const hung = once(postmark.events, 'hang');
    const id = await publishEmail(prefix, 'Outlasts shutdown');
    await hung;

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(await first.logged((line) => line['message'] === 'stopped')).toMatchObject({ unsettled: 1 });

    const second = start();
    await second.logged((line) => line['message'] === 'email sent' && line['email_id'] === id);
    expect((await postmark.received(id)).json.Subject).toBe('Outlasts shutdown');
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('when SIGTERM comes during an SMTP send that finishes within the bound, then the send completes, is acked once, and it exits 0', async () => {
    const smtp = await TestSmtpServer.start();
    try {
      const consumer = start({
        PROVIDERS: 'smtp',
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(smtp.port),
        SHUTDOWN_TIMEOUT: '20s',
      });
      await consumer.logged((line) => line['message'] === 'consuming');
      const held = smtp.hold('DATA');
      const id = await publishEmail(prefix, 'Finishes during shutdown');
      await held.reached;

      consumer.child.kill('SIGTERM');
      await consumer.logged((line) => line['message'] === 'shutting down');
      held.release();

      expect((await consumer.logged((line) => line['message'] === 'stopped'))['unsettled']).toBe(0);
      expect(await consumer.exited).toBe(0);
      expect(await consumer.logged((line) => line['message'] === 'email sent')).toMatchObject({ email_id: id });
      expect((await smtp.message(id)).recipients).toEqual(['jane@example.org']);
      expect(await queueDepth(topology.workQueue.name)).toBe(0);
    } finally {
      await smtp.close();
    }
  });

  it('when HTTP_HOST is 127.0.0.1, then its HTTP port answers there and not on another address', async () => {
    const consumer = start({ HTTP_HOST: '127.0.0.1' });
    const started = await consumer.logged((line) => line['message'] === 'consumer started');
    const port = Number(started['http_port']);

    expect(started['http_host']).toBe('127.0.0.1');
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    // All of 127/8 reaches loopback; a server on every interface answers 127.0.0.2 (http-port.test.ts).
    await expect(fetch(`http://127.0.0.2:${port}/healthz`)).rejects.toThrow();
    consumer.child.kill('SIGTERM');
    expect(await consumer.exited).toBe(0);
  });

  it('when MIGRATE_ON_START=true and PostgreSQL cannot be reached, then it says so in one error line and exits 1', async () => {
    const unreachable = new URL(databaseUrl);
    unreachable.port = String(await freePort());
    const consumer = start({ DATABASE_URL: unreachable.toString(), MIGRATE_ON_START: 'true' });

    const stopping = await consumer.logged(
      (line) =>
        line['message'] === 'stopping: MIGRATE_ON_START=true and PostgreSQL is not reachable (check DATABASE_URL)',
    );
    expect(await consumer.exited).toBe(1);
    expect(stopping['level']).toBe('error');
    expect(stopping['error']).toContain('ECONNREFUSED');
  });

  it('when several settings are wrong, then it names every problem and exits 2', async () => {
    const consumer = start({ PROVIDERS: 'ses,pigeon', PREFETCH: '0', POSTMARK_TIMEOUT: 'soon' });

    expect(await consumer.exited).toBe(2);
    const output = consumer.output();
    expect(output).toContain('PROVIDERS names unknown providers (pigeon)');
    expect(output).toContain('PREFETCH must be a whole number from 1 to 1000');
    expect(output).toContain('POSTMARK_TIMEOUT must be a duration');
  });
});
