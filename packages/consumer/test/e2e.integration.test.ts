import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_DELIVERY_LIMIT, DEFAULT_RETRY_DELAYS_MS, buildTopology } from '@mailer/contract';
import {
  AMQP_URL,
  deleteTopology,
  freePort,
  runService as run,
  uniquePrefix,
  until,
  type Service,
  killServices,
} from '@mailer/testkit';
import { parseMime } from './support/conformance';
import { testLedger } from './support/consumer';

const mains = {
  producer: path.resolve(__dirname, '../../producer/dist/main.js'),
  consumer: path.resolve(__dirname, '../dist/main.js'),
};

const KEY = 'e2e-key-0123456789';

describe('producer and consumer, as processes', () => {
  const prefix = uniquePrefix('e2e');
  const services: Service[] = [];
  let captureDir: string;

  beforeAll(async () => {
    for (const main of Object.values(mains)) {
      if (!existsSync(main)) throw new Error(`${main} is missing: run "pnpm run build" first (pnpm test does)`);
    }
    captureDir = await mkdtemp(path.join(tmpdir(), 'mailer-e2e-'));
  });

  afterAll(async () => {
    await killServices(services);
    await rm(captureDir, { recursive: true, force: true });
    await deleteTopology(
      buildTopology({ prefix, retryDelaysMs: DEFAULT_RETRY_DELAYS_MS, deliveryLimit: DEFAULT_DELIVERY_LIMIT }),
    );
  });

  it('when an email is POSTed, then the capture provider writes it as .eml with the same subject and recipients, and both stop cleanly', async () => {
    const port = await freePort();
    // Both record into the file's scratch ledger.
    const common = { AMQP_URL, AMQP_PREFIX: prefix, LOG_LEVEL: 'info', DATABASE_URL: (await testLedger()).url };
    const apiKeys = JSON.stringify([
      { name: 'e2e', key_sha256: createHash('sha256').update(KEY).digest('hex'), senders: ['example.com'] },
    ]);
    const producer = run(mains.producer, { ...common, PORT: String(port), API_KEYS: apiKeys });
    const consumer = run(mains.consumer, { ...common, CAPTURE_DIR: captureDir });
    services.push(producer, consumer);
    await producer.logged((line) => line['message'] === 'broker connected');
    await consumer.logged((line) => line['message'] === 'consuming');

    const response = await fetch(`http://127.0.0.1:${port}/v1/emails`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        from: { email: 'receipts@example.com', name: 'Receipts' },
        to: [{ email: 'ann@example.org' }, { email: 'bob@example.org' }],
        cc: [{ email: 'carol@example.org' }],
        subject: 'Your receipt #1234',
        text: 'Thanks!',
      }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };

    const captured = await consumer.logged((line) => line['message'] === 'email captured' && line['email_id'] === id);
    const mime = await parseMime(await readFile(String(captured['file'])), []);
    expect(mime.subject).toBe('Your receipt #1234');
    expect(mime.to).toEqual(['ann@example.org', 'bob@example.org']);
    expect(mime.cc).toEqual(['carol@example.org']);
    expect(mime.headers['x-mailer-email-id']).toBe(id);

    // The 202's Location shows the email sent, through the capture provider, on one try.
    const location = response.headers.get('location') ?? '';
    let status: { status?: string; provider?: string; attempts?: { outcome: string | null }[] } = {};
    await until(async () => {
      const answer = await fetch(`http://127.0.0.1:${port}${location}`, {
        headers: { authorization: `Bearer ${KEY}` },
      });
      status = (await answer.json()) as typeof status;
      return status.status === 'sent';
    }, 'GET on the Location said sent');
    expect(status.provider).toBe('capture');
    expect(status.attempts?.map((a) => a.outcome)).toEqual(['sent']);

    producer.child.kill('SIGTERM');
    consumer.child.kill('SIGTERM');
    expect(await producer.exited).toBe(0);
    expect(await consumer.exited).toBe(0);
  });
});
