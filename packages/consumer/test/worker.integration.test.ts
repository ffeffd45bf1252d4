import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import { connect } from 'amqplib';
import { DeliveryHeaders, WORK_ROUTING_KEY, type EmailRequest } from '@mailer/contract';
import type { Settlement } from '../src/delivery/handle-email';
import { DeadLetters } from '@mailer/dead-letters';
import { CaptureProvider } from '../src/providers/capture/send';
import { AMQP_URL, queueDepth, takeMessages } from '@mailer/testkit';
import { parseMime } from './support/conformance';
import { startTestConsumer, testLogger, type TestConsumer } from './support/consumer';
import { ensureManagementApi, getMessages } from '@mailer/testkit';

const email = (subject: string): EmailRequest => ({
  from: { email: 'sender@example.com' },
  to: [{ email: 'jane@example.org' }, { email: 'joe@example.org' }],
  subject,
  text: 'Hello',
});

type Settled = Settlement | { action: 'requeued'; id: string | undefined };

/** Resolves with the settlements of the worker once `predicate` holds for the list so far. */
function settledUntil(consumer: TestConsumer, predicate: (all: Settled[]) => boolean): Promise<Settled[]> {
  const all: Settled[] = [];
  return new Promise((resolve) => {
    const listener = (settlement: Settled) => {
      all.push(settlement);
      if (predicate(all)) {
        consumer.worker.off('settled', listener);
        resolve(all);
      }
    };
    consumer.worker.on('settled', listener);
  });
}

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(path.join(tmpdir(), 'mailer-worker-'));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('the delivery worker on the real broker', () => {
  let consumer: TestConsumer | undefined;

  afterEach(async () => {
    await consumer?.close();
    consumer = undefined;
  });

  it('when an email is queued, then the capture provider writes it with the same subject and recipients, and it is acked', async () => {
    consumer = await startTestConsumer('sent', { providers: [new CaptureProvider(directory)] });
    const sent = settledUntil(consumer, (all) => all.length === 1);

    const id = await consumer.publish(email('Welcome aboard'));

    expect(await sent).toEqual([expect.objectContaining({ action: 'sent', id, provider: 'capture', attempts: 1 })]);
    const mime = await parseMime(await readFile(path.join(directory, `${id}.eml`)), []);
    expect(mime.subject).toBe('Welcome aboard');
    expect(mime.to).toEqual(['jane@example.org', 'joe@example.org']);
    expect(await queueDepth(consumer.topology.workQueue.name)).toBe(0);
  });

  it('when a message cannot be decoded, then it is parked once with the reason, never requeued', async () => {
    consumer = await startTestConsumer('poison', { providers: [new CaptureProvider(directory)] });
    const parked = settledUntil(consumer, (all) => all.length === 1);

    await consumer.publishRaw(Buffer.from('{"not": "an envelope"'), 'poison-1');

    expect(await parked).toEqual([expect.objectContaining({ action: 'park', reason: 'undecodable' })]);
    const [dead] = await takeMessages(consumer.topology.deadQueue.name, 1);
    expect(dead?.properties.messageId).toBe('poison-1');
    expect(dead?.properties.headers).toMatchObject({
      [DeliveryHeaders.parkedReason]: 'undecodable',
      [DeliveryHeaders.lastFailureKind]: 'undecodable',
      [DeliveryHeaders.lastFailure]: 'the message body is not JSON',
    });
  });

  it('when a message has no id anywhere (no message id, no envelope), then the work queue dead-letters it as it is and a replay leaves it there: no id made up', async () => {
    const running = await startTestConsumer('no-id', { providers: [new CaptureProvider(directory)] });
    consumer = running;
    const parked = settledUntil(running, (all) => all.length === 1);
    const model = await connect(AMQP_URL);
    try {
      const channel = await model.createConfirmChannel();
      channel.publish(running.topology.workExchange.name, WORK_ROUTING_KEY, Buffer.from('garbage'), {
        persistent: true,
      });
      await channel.waitForConfirms();
    } finally {
      await model.close();
    }

    expect(await parked).toEqual([expect.objectContaining({ action: 'park', id: undefined, reason: 'undecodable' })]);
    // A replay cannot tell its copy from another message either: it leaves it parked.
    const operator = new BrokerConnection({
      url: AMQP_URL,
      topology: running.topology,
      logger: testLogger,
      connectionName: `test-replay-${running.prefix}`,
    });
    const publisher = new ConfirmPublisher(operator, { timeoutMs: 5000, maxInflight: 1, logger: testLogger });
    const ready = once(operator, 'channel');
    await operator.start();
    const [channel] = await ready;
    try {
      expect(await new DeadLetters(channel, running.topology).replay(publisher, { limit: 10 })).toEqual({
        replayed: [],
        skipped: 1,
        kept: 1,
      });
    } finally {
      await operator.close();
    }
    const [dead] = await takeMessages(running.topology.deadQueue.name, 1);
    expect(dead?.properties.messageId).toBeUndefined();
    expect(dead?.content.toString()).toBe('garbage');
    // Dead-lettered by the broker (a reject), not copied by the consumer.
    expect(dead?.properties.headers?.['x-first-death-reason']).toBe('rejected');
  });

  it('when the request in the envelope fails the schema, then it is parked as invalid with the problems named', async () => {
    consumer = await startTestConsumer('invalid', { providers: [new CaptureProvider(directory)] });
    const parked = settledUntil(consumer, (all) => all.length === 1);
    const envelope = {
      version: 1,
      id: 'invalid-1',
      accepted_at: new Date().toISOString(),
      client: 'test',
      request: { subject: 'x' },
    };

    await consumer.publishRaw(Buffer.from(JSON.stringify(envelope)), 'invalid-1');

    expect(await parked).toEqual([expect.objectContaining({ action: 'park', id: 'invalid-1', reason: 'invalid' })]);
    const [dead] = await takeMessages(consumer.topology.deadQueue.name, 1);
    expect(dead?.properties.headers?.[DeliveryHeaders.parkedReason]).toBe('invalid');
    expect(String(dead?.properties.headers?.[DeliveryHeaders.lastFailure])).toContain('/from is required');
  });

  it('when processing crashes on every delivery, then the queue dead-letters it after the delivery limit: no hot loop', async () => {
    let calls = 0;
    consumer = await startTestConsumer('crash', {
      providers: [new CaptureProvider(directory)],
      deliveryLimit: 3,
      handle: () => {
        calls += 1;
        return Promise.reject(new Error('processing crashed'));
      },
    });

    const id = await consumer.publish(email('Crashes the worker'));
    const [dead] = await takeMessages(consumer.topology.deadQueue.name, 1);

    expect(dead?.properties.messageId).toBe(id);
    expect(dead?.properties.headers?.['x-first-death-reason']).toBe('delivery_limit');
    // The first delivery and the requeued ones up to the limit; not one more.
    expect(calls).toBe(4);
  });

  it('when a provider fails k times then heals, then the retries follow the delay tiers and the email is sent once', async () => {
    // The capture folder is a file: every write fails (transient) until the file is removed.
    const blocked = path.join(directory, 'blocked');
    await writeFile(blocked, 'not a folder');
    consumer = await startTestConsumer('heal', {
      providers: [new CaptureProvider(blocked)],
      retryDelaysMs: [200, 400],
      maxAttempts: 5,
    });
    const twoRetries = settledUntil(consumer, (all) => all.length === 2);
    const id = await consumer.publish(email('Heals after two failures'));

    const retries = await twoRetries;
    const sent = settledUntil(consumer, (all) => all.some((s) => s.action === 'sent'));
    await rm(blocked);

    expect(retries.map((s) => (s.action === 'retry' ? s.tier.routingKey : s.action))).toEqual(['200ms', '400ms']);
    expect(await sent).toEqual([expect.objectContaining({ action: 'sent', id, provider: 'capture', attempts: 3 })]);
    expect((await parseMime(await readFile(path.join(blocked, `${id}.eml`)), [])).subject).toBe(
      'Heals after two failures',
    );
  });

  it('when the maximum attempts are reached, then the email is parked with its history in headers', async () => {
    const blocked = path.join(directory, 'blocked');
    await writeFile(blocked, 'not a folder');
    consumer = await startTestConsumer('exhausted', {
      providers: [new CaptureProvider(blocked)],
      retryDelaysMs: [100, 200],
      maxAttempts: 3,
    });
    const parked = settledUntil(consumer, (all) => all.some((s) => s.action === 'park'));

    const id = await consumer.publish(email('Never goes'));

    expect((await parked).map((s) => s.action)).toEqual(['retry', 'retry', 'park']);

    // What an operator sees in the management UI (Queues, the dead-letter queue, Get messages).
    await ensureManagementApi();
    const [seen] = await getMessages(consumer.topology.deadQueue.name, 1);
    expect(seen?.properties.message_id).toBe(id);
    expect(seen?.properties.headers).toMatchObject({
      [DeliveryHeaders.parkedReason]: 'max-attempts',
      [DeliveryHeaders.attempts]: 3,
      [DeliveryHeaders.providersTried]: 'capture,capture,capture',
      [DeliveryHeaders.lastFailureKind]: 'transient',
    });
    for (const header of [DeliveryHeaders.firstAttemptAt, DeliveryHeaders.lastAttemptAt, DeliveryHeaders.lastFailure]) {
      expect(typeof seen?.properties.headers?.[header]).toBe('string');
    }

    const [dead] = await takeMessages(consumer.topology.deadQueue.name, 1);
    const headers = dead?.properties.headers ?? {};
    expect(dead?.properties.messageId).toBe(id);
    expect(headers).toMatchObject({
      [DeliveryHeaders.parkedReason]: 'max-attempts',
      [DeliveryHeaders.attempts]: 3,
      [DeliveryHeaders.providersTried]: 'capture,capture,capture',
      [DeliveryHeaders.lastFailureKind]: 'transient',
    });
    expect(String(headers[DeliveryHeaders.lastFailure])).toMatch(/^capture: could not write/);
    const first = Date.parse(String(headers[DeliveryHeaders.firstAttemptAt]));
    const last = Date.parse(String(headers[DeliveryHeaders.lastAttemptAt]));
    expect(last - first).toBeGreaterThanOrEqual(300);
  });

  it('when an operator replays a parked email after the fault is fixed, then it is sent with a fresh history', async () => {
    const blocked = path.join(directory, 'blocked');
    await writeFile(blocked, 'not a folder');
    consumer = await startTestConsumer('replay', {
      providers: [new CaptureProvider(blocked)],
      retryDelaysMs: [100],
      maxAttempts: 1,
    });
    const parked = settledUntil(consumer, (all) => all.some((s) => s.action === 'park'));
    const id = await consumer.publish(email('Replayed after the fix'));
    await parked;
    await rm(blocked);

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
    const sent = settledUntil(consumer, (all) => all.some((s) => s.action === 'sent'));
    try {
      expect(await new DeadLetters(channel, consumer.topology).replay(publisher, { limit: 10 })).toEqual({
        replayed: [id],
        skipped: 0,
        kept: 0,
      });
    } finally {
      await operator.close();
    }

    expect(await sent).toEqual([expect.objectContaining({ action: 'sent', id, provider: 'capture', attempts: 1 })]);
    expect(await queueDepth(consumer.topology.deadQueue.name)).toBe(0);
  });
});
