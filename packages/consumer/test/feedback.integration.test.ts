import { randomUUID } from 'node:crypto';
import { connect } from 'amqplib';
import {
  PROVIDER_EVENT_MESSAGE_TYPE,
  PROVIDER_EVENT_ROUTING_KEY,
  ProviderEventHeaders,
  RecipientHasher,
  buildTopology,
  encodeProviderEvent,
  type ProviderEventMessage,
  type Topology,
} from '@mailer/contract';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import { Ledger } from '@mailer/ledger';
import { AMQP_URL, deleteTopology, queueDepth, takeMessages, uniquePrefix } from '@mailer/testkit';
import { EventWorker, type EventSettlement } from '../src/feedback/event-worker';
import { handleProviderEvent } from '../src/feedback/handle-event';
import { ConsumerMetrics } from '../src/metrics/consumer-metrics';
import { TEST_CLIENT, testLedger, testLogger, until } from './support/consumer';

/*
 * The event worker on the real broker and a real PostgreSQL (the file's scratch ledger), on a
 * topology of its own whose delay queue holds events 300 ms instead of 60 s. Events are published
 * as the producer publishes them (`encodeProviderEvent`, confirmed).
 */

const hasher = new RecipientHasher({ current: 'feedback-test-secret-0123456789abcdefghij' });
const RETRY_DELAY_MS = 300;

// Local parts no masked form keeps: the privacy check looks for each followed by '@'.
const ANN = 'annabel.quartermaine@example.com';
const BOB = 'bartholomew.fitzgerald@example.org';
const CAT = 'catriona.vandersloot@example.net';
const DAN = 'dashiell.oyelaran@example.com';
const EVE = 'evangeline.thistlewood@example.org';
const ADDRESSES = [ANN, BOB, CAT, DAN, EVE];

let topology: Topology;
let ledger: Ledger;
let broker: BrokerConnection;
let worker: EventWorker;
let metrics: ConsumerMetrics;
const settled: EventSettlement[] = [];

beforeAll(async () => {
  const { pool } = await testLedger();
  ledger = new Ledger({ db: pool, hasher });
  topology = buildTopology({
    prefix: uniquePrefix('feedback'),
    retryDelaysMs: [200],
    deliveryLimit: 3,
    providerEventRetryDelayMs: RETRY_DELAY_MS,
  });
  broker = new BrokerConnection({
    url: AMQP_URL,
    topology,
    logger: testLogger,
    connectionName: `test-events-${topology.providerEventsQueue.name}`,
    reconnectDelayMs: { initial: 50, max: 500 },
  });
  worker = new EventWorker({
    broker,
    publisher: new ConfirmPublisher(broker, { timeoutMs: 5000, maxInflight: 100, logger: testLogger }),
    topology,
    prefetch: 10,
    logger: testLogger,
    ledger,
    // Enough tries for the test that records its email late; the last try's park is unit-tested.
    handle: (event) => handleProviderEvent({ ledger, hasher, maxTries: 100 }, event),
  });
  metrics = new ConsumerMetrics();
  metrics.watchEvents(worker);
  worker.on('settled', (settlement) => settled.push(settlement));
  worker.start();
  await broker.start();
}, 60_000);

afterAll(async () => {
  await worker.stop(5000);
  await broker.close();
  await deleteTopology(topology);
});

/** Publishes raw bodies to the provider-events exchange as the producer does, confirmed. */
async function publishRaw(bodies: readonly Buffer[]): Promise<void> {
  const model = await connect(AMQP_URL);
  try {
    const channel = await model.createConfirmChannel();
    for (const body of bodies) {
      channel.publish(topology.providerEventsExchange.name, PROVIDER_EVENT_ROUTING_KEY, body, {
        persistent: true,
        mandatory: true,
        messageId: randomUUID(),
        contentType: 'application/json',
        type: PROVIDER_EVENT_MESSAGE_TYPE,
        appId: 'mailer-producer',
      });
    }
    await channel.waitForConfirms();
    await channel.close();
  } finally {
    await model.close();
  }
}

