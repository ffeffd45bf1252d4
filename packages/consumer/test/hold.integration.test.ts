import { once } from 'node:events';
import { ServerClient, Models } from 'postmark';
import { connect } from 'amqplib';
import { AMQP_URL, queueDepth } from '@mailer/testkit';
import { PostmarkProvider } from '../src/providers/postmark/send';
import { startTestConsumer, until, type TestConsumer } from './support/consumer';
import { startFakePostmark, type FakePostmark } from './support/postmark-server';

const PREFETCH = 5;
const TOTAL = 30;
/** Probes to watch while no provider is usable: several cool-downs' worth. */
const PROBES = 6;

/**
 * Binds a plain queue to the retry exchange with every tier's routing key, so it receives a copy
 * of each retry publish and keeps it (the tiers themselves hand theirs back after their delay).
 */
async function countRetries(consumer: TestConsumer): Promise<{ queue: string; remove: () => Promise<void> }> {
  const queue = `${consumer.prefix}.retry-counter`;
  const model = await connect(AMQP_URL);
  const channel = await model.createChannel();
  await channel.assertQueue(queue, { durable: false, autoDelete: false });
  for (const tier of consumer.topology.retryTiers) {
    await channel.bindQueue(queue, consumer.topology.retryExchange.name, tier.routingKey);
  }
  await model.close();
  return {
    queue,
    remove: async () => {
      const cleanup = await connect(AMQP_URL);
      const ch = await cleanup.createChannel();
      await ch.deleteQueue(queue);
      await cleanup.close();
    },
  };
}

/** Resolves after `count` requests have hung at these fakes (counted from now). */
async function hangs(fakes: readonly FakePostmark[], count: number): Promise<void> {
  let seen = 0;
  const controller = new AbortController();
  await Promise.race(
    fakes.map(async (fake) => {
      while (seen < count) {
        await once(fake.events, 'hang', { signal: controller.signal });
        seen += 1;
      }
      controller.abort();
    }),
  ).catch(() => undefined);
  if (seen < count) throw new Error(`only ${seen} of ${count} requests hung`);
}

describe('when every provider hangs', () => {
  it('then the consumer holds the work: almost nothing reaches the retry tiers, and the email is sent once a provider heals', async () => {
    const fakes = [await startFakePostmark(), await startFakePostmark()];
    for (const fake of fakes) fake.hangAll(true);
    const providers = fakes.map(
      (fake) =>
        new PostmarkProvider(new ServerClient(fake.token, new Models.ClientOptions.Configuration(false, fake.host))),
    );
    const consumer = await startTestConsumer('hold', {
      providers,
      prefetch: PREFETCH,
      providerTimeoutMs: 200,
      circuit: { failureThreshold: 1, coolDownMs: 500 },
      retryDelaysMs: [100, 200],
      maxAttempts: 1000,
      deliveryLimit: 3,
    });
    const counter = await countRetries(consumer);
    try {
      const ids = await Promise.all(
        Array.from({ length: TOTAL }, (_, i) =>
          consumer.publish({
            from: { email: 'sender@example.com' },
            to: [{ email: `held${i}@example.org` }],
            subject: `held ${i}`,
            text: 'x',
          }),
        ),
      );
      await until(() => consumer.worker.paused === 'providers-unavailable', 'the consumer holds');
      const atHold = await queueDepth(counter.queue);
      // Watch PROBES probes go out and hang, several cool-downs.
      await hangs(fakes, PROBES);
      const retried = await queueDepth(counter.queue);
      const waiting = await queueDepth(consumer.topology.workQueue.name);
      process.stdout.write(
        `every provider hanging: ${TOTAL} emails, PREFETCH ${PREFETCH}; ${atHold} retry publishes before holding, ` +
          `${retried} after ${PROBES} more hung probes; ${waiting} waiting in the work queue, ${consumer.worker.holding} held\n`,
      );
      // Before the circuits opened, the prefetch in flight failed over and went to the retry tier;
      // after that, at most one message per hung probe (the probe's own; one more for a probe
      // that hung just before the count began).
      expect(atHold).toBeLessThanOrEqual(PREFETCH);
      expect(retried - atHold).toBeLessThanOrEqual(PROBES + 1);
      expect(waiting + consumer.worker.holding).toBeGreaterThanOrEqual(TOTAL - PREFETCH - PROBES);

      const healed = fakes[0]!;
      healed.hangAll(false);
      await Promise.all(ids.map((id) => healed.received(id)));
      await until(() => consumer.worker.busy === 0 && consumer.worker.paused === undefined, 'the consumer resumes');

      expect(ids.filter((id) => healed.acceptedCount(id) !== 1)).toEqual([]);
      expect(await queueDepth(consumer.topology.deadQueue.name)).toBe(0);
    } finally {
      await consumer.close();
      await counter.remove();
      for (const fake of fakes) await fake.close();
    }
  });
});
