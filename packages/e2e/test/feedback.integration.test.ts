import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_DELIVERY_LIMIT, buildTopology, type Topology } from '@mailer/contract';
import { createPool, migrate } from '@mailer/ledger';
import {
  AMQP_URL,
  createScratchDatabase,
  deleteTopology,
  freePort,
  runService,
  uniquePrefix,
  type ScratchDatabase,
  type Service,
  killServices,
} from '@mailer/testkit';
import { startSesEmulator, type SesEmulator } from '../../consumer/test/support/ses-emulator';
import { SnsSigner } from '../../producer/src/feedback/sns/testing';

const mains = {
  producer: path.resolve(__dirname, '../../producer/dist/main.js'),
  consumer: path.resolve(__dirname, '../../consumer/dist/main.js'),
};
const KEY = 'feedback-e2e-key-0123456789';
const TOPIC_ARN = 'arn:aws:sns:us-east-1:123456789012:mailer-feedback-e2e';
const BOUNCER = 'bouncing.recipient@example.org';
const READER = 'happy.reader@example.net';
const OTHER = 'another.reader@example.net';

/**
 * The time of one test: two or three emails through the built services and the SES emulator, two
 * signed events through SNS's route and the consumer's event worker (a few seconds on a loaded
 * machine), and the polls of the API that wait for each step.
 */
const BUDGET_MS = 90_000;

interface Recipient {
  readonly address: string;
  readonly status: string;
}
interface EmailView {
  readonly status: string;
  readonly provider_message_id?: string | null;
  readonly recipients: readonly Recipient[];
}