function postmarkEvent(record: Record<string, unknown>): Buffer {
  return encodeProviderEvent({
    version: 1,
    provider: 'postmark',
    received_at: new Date().toISOString(),
    body: JSON.stringify(record),
  } satisfies ProviderEventMessage);
}

function sesEvent(snsMessageId: string, event: Record<string, unknown>): Buffer {
  return encodeProviderEvent({
    version: 1,
    provider: 'ses',
    received_at: new Date().toISOString(),
    event_key: snsMessageId,
    body: JSON.stringify(event),
  });
}

/** Resolves with the first settlement `matches` accepts among those seen so far or to come. */
async function settlement(matches: (s: EventSettlement) => boolean, what: string): Promise<EventSettlement> {
  await until(() => settled.some(matches), what, 30_000);
  return settled.find(matches) as EventSettlement;
}

const keyOf = (s: EventSettlement) => ('facts' in s ? s.facts.eventKey : undefined);

/** Records an email and its send through `provider`, as the producer and the delivery worker do. */
async function sentEmail(recipients: readonly string[], provider: string): Promise<{ id: string; messageId: string }> {
  const id = randomUUID();
  await ledger.recordAccepted([{ id, client: TEST_CLIENT, acceptedAt: new Date(), recipients }]);
  expect(await ledger.claimAttempt({ id, attempt: 1, provider })).toEqual({ outcome: 'claimed' });
  const messageId = `${provider}-${randomUUID()}`;
  expect(await ledger.recordSent({ id, attempt: 1, provider, providerMessageId: messageId })).toBe('advanced');
  return { id, messageId };
}

async function recipientsOf(id: string): Promise<{ address: string; status: string }[]> {
  const email = await ledger.getEmail(TEST_CLIENT, id);
  return (email?.recipientOutcomes ?? []).map(({ address, status }) => ({ address, status }));
}

/** Rows of the feedback tables: what must not change when an event is refused or repeated. */
async function feedbackRows(): Promise<Record<string, unknown>> {
  const { pool } = await testLedger();
  const { rows } = await pool.query<Record<string, unknown>>(
    `SELECT (SELECT count(*)::integer FROM provider_events) AS events,
      (SELECT json_agg(r ORDER BY r.email_id, r.recipient_hash) FROM recipient_outcomes AS r) AS outcomes,
      (SELECT json_agg(s ORDER BY s.recipient_hash) FROM suppressions AS s) AS suppressions,
      (SELECT count(*)::integer FROM suppression_history) AS history,
      (SELECT json_agg(e.state ORDER BY e.id) FROM emails AS e) AS states`,
  );
  return rows[0] ?? {};
}

async function counted(labels: Record<string, string>): Promise<number> {
  const [metric] = (await metrics.registry.getMetricsAsJSON()).filter(
    (m) => m.name === 'mailer_provider_events_applied_total',
  );
  const values = (metric?.values ?? []) as { labels: Record<string, unknown>; value: number }[];
  return values
    .filter((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value))
    .reduce((sum, v) => sum + v.value, 0);
}

function postmarkHardBounce(id: string, messageId: string, bounceId: number): Record<string, unknown> {
  return {
    RecordType: 'Bounce',
    MessageStream: 'outbound',
    ID: bounceId,
    Type: 'HardBounce',
    TypeCode: 1,
    Name: 'Hard bounce',
    MessageID: messageId,
    Metadata: { email_id: id },
    Description: 'The server was unable to deliver your message (ex: unknown user, mailbox not found).',
    Details: `smtp;550 5.1.1 The email account that you tried to reach (${ANN}) does not exist`,
    Email: ANN,
    From: 'sender@example.com',
    BouncedAt: new Date().toISOString(),
    Inactive: true,
    CanActivate: true,
  };
}

