import { once } from 'node:events';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import type { EmailRequest } from '@mailer/contract';
import { Ledger, LedgerUnavailableError, type AttemptClaim, type ClaimOutcome } from '@mailer/ledger';
import { AMQP_URL, queueDepth } from '@mailer/testkit';
import type { WorkerSettlement } from '../src/amqp/delivery-worker';
import { DeadLetters } from '@mailer/dead-letters';
import { SmtpProvider, createSmtpTransport } from '../src/providers/smtp/send';
import {
  TEST_CLIENT,
  acceptedOf,
  envelopeOf,
  startTestConsumer,
  testLedger,
  testLogger,
  type TestConsumer,
} from './support/consumer';
import { TestSmtpServer } from './support/smtp-server';

const request = (subject: string): EmailRequest => ({
  from: { email: 'sender@example.com' },
  to: [{ email: 'jane@example.org' }],
  subject,
  text: 'Hi',
});

/** Resolves with the next settlement of `id` that `match` accepts. */
function settlement(
  consumer: TestConsumer,
  id: string,
  match: (s: WorkerSettlement) => boolean = () => true,
): Promise<WorkerSettlement> {
  return new Promise((resolve) => {
    const listener = (s: WorkerSettlement) => {
      if (s.id !== id || !match(s)) return;
      consumer.worker.off('settled', listener);
      resolve(s);
    };
    consumer.worker.on('settled', listener);
  });
}

describe('the consumer with the ledger, sending through SMTP', () => {
  let smtp: TestSmtpServer;
  let consumer: TestConsumer;

  beforeAll(async () => {
    smtp = await TestSmtpServer.start();
    consumer = await startTestConsumer('ledger', {
      providers: [
        new SmtpProvider(createSmtpTransport({ host: '127.0.0.1', port: smtp.port, secure: false, maxConnections: 2 })),
      ],
      // Long enough for the test to read `retrying` before the copy comes back.
      retryDelaysMs: [1000],
      maxAttempts: 3,
    });
  });

  afterEach(() => smtp.reset());

  afterAll(async () => {
    await consumer.close();
    await smtp.close();
  });

  it('when SMTP answers 451 and then 250, then the status moves queued, retrying, sent; a late failure never moves it back', async () => {
    const { ledger } = await testLedger();
    const envelope = envelopeOf(request('Heals'));
    const { id } = envelope;
    await ledger.recordAccepted([acceptedOf(envelope)]);
    expect(await ledger.getEmail(TEST_CLIENT, id)).toMatchObject({ state: 'queued', attempt: 0 });
    smtp.next('DATA', { code: 451, text: '4.3.0 try again later' });
    const retried = settlement(consumer, id, (s) => s.action === 'retry');
    const sent = settlement(consumer, id, (s) => s.action === 'sent');

    await consumer.publishEnvelope(envelope);
    await retried;
    expect(await ledger.getEmail(TEST_CLIENT, id)).toMatchObject({ state: 'retrying', attempt: 1 });
    await sent;

    const record = await ledger.getEmail(TEST_CLIENT, id);
    expect(record).toMatchObject({ state: 'sent', attempt: 2, provider: 'smtp', inDoubt: false });
    expect(record?.providerMessageId).toEqual(expect.any(String));
    expect(record?.attempts).toEqual([
      expect.objectContaining({ attempt: 1, provider: 'smtp', outcome: 'transient', ambiguous: false }),
      expect.objectContaining({ attempt: 2, provider: 'smtp', outcome: 'sent' }),
    ]);
    // A report of attempt 1 arriving late (another consumer, a slow write) is kept in the history
    // but leaves the state where it is.
    await expect(
      ledger.recordFailure({
        id,
        attempt: 1,
        provider: 'smtp',
        kind: 'transient',
        error: 'late report',
        ambiguous: false,
        next: 'retrying',
      }),
    ).resolves.toBe('stale');
    expect(await ledger.getEmail(TEST_CLIENT, id)).toMatchObject({ state: 'sent', attempt: 2 });
    expect(smtp.timesAccepted(id)).toBe(1);
  });

  it('when SMTP refuses with 554, then it is parked in the ledger; a redelivered original is superseded; the replay sends it once as attempt 2', async () => {
    const { ledger } = await testLedger();
    const envelope = envelopeOf(request('Refused, then replayed'));
    const { id } = envelope;
    await ledger.recordAccepted([acceptedOf(envelope)]);
    smtp.next('DATA', { code: 554, text: '5.6.0 content refused' });
    const parked = settlement(consumer, id);

    await consumer.publishEnvelope(envelope);
    expect(await parked).toMatchObject({ action: 'park', reason: 'recipient-rejected' });
    expect(await ledger.getEmail(TEST_CLIENT, id)).toMatchObject({
      state: 'parked',
      attempt: 1,
      attempts: [expect.objectContaining({ attempt: 1, outcome: 'recipient-rejected' })],
    });

    // The original of attempt 1 delivered again (its ack was lost): the park copy exists, so it is not sent.
    const superseded = settlement(consumer, id);
    await consumer.publishEnvelope(envelope);
    expect(await superseded).toEqual({ action: 'skipped', id, reason: 'superseded' });
    expect(smtp.timesAccepted(id)).toBe(0);

    const operator = new BrokerConnection({
      url: AMQP_URL,
      topology: consumer.topology,
      logger: testLogger,
      connectionName: `test-replay-${consumer.prefix}`,
    });
    const publisher = new ConfirmPublisher(operator, { timeoutMs: 5000, maxInflight: 1, logger: testLogger });
    const ready = once(operator, 'channel');
    await operator.start();
    const [channel] = await ready;
    const sent = settlement(consumer, id);
    try {
      const result = await new DeadLetters(channel, consumer.topology).replay(
        publisher,
        { limit: 1 },
        { ledgerAttempt: (client, emailId) => ledger.attemptOf(client, emailId) },
      );
      expect(result).toEqual({ replayed: [id], skipped: 0, kept: 0 });
    } finally {
      await operator.close();
    }

    expect(await sent).toMatchObject({ action: 'sent', attempts: 1, record: { attempt: 2 } });
    expect(await ledger.getEmail(TEST_CLIENT, id)).toMatchObject({ state: 'sent', attempt: 2 });
    expect(smtp.timesAccepted(id)).toBe(1);
    expect(await queueDepth(consumer.topology.deadQueue.name)).toBe(0);
  });

  it('when a sent email is delivered again, then it is acked without sending', async () => {
    const { ledger } = await testLedger();
    const envelope = envelopeOf(request('Delivered twice'));
    await ledger.recordAccepted([acceptedOf(envelope)]);
    const sent = settlement(consumer, envelope.id);
    await consumer.publishEnvelope(envelope);
    expect(await sent).toMatchObject({ action: 'sent' });

    const again = settlement(consumer, envelope.id);
    await consumer.publishEnvelope(envelope);

    expect(await again).toEqual({ action: 'skipped', id: envelope.id, reason: 'already-sent' });
    expect(smtp.timesAccepted(envelope.id)).toBe(1);
  });

  it('when the producer never recorded the email, then the consumer records it from the envelope and sends it', async () => {
    const { ledger } = await testLedger();
    const envelope = envelopeOf(request('Published before the ledger'));
    const sent = settlement(consumer, envelope.id);

    await consumer.publishEnvelope(envelope);

    expect(await sent).toMatchObject({ action: 'sent' });
    expect(await ledger.getEmail(TEST_CLIENT, envelope.id)).toMatchObject({
      state: 'sent',
      attempt: 1,
      recipientCount: 1,
      recipients: ['j***@example.org'],
    });
    expect(smtp.timesAccepted(envelope.id)).toBe(1);
  });
});