describe('delivery feedback end to end: SES through its emulator, SNS events signed in the test, the real broker and ledger', () => {
  const prefix = uniquePrefix('feedback-e2e');
  const topology: Topology = buildTopology({ prefix, retryDelaysMs: [200], deliveryLimit: DEFAULT_DELIVERY_LIMIT });
  const services: Service[] = [];
  const signer = new SnsSigner();
  let ses: SesEmulator;
  let database: ScratchDatabase;
  let certDir: string;
  let port: number;
  let consumerPort: number;

  const api = async (method: string, pathname: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const response = await fetch(`http://127.0.0.1:${port}${pathname}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };

  /** Asks for the email until `done` holds for it: each answer is an event the test waits for. */
  async function emailWhen(id: string, done: (email: EmailView) => boolean, what: string): Promise<EmailView> {
    const deadline = Date.now() + BUDGET_MS / 2;
    let last: unknown;
    while (Date.now() < deadline) {
      const { status, json } = await api('GET', `/v1/emails/${id}`);
      last = json;
      if (status === 200 && done(json as EmailView)) return json as EmailView;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`email ${id} never got ${what}; last answer: ${JSON.stringify(last)}`);
  }

  const statusOf = (email: EmailView, masked: string) => email.recipients.find((r) => r.address === masked)?.status;

  /** Posts a signed SNS message as SNS posts it (SNS resends the same message, MessageId included, on a retry). */
  async function postSigned(message: object): Promise<number> {
    const response = await fetch(`http://127.0.0.1:${port}/v1/providers/ses/events`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': 'Notification' },
      body: JSON.stringify(message),
    });
    return response.status;
  }

  /** Signs one SES event into an SNS Notification. */
  const signed = (event: object) => signer.notification(TOPIC_ARN, JSON.stringify(event), '2');

  /** The sum of a consumer counter's series whose labels include `labels`, from its `/metrics`. */
  async function consumerCount(name: string, labels: Record<string, string>): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${consumerPort}/metrics`)).text();
    return text
      .split('\n')
      .filter((line) => line.startsWith(`${name}{`))
      .filter((line) => Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  }

  /** What an event may change in the ledger: the dedupe keys, the outcomes, the list and its history. */
  async function feedbackRows(): Promise<unknown> {
    const pool = createPool({ url: database.url, max: 1 });
    try {
      const { rows } = await pool.query(
        `SELECT (SELECT count(*)::integer FROM provider_events) AS events,
          (SELECT json_agg(r ORDER BY r.email_id, r.recipient_hash) FROM recipient_outcomes AS r) AS outcomes,
          (SELECT json_agg(s ORDER BY s.recipient_hash) FROM suppressions AS s) AS suppressions,
          (SELECT count(*)::integer FROM suppression_history) AS history,
          (SELECT json_agg(e.state ORDER BY e.id) FROM emails AS e) AS states`,
      );
      return rows[0];
    } finally {
      await pool.end();
    }
  }

  beforeAll(async () => {
    for (const main of Object.values(mains)) {
      if (!existsSync(main)) throw new Error(`${main} is missing: run "pnpm run build" first (pnpm test does)`);
    }
    ses = await startSesEmulator();
    database = await createScratchDatabase('feedback_e2e');
    const pool = createPool({ url: database.url, max: 1 });
    try {
      await migrate(pool);
    } finally {
      await pool.end();
    }
    certDir = mkdtempSync(path.join(tmpdir(), 'mailer-feedback-e2e-'));
    const certUrl = new URL(signer.certUrl);
    mkdirSync(path.join(certDir, certUrl.hostname));
    writeFileSync(path.join(certDir, certUrl.hostname, certUrl.pathname.slice(1)), signer.publicKeyPem);
    port = await freePort();
    consumerPort = await freePort();
    const common = { AMQP_URL, AMQP_PREFIX: prefix, RETRY_DELAYS: '200ms', LEDGER: 'on', DATABASE_URL: database.url };
    const producer = runService(mains.producer, {
      ...common,
      PORT: String(port),
      API_KEYS: JSON.stringify([
        { name: 'feedback', key_sha256: createHash('sha256').update(KEY).digest('hex'), senders: ['example.com'] },
      ]),
      SNS_TOPIC_ARNS: TOPIC_ARN,
      SNS_CERT_DIR: certDir,
    });
    const consumer = runService(mains.consumer, {
      ...common,
      HTTP_PORT: String(consumerPort),
      PROVIDERS: 'ses',
      SES_REGION: 'us-east-1',
      SES_ENDPOINT: ses.endpoint,
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'local-secret',
    });
    services.push(producer, consumer);
    await producer.logged((line) => line['message'] === 'broker connected');
    await consumer.logged((line) => line['message'] === 'consuming');
  });

  afterAll(async () => {
    await killServices(services);
    await ses.close();
    await database.drop();
    await deleteTopology(topology);
    rmSync(certDir, { recursive: true, force: true });
  });

  it(
    'when SES reports a bounce for one recipient and a delivery for the other, then the status shows both, a replay of the bounce changes nothing, the bounced address is suppressed, and the next email to it is not sent to it',
    async () => {
      const first = await api('POST', '/v1/emails', {
        from: { email: 'receipts@example.com' },
        to: [{ email: BOUNCER }, { email: READER }],
        subject: 'Your receipt',
        text: 'Thank you',
      });
      expect(first.status).toBe(202);
      const { id } = first.json as { id: string };
      const received = await ses.received(id, BUDGET_MS / 3);
      expect([...received.destinations].sort()).toEqual([BOUNCER, READER].sort());
      const sent = await emailWhen(id, (email) => typeof email.provider_message_id === 'string', 'its SES message id');
      const sesMessageId = sent.provider_message_id as string;
      expect(sesMessageId).toBe(received.messageId);

      const mail = { timestamp: new Date().toISOString(), messageId: sesMessageId, destination: [BOUNCER, READER] };
      const bounce = signed({
        eventType: 'Bounce',
        mail,
        bounce: {
          bounceType: 'Permanent',
          bounceSubType: 'General',
          bouncedRecipients: [
            {
              emailAddress: BOUNCER,
              action: 'failed',
              status: '5.1.1',
              diagnosticCode: `smtp; 550 5.1.1 <${BOUNCER}>: user unknown`,
            },
          ],
          timestamp: new Date().toISOString(),
          feedbackId: 'feedback-e2e-bounce',
        },
      });
      expect(await postSigned(bounce)).toBe(200);
      expect(
        await postSigned(
          signed({
            eventType: 'Delivery',
            mail,
            delivery: { timestamp: new Date().toISOString(), recipients: [READER], smtpResponse: '250 2.0.0 OK' },
          }),
        ),
      ).toBe(200);

      const settled = await emailWhen(
        id,
        (email) =>
          statusOf(email, 'b***@example.org') === 'bounced' && statusOf(email, 'h***@example.net') === 'delivered',
        'one bounced and one delivered recipient',
      );
      expect(settled.status).toBe('bounced');
      expect(JSON.stringify(settled)).not.toContain(BOUNCER);

      // SNS resends the same message (same MessageId) when it misses our answer: queued again, applied once.
      const before = await feedbackRows();
      const duplicates = await consumerCount('mailer_provider_events_applied_total', {
        provider: 'ses',
        result: 'duplicate',
      });
      expect(await postSigned(bounce)).toBe(200);
      const deadline = Date.now() + BUDGET_MS / 3;
      while (
        (await consumerCount('mailer_provider_events_applied_total', { provider: 'ses', result: 'duplicate' })) ===
        duplicates
      ) {
        if (Date.now() > deadline) throw new Error('the replayed SNS message was never settled as a duplicate');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(await feedbackRows()).toEqual(before);

      // The bounced address is suppressed: the next email to it alone is recorded and never queued.
      const sesRequestsBefore = ses.requestCount;
      const alone = await api('POST', '/v1/emails', {
        from: { email: 'receipts@example.com' },
        to: [{ email: BOUNCER }],
        subject: 'Another receipt',
        text: 'Thank you again',
      });
      expect(alone.status).toBe(202);
      expect(alone.json).toMatchObject({ status: 'suppressed', suppressed: ['b***@example.org'] });
      const aloneId = (alone.json as { id: string }).id;
      expect((await api('GET', `/v1/emails/${aloneId}`)).json).toMatchObject({ status: 'suppressed' });

      // With another recipient beside it, only that one gets the email.
      const mixed = await api('POST', '/v1/emails', {
        from: { email: 'receipts@example.com' },
        to: [{ email: BOUNCER }, { email: OTHER }],
        subject: 'A third receipt',
        text: 'Thank you once more',
      });
      expect(mixed.status).toBe(202);
      expect(mixed.json).toMatchObject({ status: 'queued', suppressed: ['b***@example.org'] });
      const mixedReceived = await ses.received((mixed.json as { id: string }).id, BUDGET_MS / 3);
      expect(mixedReceived.destinations).toEqual([OTHER]);
      expect(mixedReceived.raw.toString('utf8')).not.toContain(BOUNCER);
      // One SES send for the mixed email, none for the email to the suppressed address alone.
      expect(ses.has(aloneId)).toBe(false);
      expect(ses.requestCount).toBeGreaterThan(sesRequestsBefore);
    },
    BUDGET_MS,
  );
});