describe('the event worker', () => {
  it('when a Postmark hard bounce (Inactive) arrives for a recorded email, then the recipient is bounced and suppressed; posted again, it changes nothing', async () => {
    const { id, messageId } = await sentEmail([ANN, BOB], 'postmark');
    const bounceId = Date.now();
    const key = `bounce:${bounceId}`;

    await publishRaw([postmarkEvent(postmarkHardBounce(id, messageId, bounceId))]);
    const first = await settlement((s) => keyOf(s) === key, 'the bounce is settled');

    expect(first).toMatchObject({ action: 'ack', result: 'applied', suppressions: ['hard-bounce'] });
    expect(await recipientsOf(id)).toEqual([
      { address: 'a***@example.com', status: 'bounced' },
      { address: 'b***@example.org', status: 'sent' },
    ]);
    expect(await ledger.findSuppression(hasher.candidates(ANN))).toMatchObject({
      reason: 'hard-bounce',
      createdBy: 'provider',
      source: { emailId: id, provider: 'postmark', eventKey: key },
    });
    expect(await ledger.findSuppression(hasher.candidates(BOB))).toBeNull();

    const before = await feedbackRows();
    await publishRaw([postmarkEvent(postmarkHardBounce(id, messageId, bounceId))]);
    const second = await settlement((s) => keyOf(s) === key && s !== first, 'the repeat is settled');

    expect(second).toMatchObject({ action: 'ack', result: 'duplicate', suppressions: [] });
    expect(await feedbackRows()).toEqual(before);
    expect(await counted({ provider: 'postmark', outcome: 'bounced', result: 'applied' })).toBe(1);
    expect(await counted({ provider: 'postmark', outcome: 'bounced', result: 'duplicate' })).toBe(1);
  });

  it('when SES reports a Bounce for one of two recipients and a Delivery for the other, then one is bounced, one delivered, and the email bounced', async () => {
    const { id, messageId } = await sentEmail([CAT, DAN], 'ses');
    const mail = {
      timestamp: new Date().toISOString(),
      source: 'sender@example.com',
      messageId,
      destination: [CAT, DAN],
      tags: { email_id: [id] },
    };
    const bounceKey = randomUUID();
    const deliveryKey = randomUUID();

    await publishRaw([
      sesEvent(bounceKey, {
        eventType: 'Bounce',
        bounce: {
          bounceType: 'Permanent',
          bounceSubType: 'General',
          bouncedRecipients: [
            {
              emailAddress: CAT,
              action: 'failed',
              status: '5.1.1',
              diagnosticCode: `smtp; 550 5.1.1 <${CAT}> unknown`,
            },
          ],
          timestamp: new Date().toISOString(),
        },
        mail,
      }),
      sesEvent(deliveryKey, {
        eventType: 'Delivery',
        delivery: {
          timestamp: new Date().toISOString(),
          recipients: [DAN],
          smtpResponse: '250 2.6.0 Message received',
        },
        mail,
      }),
    ]);
    await settlement((s) => keyOf(s) === bounceKey, 'the bounce is settled');
    await settlement((s) => keyOf(s) === deliveryKey, 'the delivery is settled');

    expect(await recipientsOf(id)).toEqual([
      { address: 'c***@example.net', status: 'bounced' },
      { address: 'd***@example.com', status: 'delivered' },
    ]);
    expect((await ledger.getEmail(TEST_CLIENT, id))?.state).toBe('bounced');
    expect(await ledger.findSuppression(hasher.candidates(CAT))).toMatchObject({ reason: 'hard-bounce' });
    expect(await ledger.findSuppression(hasher.candidates(DAN))).toBeNull();
  });

  it('when an event arrives before its email is recorded, then it goes through the delay queue and is applied once the email is there', async () => {
    const id = randomUUID();
    const messageId = `postmark-${randomUUID()}`;
    const deliveredAt = new Date().toISOString();
    await publishRaw([
      postmarkEvent({
        RecordType: 'Delivery',
        MessageStream: 'outbound',
        // No email id: the event finds its email by Postmark's message id, which the ledger has
        // only once the send is recorded (the race this retry is for).
        MessageID: messageId,
        Recipient: EVE,
        DeliveredAt: deliveredAt,
        Details: 'Test delivery webhook details',
      }),
    ]);
    const isThisEvent = (s: EventSettlement) => keyOf(s)?.startsWith(`delivery:${messageId}:`) === true;
    await settlement((s) => isThisEvent(s) && s.action === 'retry', 'the event is sent to the delay queue');

    await ledger.recordAccepted([{ id, client: TEST_CLIENT, acceptedAt: new Date(), recipients: [EVE] }]);
    expect(await ledger.claimAttempt({ id, attempt: 1, provider: 'postmark' })).toEqual({ outcome: 'claimed' });
    expect(await ledger.recordSent({ id, attempt: 1, provider: 'postmark', providerMessageId: messageId })).toBe(
      'advanced',
    );
    const applied = await settlement((s) => isThisEvent(s) && s.action === 'ack', 'the event is applied');

    expect(applied).toMatchObject({ result: 'applied' });
    const retries = settled.filter((s) => isThisEvent(s) && s.action === 'retry');
    // Each retry carried one more try: the header counts them through the delay queue.
    expect(retries.map((s) => (s.action === 'retry' ? s.tries : 0))).toEqual(retries.map((_, i) => i + 1));
    expect(await recipientsOf(id)).toEqual([{ address: 'e***@example.org', status: 'delivered' }]);
    expect((await ledger.getEmail(TEST_CLIENT, id))?.state).toBe('delivered');
    expect(await queueDepth(topology.providerEventsRetryQueue.name)).toBe(0);
  });

  it('when an event cannot be read, then it is parked in the dead queue with its reason, and the ledger is unchanged', async () => {
    const before = await feedbackRows();
    const notOurs = Buffer.from('{"hello":"world"}');
    const badBounce = postmarkEvent({ RecordType: 'Bounce', ID: 'not-a-number', Email: ANN });
    const parkedBefore = settled.filter((s) => s.action === 'park').length;

    await publishRaw([notOurs, badBounce]);
    await until(() => settled.filter((s) => s.action === 'park').length === parkedBefore + 2, 'both are parked');
    const parked = await takeMessages(topology.providerEventsDeadQueue.name, 2);

    const byBody = new Map(parked.map((m) => [m.content.toString('utf8'), m.properties.headers ?? {}]));
    expect(byBody.get(notOurs.toString('utf8'))).toMatchObject({
      [ProviderEventHeaders.parkedReason]: 'undecodable',
      [ProviderEventHeaders.parkedDetail]: expect.stringContaining('version') as unknown,
    });
    expect(byBody.get(badBounce.toString('utf8'))).toMatchObject({
      [ProviderEventHeaders.parkedReason]: 'invalid',
      [ProviderEventHeaders.parkedDetail]: 'ID must be a whole number',
    });
    expect(parked.map((m) => m.properties.type)).toEqual([PROVIDER_EVENT_MESSAGE_TYPE, PROVIDER_EVENT_MESSAGE_TYPE]);
    expect(await feedbackRows()).toEqual(before);
    expect(await queueDepth(topology.providerEventsQueue.name)).toBe(0);
  });

  it('when every text column of the feedback tables is read, then none holds a full address used above', async () => {
    const { pool } = await testLedger();
    const { rows: columns } = await pool.query<{ table_name: string; column_name: string }>(
      `SELECT table_name, column_name FROM information_schema.columns
       WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'ARRAY', 'jsonb', 'json')
         AND table_name IN ('emails', 'recipient_outcomes', 'suppressions', 'suppression_history', 'provider_events')`,
    );
    const { rows: filled } = await pool.query<{ n: number }>(
      'SELECT (SELECT count(*) FROM recipient_outcomes)::integer + (SELECT count(*) FROM suppressions)::integer AS n',
    );

    // The tests above wrote outcomes and suppressions from events naming these addresses in full.
    expect(filled[0]?.n).toBeGreaterThanOrEqual(6);
    expect(columns.length).toBeGreaterThan(20);
    const leaks: string[] = [];
    for (const { table_name: table, column_name: column } of columns) {
      for (const address of ADDRESSES) {
        const local = address.slice(0, address.indexOf('@'));
        const { rows } = await pool.query<{ n: number }>(
          `SELECT count(*)::integer AS n FROM ${table} WHERE strpos(lower("${column}"::text), $1) > 0`,
          [`${local}@`],
        );
        if ((rows[0]?.n ?? 0) > 0) leaks.push(`${table}.${column}: ${local}`);
      }
    }
    expect(leaks).toEqual([]);
  });
});
