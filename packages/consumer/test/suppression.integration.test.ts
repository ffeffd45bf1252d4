import { Models, ServerClient } from 'postmark';
import { RecipientHasher, type EmailRequest } from '@mailer/contract';
import { Ledger } from '@mailer/ledger';
import type { Settlement } from '../src/delivery/handle-email';
import { PostmarkProvider } from '../src/providers/postmark/send';
import type { EmailProvider } from '../src/providers/provider';
import { SmtpProvider, createSmtpTransport } from '../src/providers/smtp/send';
import {
  TEST_CLIENT,
  acceptedOf,
  envelopeOf,
  startTestConsumer,
  testLedger,
  type TestConsumer,
} from './support/consumer';
import { startFakePostmark, type FakePostmark } from './support/postmark-server';
import { TestSmtpServer } from './support/smtp-server';

/*
 * The send side of the suppression list, on the real broker and PostgreSQL, with the local Postmark
 * stand-in and a real SMTP server as the providers: recipients suppressed after intake are not
 * sent to, and recipients a provider refuses by name (Postmark's inactive recipients, SMTP 5.1.x at
 * RCPT) go on the list while the others get the email, through the same provider.
 */

type Settled = Settlement | { action: 'requeued'; id: string | undefined };

const hasher = new RecipientHasher({ current: 'suppression-test-secret-of-32-characters-or-more' });
/** Each test's own two recipients (the list is the file's ledger's, shared by the tests). */
let ANN = '';
let BOB = '';
let counter = 0;

const twoRecipients = (subject: string): EmailRequest => ({
  from: { email: 'sender@example.com' },
  to: [{ email: ANN }],
  cc: [{ email: BOB }],
  subject,
  text: 'Hello',
});

/** The settlement of the email `id`, waiting for it. */
function settlementOf(consumer: TestConsumer, id: string): Promise<Settled> {
  return new Promise((resolve) => {
    const listener = (settled: Settled): void => {
      if (settled.id !== id) return;
      consumer.worker.off('settled', listener);
      resolve(settled);
    };
    consumer.worker.on('settled', listener);
  });
}

