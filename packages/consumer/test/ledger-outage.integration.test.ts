import { Ledger, createPool, migrate } from '@mailer/ledger';
import type { EmailEnvelope, EmailRequest } from '@mailer/contract';
import { queueDepth, startPrivatePostgres, type PrivatePostgres } from '@mailer/testkit';
import type { WorkerSettlement } from '../src/amqp/delivery-worker';
import { SmtpProvider, createSmtpTransport } from '../src/providers/smtp/send';
import { TEST_CLIENT, acceptedOf, envelopeOf, startTestConsumer, until, type TestConsumer } from './support/consumer';
import { TestSmtpServer } from './support/smtp-server';

const request = (subject: string): EmailRequest => ({
  from: { email: 'sender@example.com' },
  to: [{ email: 'jane@example.org' }],
  subject,
  text: 'Hi',
});

/** Resolves once a condition that needs an await holds, looking again every few milliseconds. */
async function untilAsync(condition: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('when the ledger (a private PostgreSQL) stops while the consumer works', () => {
  let postgres: PrivatePostgres;
  let pool: ReturnType<typeof createPool>;
  let ledger: Ledger;
  let smtp: TestSmtpServer;
  let consumer: TestConsumer;

  beforeAll(async () => {
    postgres = await startPrivatePostgres();
    pool = createPool({ url: postgres.url, max: 4, connectTimeoutMs: 1000 });
    await migrate(pool);
    ledger = new Ledger({ db: pool });
    smtp = await TestSmtpServer.start();
    consumer = await startTestConsumer('ledger-outage', {
      providers: [
        new SmtpProvider(createSmtpTransport({ host: '127.0.0.1', port: smtp.port, secure: false, maxConnections: 2 })),
      ],
      ledger,
      ledgerRetryMs: { initial: 50, max: 500 },
    });
  }, 120_000);

  afterAll(async () => {
    await consumer.close();
    await smtp.close();
    await pool.end();
    await postgres.remove();
  });

  it('then it takes no more messages, sends nothing unrecorded, and once it is back delivers everything once', async () => {
    const settled: WorkerSettlement[] = [];
    consumer.worker.on('settled', (s) => settled.push(s));

    // One send on the wire when the ledger goes: the provider takes it, its record waits.
    const onTheWire = envelopeOf(request('On the wire'));
    await ledger.recordAccepted([acceptedOf(onTheWire)]);
    const held = smtp.hold('DATA');
    await consumer.publishEnvelope(onTheWire);
    await held.reached;
    // Accepted (recorded as queued) before the outage, published during it.
    const during: EmailEnvelope[] = Array.from({ length: 10 }, (_, i) => envelopeOf(request(`During ${i}`)));
    await ledger.recordAccepted(during.map(acceptedOf));

    await postgres.stop('fast');
    held.release();
    await smtp.message(onTheWire.id);
    await Promise.all(during.map((envelope) => consumer.publishEnvelope(envelope)));
    // Every message is either still queued or kept unacked for the ledger; the sent one waits for its record.
    await untilAsync(
      async () =>
        consumer.worker.paused === 'ledger-unavailable' &&
        (await queueDepth(consumer.topology.workQueue.name)) + consumer.worker.waitingForLedger === during.length,
      'the consumer has stopped with every message kept or queued',
    );

    expect(during.map((envelope) => smtp.timesAccepted(envelope.id))).toEqual(during.map(() => 0));
    expect(smtp.timesAccepted(onTheWire.id)).toBe(1);
    expect(settled.filter((s) => s.id === onTheWire.id)).toEqual([]);
    process.stdout.write(
      `ledger outage: ${during.length} emails published while it was down, ` +
        `${consumer.worker.waitingForLedger} kept unacked, ${await queueDepth(consumer.topology.workQueue.name)} left queued, ` +
        `0 sent; 1 sent before the outage waiting for its record\n`,
    );

    await postgres.start();
    const all = [onTheWire, ...during];
    await until(
      () => all.every((envelope) => settled.some((s) => s.id === envelope.id && s.action === 'sent')),
      'every email was sent and acked',
      60_000,
    );

    expect(all.map((envelope) => smtp.timesAccepted(envelope.id))).toEqual(all.map(() => 1));
    const states = await Promise.all(all.map(async (e) => (await ledger.getEmail(TEST_CLIENT, e.id))?.state));
    expect(states).toEqual(all.map(() => 'sent'));
    expect(consumer.worker.paused).toBeUndefined();
    expect(await queueDepth(consumer.topology.workQueue.name)).toBe(0);
  });
});
