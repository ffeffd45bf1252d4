import { once } from 'node:events';
import { connect } from 'amqplib';
import { PublishError, WORK_ROUTING_KEY, buildTopology } from '@mailer/contract';
import { AMQP_URL, closeConnectionsNamed, deleteTopology, drainQueue, uniquePrefix } from '@mailer/testkit';
import { BrokerConnection, TopologyMismatchError, declareTopology } from '../src';
import { startTestBroker, testLogger, type TestBroker } from './support/broker';

const publishOne = (broker: TestBroker, messageId: string, exchange = broker.topology.workExchange.name) =>
  broker.publisher.publish({ exchange, routingKey: WORK_ROUTING_KEY, body: Buffer.from('{}'), messageId });

describe('BrokerConnection against the real broker', () => {
  let broker: TestBroker;

  beforeEach(async () => {
    broker = await startTestBroker('connection');
  });
  afterEach(() => broker.close());

  it('when started, then every queue of the topology exists with its arguments and readiness is ready', async () => {
    expect(broker.broker.readiness()).toEqual({ ready: true });
    expect(broker.broker.channel).toBeDefined();
    const model = await connect(AMQP_URL);
    try {
      const channel = await model.createChannel();
      for (const queue of broker.topology.queues) {
        await expect(channel.checkQueue(queue.name)).resolves.toMatchObject({ queue: queue.name });
        // Declaring again with the same arguments is accepted: the broker holds exactly these.
        await expect(
          channel.assertQueue(queue.name, { durable: true, arguments: queue.arguments }),
        ).resolves.toBeDefined();
      }
    } finally {
      await model.close();
    }
  });

  it('when the broker closes the connection, then it reconnects by itself, declares again and publishes are confirmed', async () => {
    const reopened = once(broker.broker, 'channel');
    const declared = once(broker.broker, 'declared');
    expect(await closeConnectionsNamed(broker.connectionName)).toBe(1);
    await Promise.all([reopened, declared]);

    expect(broker.broker.readiness()).toEqual({ ready: true });
    await publishOne(broker, 'after-reconnect');
    const [message] = await drainQueue(broker.topology.workQueue.name, 1);
    expect(message?.properties.messageId).toBe('after-reconnect');
  });

  it('when a channel error closes only the channel, then that publish is channel-closed and a new channel on the same connection confirms the next', async () => {
    const first = broker.broker.channel;
    const reopened = once(broker.broker, 'channel');
    // Publishing to an exchange that does not exist makes the broker close the channel (404).
    const failed = await publishOne(broker, 'to-nowhere', `${broker.topology.workExchange.name}.missing`).catch(
      (error: unknown) => error,
    );
    await reopened;

    expect(failed).toBeInstanceOf(PublishError);
    expect((failed as PublishError).reason).toBe('channel-closed');
    expect(broker.broker.channel).not.toBe(first);
    await publishOne(broker, 'on-new-channel');
    expect((await drainQueue(broker.topology.workQueue.name, 1))[0]?.properties.messageId).toBe('on-new-channel');
  });

  it('when closed, then readiness says shutting down and no channel is left', async () => {
    await broker.broker.close();

    expect(broker.broker.readiness()).toEqual({ ready: false, reason: 'shutting down' });
    expect(broker.broker.channel).toBeUndefined();
    expect(broker.broker.ready).toBe(false);
  });
});

describe('declareTopology and start-up', () => {
  const prefix = uniquePrefix('mismatch');
  const topology = buildTopology({ prefix, retryDelaysMs: [1000], deliveryLimit: 5 });

  afterAll(() => deleteTopology(topology));

  it('when run twice on the same topology, then the second run changes nothing and succeeds', async () => {
    const model = await connect(AMQP_URL);
    try {
      await expect(declareTopology(await model.createChannel(), topology)).resolves.toBeUndefined();
      await expect(declareTopology(await model.createChannel(), topology)).resolves.toBeUndefined();
      const check = await model.createChannel();
      for (const queue of topology.queues) {
        await expect(check.checkQueue(queue.name)).resolves.toMatchObject({ queue: queue.name, messageCount: 0 });
      }
    } finally {
      await model.close();
    }
    await deleteTopology(topology);
  });

  it('when a queue exists with other arguments, then start rejects with TopologyMismatchError naming it, and fatal is emitted', async () => {
    const model = await connect(AMQP_URL);
    const setup = await model.createChannel();
    await setup.assertQueue(topology.workQueue.name, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await model.close();
    const connection = new BrokerConnection({
      url: AMQP_URL,
      topology,
      logger: testLogger,
      connectionName: `test-amqp-${prefix}`,
    });
    const fatal = once(connection, 'fatal');
    try {
      const error = await connection.start().catch((e: unknown) => e);

      expect(error).toBeInstanceOf(TopologyMismatchError);
      expect((error as TopologyMismatchError).queue).toBe(topology.workQueue.name);
      expect((error as Error).message).toContain(
        `queue "${topology.workQueue.name}" already exists with other arguments`,
      );
      expect((await fatal)[0]).toBe(error);
      expect(connection.readiness().ready).toBe(false);
    } finally {
      await connection.close();
    }
  });
});