describe('the suppression list on the send side', () => {
  let ledger: Ledger;
  let postmark: FakePostmark;
  let smtp: TestSmtpServer;
  let consumer: TestConsumer;

  /** Starts a consumer on the file's ledger (with the hasher) over these providers. */
  async function start(providers: EmailProvider[]): Promise<TestConsumer> {
    consumer = await startTestConsumer('suppression', { providers, ledger, hasher, providerTimeoutMs: 5000 });
    return consumer;
  }
  const postmarkProvider = () =>
    new PostmarkProvider(
      new ServerClient(postmark.token, new Models.ClientOptions.Configuration(false, postmark.host)),
    );
  const smtpProvider = () =>
    new SmtpProvider(createSmtpTransport({ host: '127.0.0.1', port: smtp.port, secure: false }));

  /**
   * Records the email as the producer does at intake (its recipients checked against the list
   * then), runs `between` (the time between intake and the send), publishes it and waits for its
   * settlement.
   */
  async function send(
    request: EmailRequest,
    between: () => Promise<unknown> = () => Promise.resolve(),
  ): Promise<{ id: string; settled: Settled }> {
    const envelope = envelopeOf(request);
    await ledger.recordAccepted([acceptedOf(envelope)]);
    await between();
    const settled = settlementOf(consumer, envelope.id);
    await consumer.publishEnvelope(envelope);
    return { id: envelope.id, settled: await settled };
  }

  const suppress = (...addresses: string[]) =>
    ledger.addSuppressions(
      addresses.map((address) => ({
        hashes: hasher.candidates(address),
        masked: address,
        reason: 'manual' as const,
        createdBy: 'test',
      })),
    );

  beforeAll(async () => {
    ledger = new Ledger({ db: (await testLedger()).pool, hasher });
  });

  beforeEach(async () => {
    counter += 1;
    ANN = `ann-${counter}-${process.pid}@example.org`;
    BOB = `bob-${counter}-${process.pid}@example.net`;
    postmark = await startFakePostmark();
    smtp = await TestSmtpServer.start();
  });

  afterEach(async () => {
    await consumer.close();
    await postmark.close();
    await smtp.close();
  });

  it('when Postmark answers 406 for one of two recipients, then that one is suppressed, the other gets the email through Postmark, and SMTP gets nothing', async () => {
    await start([postmarkProvider(), smtpProvider()]);
    postmark.markInactive([BOB], '406');

    const { id, settled } = await send(twoRecipients('406 for one'));

    expect(settled).toMatchObject({ action: 'sent', provider: 'postmark' });
    expect(postmark.requestCount).toBe(2);
    expect(postmark.acceptedFor(id).map((a) => a.deliveredTo)).toEqual([[ANN]]);
    expect(postmark.acceptedFor(id)[0]?.json.Metadata).toEqual({ email_id: id });
    expect(smtp.timesAccepted(id)).toBe(0);
    expect(await ledger.findSuppression(hasher.candidates(BOB))).toMatchObject({
      masked: 'b***@example.net',
      reason: 'recipient-rejected',
      note: 'postmark 406 inactive recipient',
      createdBy: 'provider',
      source: { emailId: id, provider: 'postmark' },
    });
    expect(await ledger.findSuppression(hasher.candidates(ANN))).toBeNull();
    const record = await ledger.getEmail(TEST_CLIENT, id);
    expect(record?.state).toBe('sent');
    expect(record?.recipientOutcomes.map((r) => [r.address, r.status])).toEqual([
      ['a***@example.org', 'sent'],
      ['b***@example.net', 'suppressed'],
    ]);
    expect(record?.attempts.map((a) => [a.provider, a.outcome])).toEqual([
      ['postmark', 'recipient-rejected'],
      ['postmark', 'sent'],
    ]);
  });

  it('when Postmark takes the email and names an inactive recipient in its answer, then that one is suppressed and nothing is sent again', async () => {
    await start([postmarkProvider(), smtpProvider()]);
    postmark.markInactive([BOB], 'ok');

    const { id, settled } = await send(twoRecipients('200 naming one'));

    expect(settled).toMatchObject({ action: 'sent', provider: 'postmark' });
    expect(postmark.requestCount).toBe(1);
    expect(postmark.acceptedFor(id).map((a) => a.deliveredTo)).toEqual([[ANN]]);
    expect(await ledger.findSuppression(hasher.candidates(BOB))).toMatchObject({ reason: 'recipient-rejected' });
  });

  it('when Postmark answers 406 for every recipient, then both are suppressed, nothing goes to SMTP and the email ends suppressed', async () => {
    await start([postmarkProvider(), smtpProvider()]);
    postmark.markInactive([ANN, BOB]);

    const { id, settled } = await send(twoRecipients('406 for all'));

    expect(settled).toMatchObject({ action: 'suppressed', id });
    expect(postmark.requestCount).toBe(1);
    expect(smtp.timesAccepted(id)).toBe(0);
    const record = await ledger.getEmail(TEST_CLIENT, id);
    expect(record?.state).toBe('suppressed');
    expect(record?.recipientOutcomes.map((r) => r.status)).toEqual(['suppressed', 'suppressed']);
    for (const address of [ANN, BOB]) {
      expect(await ledger.findSuppression(hasher.candidates(address))).toMatchObject({ reason: 'recipient-rejected' });
    }
  });

  it('when an SMTP server refuses one RCPT with 550 5.1.1, then that one is suppressed and the other gets the email', async () => {
    await start([smtpProvider()]);
    smtp.refuseRecipient(BOB, { code: 550, text: '5.1.1 No such user' });

    const { id, settled } = await send(twoRecipients('550 5.1.1 for one'));

    expect(settled).toMatchObject({ action: 'sent', provider: 'smtp' });
    expect((await smtp.message(id)).recipients).toEqual([ANN]);
    expect(smtp.timesAccepted(id)).toBe(1);
    expect(await ledger.findSuppression(hasher.candidates(BOB))).toMatchObject({
      reason: 'recipient-rejected',
      note: 'smtp 550 5.1.1',
      source: { emailId: id, provider: 'smtp' },
    });
  });

  it('when a recipient is suppressed after intake, then it is not sent to and the others are', async () => {
    await start([postmarkProvider(), smtpProvider()]);

    const { id, settled } = await send(twoRecipients('suppressed after intake'), () => suppress(BOB));

    expect(settled).toMatchObject({ action: 'sent', provider: 'postmark' });
    const [accepted] = postmark.acceptedFor(id);
    expect(accepted?.json.To).toBe(ANN);
    expect(accepted?.json.Cc).toBeUndefined();
    expect(postmark.requestCount).toBe(1);
    expect(smtp.timesAccepted(id)).toBe(0);
    const record = await ledger.getEmail(TEST_CLIENT, id);
    expect(record?.recipientOutcomes.map((r) => r.status)).toEqual(['sent', 'suppressed']);
  });

  it('when every recipient is suppressed after intake, then nothing is sent or claimed and the email ends suppressed', async () => {
    await start([postmarkProvider(), smtpProvider()]);

    const { id, settled } = await send(twoRecipients('all suppressed after intake'), () => suppress(ANN, BOB));

    expect(settled).toMatchObject({ action: 'suppressed', id });
    expect(postmark.requestCount).toBe(0);
    expect(smtp.timesAccepted(id)).toBe(0);
    const record = await ledger.getEmail(TEST_CLIENT, id);
    expect(record?.state).toBe('suppressed');
    expect(record?.attempts).toEqual([]);
    expect(record?.recipientOutcomes.map((r) => r.status)).toEqual(['suppressed', 'suppressed']);
  });
});