/**
 * A ledger whose first claim commits and whose answer is then lost, as when PostgreSQL goes away
 * between the commit and the answer: the caller gets `ledger-unavailable`.
 */
class LedgerLosingFirstClaim extends Ledger {
  lost = 0;

  override async claimAttempt(claim: AttemptClaim): Promise<ClaimOutcome> {
    const answer = await super.claimAttempt(claim);
    if (this.lost > 0) return answer;
    this.lost += 1;
    throw new LedgerUnavailableError('the claim committed and its answer was lost');
  }
}

describe('the consumer with the ledger, when a claim commits and its answer is lost', () => {
  let smtp: TestSmtpServer;
  let consumer: TestConsumer;
  let ledger: LedgerLosingFirstClaim;

  beforeAll(async () => {
    smtp = await TestSmtpServer.start();
    ledger = new LedgerLosingFirstClaim({ db: (await testLedger()).pool });
    consumer = await startTestConsumer('claim-lost', {
      providers: [new SmtpProvider(createSmtpTransport({ host: '127.0.0.1', port: smtp.port, secure: false }))],
      ledger,
      ledgerRetryMs: { initial: 20, max: 100 },
    });
  });

  afterAll(async () => {
    await consumer.close();
    await smtp.close();
  });

  it('then the email is claimed again with its token and sent once, not in doubt', async () => {
    const envelope = envelopeOf(request('Claim answer lost'));
    await ledger.recordAccepted([acceptedOf(envelope)]);
    const sent = settlement(consumer, envelope.id);

    await consumer.publishEnvelope(envelope);

    // The message was kept for the ledger, then handled again: one settlement, sent.
    expect(await sent).toMatchObject({ action: 'sent' });
    expect(ledger.lost).toBe(1);
    expect(smtp.timesAccepted(envelope.id)).toBe(1);
    const email = await ledger.getEmail(TEST_CLIENT, envelope.id);
    expect(email).toMatchObject({ state: 'sent', inDoubt: false });
    expect(email?.attempts.map((a) => [a.outcome, a.ambiguous])).toEqual([['sent', false]]);
  });
});
