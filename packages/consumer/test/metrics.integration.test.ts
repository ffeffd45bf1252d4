import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodeEnvelope, type EmailEnvelope, type EmailRequest } from '@mailer/contract';
import { sampleValue } from '@mailer/testkit';
import type { WorkerSettlement } from '../src/amqp/delivery-worker';
import { ConsumerMetrics } from '../src/metrics/consumer-metrics';
import { ConsumerHttpPort, consumerReadiness } from '../src/metrics/http-port';
import { CaptureProvider } from '../src/providers/capture/send';
import { SmtpProvider, createSmtpTransport } from '../src/providers/smtp/send';
import { acceptedOf, envelopeOf, startTestConsumer, testLedger, type TestConsumer } from './support/consumer';
import { TestSmtpServer } from './support/smtp-server';

const email = (subject: string, to = 'jane@example.org'): EmailRequest => ({
  from: { email: 'sender@example.com' },
  to: [{ email: to }],
  subject,
  text: 'Hello',
});

/** A consumer with its metrics served on a port of its own, as main.ts wires them. */
interface Served {
  readonly consumer: TestConsumer;
  readonly port: ConsumerHttpPort;
  readonly url: string;
}

async function serve(consumer: TestConsumer, metrics: ConsumerMetrics): Promise<Served> {
  const port = new ConsumerHttpPort(metrics.registry, () =>
    consumerReadiness({ broker: consumer.broker, worker: consumer.worker }),
  );
  const number = await port.listen(0, '127.0.0.1');
  return { consumer, port, url: `http://127.0.0.1:${number}` };
}

