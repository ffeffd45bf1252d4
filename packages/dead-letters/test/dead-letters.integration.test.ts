import { once } from 'node:events';
import type { ConfirmChannel } from 'amqplib';
import { DEFAULT_DELIVERY_LIMIT, DeliveryHeaders, buildTopology } from '@mailer/contract';
import { BrokerConnection, ConfirmPublisher } from '@mailer/amqp';
import {
  AMQP_URL,
  MIXED_PARKED,
  deleteTopology,
  drainQueue,
  publishParked,
  queueDepth,
  uniquePrefix,
  until,
} from '@mailer/testkit';
import { createLogger } from '@mailer/service';
import { DeadLetters } from '../src';

const testLogger = createLogger({
  service: 'dead-letters',
  level: 'debug',
  silent: process.env['TEST_LOGS'] === undefined,
});

/** Six parked messages, each with its tag as its id. */
const parked = MIXED_PARKED.map(({ tag, ...rest }) => ({ id: tag, ...rest }));

describe('the dead-letter engine', () => {
  let prefix: string;
  let topology: ReturnType<typeof buildTopology>;
  let operator: BrokerConnection;
  let channel: ConfirmChannel;
  let publisher: ConfirmPublisher;
  let letters: DeadLetters;

  const ids = async () => (await letters.list()).map((view) => view.id);

  beforeEach(async () => {
    prefix = uniquePrefix('dead-letters');
    topology = buildTopology({ prefix, retryDelaysMs: [60_000], deliveryLimit: DEFAULT_DELIVERY_LIMIT });
    operator = new BrokerConnection({ url: AMQP_URL, topology, logger: testLogger, connectionName: `test-${prefix}` });
    publisher = new ConfirmPublisher(operator, { timeoutMs: 5000, maxInflight: 1, logger: testLogger });
    const ready = once(operator, 'channel');
    await operator.start();
    [channel] = (await ready) as [ConfirmChannel];
    // Parked an hour apart, the first the oldest.
    await publishParked(
      topology,
      parked.map(({ id, reason, kind, tried }, index) => ({
        id,
        reason,
        kind,
        tried,
        parkedAt: new Date(Date.now() - (10 - index) * 3_600_000),
      })),
    );
    letters = new DeadLetters(channel, topology);
  });

  afterEach(async () => {
    await operator.close();
    await deleteTopology(topology);
  });

  it('when it lists with and without filters, then the queue keeps every message in its order', async () => {
    expect(await ids()).toEqual(parked.map(({ id }) => id));
    expect((await letters.list({ reasons: ['recipient-rejected'] })).map((view) => view.id)).toEqual([
      'reject-1',
      'reject-2',
    ]);
    expect((await letters.list({ providers: ['ses'], limit: 2 })).map((view) => view.id)).toEqual(['down-2', 'down-3']);
    expect((await letters.list({ olderThanMs: 7.5 * 3_600_000 })).map((view) => view.id)).toEqual([
      'down-1',
      'reject-1',
      'down-2',
    ]);
    expect(await letters.show('down-2')).toMatchObject({
      id: 'down-2',
      reason: 'max-attempts',
      failureKind: 'provider-unavailable',
      providersTried: ['ses', 'smtp'],
      attempts: 3,
    });
    expect(await ids()).toEqual(parked.map(({ id }) => id));
    // The pass's requeues are not confirmed: a passive declare from another channel can count the
    // queue before the last ones are back (seen: 5). Nothing acked them, so all six come back.
    await until(async () => (await queueDepth(topology.deadQueue.name)) === 6, 'the dead queue counts 6 ready');
  });

  it('when it replays a filtered set, then exactly those move and the others stay parked', async () => {
    const progress: string[] = [];
    const result = await letters.replay(
      publisher,
      { failureKinds: ['provider-unavailable', 'transient'] },
      { ratePerSecond: 50, onProgress: ({ id }) => progress.push(id ?? '') },
    );

    expect(result).toEqual({ replayed: ['down-1', 'down-2', 'down-3'], skipped: 0, kept: 3 });
    expect(progress).toEqual(['down-1', 'down-2', 'down-3']);
    expect(await ids()).toEqual(['reject-1', 'invalid-1', 'reject-2']);
    const moved = await drainQueue(topology.workQueue.name, 3);
    expect(moved.map((message) => message.properties.messageId as string)).toEqual(['down-1', 'down-2', 'down-3']);
    // Fresh history: the parked headers are gone.
    expect(moved[0]?.properties.headers?.[DeliveryHeaders.parkedReason]).toBeUndefined();
  });

  it('when a replay is run again with the ids it already copied, then it acks those without a second copy', async () => {
    const result = await letters.replay(publisher, { reasons: ['max-attempts'] }, { resume: ['down-1'] });

    expect(result.replayed).toEqual(['down-1', 'down-2']);
    expect(await queueDepth(topology.workQueue.name)).toBe(1);
    expect(await ids()).toEqual(['reject-1', 'invalid-1', 'down-3', 'reject-2']);
  });

  it('when it purges a filtered set, then only those are deleted', async () => {
    const result = await letters.purge({ reasons: ['recipient-rejected', 'invalid'] });

    expect(result).toEqual({ purged: ['reject-1', 'invalid-1', 'reject-2'], kept: 3 });
    expect(await ids()).toEqual(['down-1', 'down-2', 'down-3']);
    expect(await queueDepth(topology.workQueue.name)).toBe(0);
  });
});
