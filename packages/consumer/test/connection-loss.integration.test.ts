import { ServerClient, Models } from 'postmark';
import type { EmailRequest } from '@mailer/contract';
import { closeConnectionsNamed, queueDepth } from '@mailer/testkit';
import type { WorkerSettlement } from '../src/amqp/delivery-worker';
import { PostmarkProvider } from '../src/providers/postmark/send';
import type { EmailProvider } from '../src/providers/provider';
import { SmtpProvider, createSmtpTransport } from '../src/providers/smtp/send';
import { TEST_CLIENT, startTestConsumer, testLedger, until } from './support/consumer';
import { startFakePostmark } from './support/postmark-server';
import { TestSmtpServer } from './support/smtp-server';

const PREFETCH = 20;
/** The adapter's connections: the sends that are on the wire when the broker connection goes. */
const CONNECTIONS = 2;
const TOTAL = 40;

/** A slow provider as a test drives it: sends it holds at the server until released. */
interface SlowProvider {
  readonly provider: EmailProvider;
  /** Holds the next email at the server until released. */
  holdNext(): { readonly reached: Promise<void>; release(): void };
  /** How many times the server accepted the email with this id. */
  timesAccepted(id: string): number;
  close(): Promise<void>;
}

function request(i: number): EmailRequest {
  return {
    from: { email: 'sender@example.com' },
    to: [{ email: `r${i}@example.org` }],
    subject: `loss ${i}`,
    text: 'x',
  };
}

/**
 * PREFETCH messages are taken while the provider is slow: CONNECTIONS of them are on the wire
 * (held at the server), the others wait in the adapter. The broker closes the consumer's
 * connection; then the server answers. Every email arrives. With the ledger none arrives twice:
 * the sends on the wire finish and are recorded before their redeliveries claim (which find them
 * sent); without it, those that were on the wire can arrive twice.
 */
function describeConnectionLoss(name: string, start: () => Promise<SlowProvider>, ledger: 'on' | 'off' = 'on'): void {
  const title = `when the broker closes the consumer's connection while PREFETCH messages wait behind a slow ${name}, ledger ${ledger}`;
  describe(title, () => {
    it(
      ledger === 'on' ? 'then no email goes out twice' : 'then only the sends that were on the wire go out again',
      async () => {
        const slow = await start();
        const consumer = await startTestConsumer(`loss-${name}`, {
          providers: [slow.provider],
          prefetch: PREFETCH,
          // Longer than the test: no send may time out and fail over.
          providerTimeoutMs: 60_000,
          ...(ledger === 'off' ? { ledger: 'off' as const } : {}),
        });
        try {
          const settled: WorkerSettlement[] = [];
          consumer.worker.on('settled', (settlement) => settled.push(settlement));
          const holds = Array.from({ length: CONNECTIONS }, () => slow.holdNext());
          const ids = await Promise.all(Array.from({ length: TOTAL }, (_, i) => consumer.publish(request(i))));
          await Promise.all(holds.map((hold) => hold.reached));
          await until(() => consumer.worker.busy === PREFETCH, 'the consumer holds a full prefetch');

          const reconnected = new Promise<void>((resolve) => consumer.broker.once('channel', () => resolve()));
          expect(await closeConnectionsNamed(consumer.connectionName)).toBe(1);
          await reconnected;
          for (const hold of holds) hold.release();
          await until(() => ids.every((id) => slow.timesAccepted(id) > 0), 'every email arrived', 60_000);
          await until(() => consumer.worker.busy === 0, 'the consumer is idle', 60_000);

          const duplicates = ids.reduce((sum, id) => sum + slow.timesAccepted(id) - 1, 0);
          const abandoned = settled.filter((s) => s.action === 'abandoned').length;
          const skipped = settled.filter((s) => s.action === 'skipped').length;
          process.stdout.write(
            `connection loss behind a slow ${name}, ledger ${ledger}: ${TOTAL} emails, PREFETCH ${PREFETCH}, ` +
              `${CONNECTIONS} on the wire, ${abandoned} abandoned in the adapter, ` +
              `${skipped} redeliveries acked unsent (already sent), ${duplicates} sent twice\n`,
          );
          if (ledger === 'on') {
            expect(duplicates).toBe(0);
            expect(skipped).toBe(CONNECTIONS);
            const { ledger: records } = await testLedger();
            const states = await Promise.all(ids.map(async (id) => (await records.getEmail(TEST_CLIENT, id))?.state));
            expect(states.every((state) => state === 'sent')).toBe(true);
          } else {
            expect(duplicates).toBeLessThanOrEqual(CONNECTIONS);
          }
          expect(abandoned).toBeGreaterThanOrEqual(PREFETCH - CONNECTIONS);
          expect(await queueDepth(consumer.topology.workQueue.name)).toBe(0);
          expect(await queueDepth(consumer.topology.deadQueue.name)).toBe(0);
        } finally {
          await consumer.close();
          await slow.close();
        }
      },
    );
  });
}

describeConnectionLoss('SMTP pool', async () => {
  const server = await TestSmtpServer.start();
  const provider = new SmtpProvider(
    createSmtpTransport({ host: '127.0.0.1', port: server.port, secure: false, maxConnections: CONNECTIONS }),
  );
  return {
    provider,
    holdNext: () => server.hold('DATA'),
    timesAccepted: (id) => server.timesAccepted(id),
    close: () => server.close(),
  };
});

describeConnectionLoss(
  'SMTP pool',
  async () => {
    const server = await TestSmtpServer.start();
    const provider = new SmtpProvider(
      createSmtpTransport({ host: '127.0.0.1', port: server.port, secure: false, maxConnections: CONNECTIONS }),
    );
    return {
      provider,
      holdNext: () => server.hold('DATA'),
      timesAccepted: (id) => server.timesAccepted(id),
      close: () => server.close(),
    };
  },
  'off',
);

describeConnectionLoss('Postmark', async () => {
  const fake = await startFakePostmark();
  const client = new ServerClient(fake.token, new Models.ClientOptions.Configuration(false, fake.host));
  return {
    provider: new PostmarkProvider(client, { maxConnections: CONNECTIONS }),
    holdNext: () => fake.holdNext(),
    timesAccepted: (id) => fake.acceptedCount(id),
    close: () => fake.close(),
  };
});