async function scrape(served: Served): Promise<string> {
  const response = await fetch(`${served.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return response.text();
}

/** The next settlement of email `id`. */
function nextSettlementOf(consumer: TestConsumer, id: string): Promise<WorkerSettlement> {
  return new Promise<WorkerSettlement>((resolve) => {
    const listener = (settlement: WorkerSettlement): void => {
      if (settlement.id !== id) return;
      consumer.worker.off('settled', listener);
      resolve(settlement);
    };
    consumer.worker.on('settled', listener);
  });
}

/** Publishes the envelope (recorded as accepted first) and resolves with the settlement of its id. */
async function deliver(consumer: TestConsumer, envelope: EmailEnvelope): Promise<WorkerSettlement> {
  const settled = nextSettlementOf(consumer, envelope.id);
  await consumer.ledger?.recordAccepted([acceptedOf(envelope)]);
  await consumer.publishRaw(encodeEnvelope(envelope), envelope.id);
  return settled;
}

/** Reads `name{labels}` from the served /metrics around `act`; resolves with the change. */
async function delta(
  served: Served,
  series: readonly (readonly [string, Record<string, string>])[],
  act: () => Promise<unknown>,
): Promise<number[]> {
  const before = await scrape(served);
  await act();
  const after = await scrape(served);
  return series.map(([name, labels]) => sampleValue(after, name, labels) - sampleValue(before, name, labels));
}

describe('consumer metrics on the real broker, real SMTP and the ledger', () => {
  let smtp: TestSmtpServer;
  let directory: string;
  /** SMTP first, capture second: for sends and failovers. */
  let failover: Served;
  /** SMTP alone, in-doubt tries parked: for retries, parks and in-doubt sends. */
  let single: Served;

  beforeAll(async () => {
    smtp = await TestSmtpServer.start();
    directory = await mkdtemp(path.join(tmpdir(), 'mailer-metrics-'));
    const smtpProvider = () =>
      new SmtpProvider(createSmtpTransport({ host: '127.0.0.1', port: smtp.port, secure: false }));
    const failoverMetrics = new ConsumerMetrics();
    failover = await serve(
      await startTestConsumer('metrics-failover', {
        providers: [smtpProvider(), new CaptureProvider(directory)],
        metrics: failoverMetrics,
      }),
      failoverMetrics,
    );
    const singleMetrics = new ConsumerMetrics();
    single = await serve(
      await startTestConsumer('metrics-single', {
        providers: [smtpProvider()],
        retryDelaysMs: [200, 400],
        maxAttempts: 3,
        inDoubt: 'park',
        metrics: singleMetrics,
      }),
      singleMetrics,
    );
  });

  afterAll(async () => {
    for (const served of [failover, single]) {
      await served.port.close();
      await served.consumer.close();
    }
    await smtp.close();
    await rm(directory, { recursive: true, force: true });
  });

  afterEach(() => smtp.reset());

  it('serves /metrics, /healthz and /readyz on its own port', async () => {
    const text = await scrape(single);
    expect(text).toContain('# TYPE mailer_consumer_emails_sent_total counter');
    expect(text).toContain('# TYPE mailer_consumer_provider_send_duration_seconds histogram');
    expect(sampleValue(text, 'mailer_consumer_circuit_state', { provider: 'smtp' })).toBe(0);
    expect(sampleValue(text, 'mailer_consumer_prefetch_limit')).toBe(10);
    expect(text).toContain('process_cpu_seconds_total');
    const health = await fetch(`${single.url}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${single.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
    const missing = await fetch(`${single.url}/nothing`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
  });

  it('a send moves emails sent, provider latency, accept-to-send and ledger latency', async () => {
    const envelope = envelopeOf(email('Sent'));
    const moved = await delta(
      failover,
      [
        ['mailer_consumer_emails_sent_total', { provider: 'smtp' }],
        ['mailer_consumer_provider_send_duration_seconds_count', { provider: 'smtp', outcome: 'sent' }],
        ['mailer_consumer_accept_to_send_seconds_count', {}],
        ['mailer_ledger_operation_duration_seconds_count', { operation: 'claim_attempt', outcome: 'ok' }],
        ['mailer_ledger_operation_duration_seconds_count', { operation: 'record_sent', outcome: 'ok' }],
      ],
      async () =>
        expect(await deliver(failover.consumer, envelope)).toMatchObject({ action: 'sent', provider: 'smtp' }),
    );
    expect(moved).toEqual([1, 1, 1, 1, 1]);
  });

  it('a failover moves failures by kind and provider, failovers from and to, and sends through the second', async () => {
    smtp.next('MAIL', { code: 451, text: '4.3.0 Try again later' });
    const envelope = envelopeOf(email('Failover'));
    const moved = await delta(
      failover,
      [
        ['mailer_consumer_send_failures_total', { provider: 'smtp', kind: 'transient' }],
        ['mailer_consumer_failovers_total', { from: 'smtp', to: 'capture' }],
        ['mailer_consumer_emails_sent_total', { provider: 'capture' }],
        ['mailer_consumer_emails_sent_total', { provider: 'smtp' }],
      ],
      async () =>
        expect(await deliver(failover.consumer, envelope)).toMatchObject({ action: 'sent', provider: 'capture' }),
    );
    expect(moved).toEqual([1, 1, 1, 0]);
  });

  it('a transient failure with no other provider moves retries by tier', async () => {
    smtp.next('MAIL', { code: 451, text: '4.3.0 Try again later' });
    const envelope = envelopeOf(email('Retry'));
    const tier = single.consumer.topology.retryTiers[0]?.routingKey ?? '';
    const moved = await delta(
      single,
      [
        ['mailer_consumer_retries_total', { tier }],
        ['mailer_consumer_send_failures_total', { provider: 'smtp', kind: 'transient' }],
        ['mailer_consumer_parked_total', {}],
      ],
      async () => expect(await deliver(single.consumer, envelope)).toMatchObject({ action: 'retry' }),
    );
    expect(moved).toEqual([1, 1, 0]);
    // Its retry is sent once the tier's delay is over, before the next test reads any figure.
    expect(await nextSettlementOf(single.consumer, envelope.id)).toMatchObject({ action: 'sent', attempts: 2 });
  });

  it('a refused recipient moves parked by reason', async () => {
    smtp.refuseRecipient('nobody@example.org', { code: 550, text: '5.1.1 No such user' });
    const envelope = envelopeOf(email('Parked', 'nobody@example.org'));
    const moved = await delta(
      single,
      [
        ['mailer_consumer_parked_total', { reason: 'recipient-rejected' }],
        ['mailer_consumer_send_failures_total', { provider: 'smtp', kind: 'recipient-rejected' }],
      ],
      async () =>
        expect(await deliver(single.consumer, envelope)).toMatchObject({
          action: 'park',
          reason: 'recipient-rejected',
        }),
    );
    expect(moved).toEqual([1, 1]);
  });

  it('a try claimed and never finished moves in-doubt sends and parks it as in-doubt', async () => {
    const envelope = envelopeOf(email('In doubt'));
    const { ledger } = await testLedger();
    const moved = await delta(
      single,
      [
        ['mailer_consumer_in_doubt_total', { policy: 'park' }],
        ['mailer_consumer_parked_total', { reason: 'in-doubt' }],
        ['mailer_consumer_emails_sent_total', {}],
      ],
      async () => {
        // A worker that died mid-send: attempt 1 claimed through smtp, never finished.
        await ledger.recordAccepted([acceptedOf(envelope)]);
        expect(await ledger.claimAttempt({ id: envelope.id, attempt: 1, provider: 'smtp' })).toMatchObject({
          outcome: 'claimed',
        });
        expect(await deliver(single.consumer, envelope)).toMatchObject({ action: 'park', reason: 'in-doubt' });
      },
    );
    expect(moved).toEqual([1, 1, 0]);
  });
});
