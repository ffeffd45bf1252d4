import { randomBytes } from 'node:crypto';
import { connect, type ConsumeMessage } from 'amqplib';
import type { Topology } from '@mailer/contract';

/** The broker the tests use: the local one unless AMQP_URL says otherwise. */
export const AMQP_URL = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

/** A prefix no other test run uses, so runs never share a queue. */
export function uniquePrefix(label: string): string {
  return `test.${label}.${Date.now().toString(36)}.${randomBytes(3).toString('hex')}`;
}

/** Deletes every queue and exchange of a test topology. */
export async function deleteTopology(topology: Topology): Promise<void> {
  const model = await connect(AMQP_URL);
  try {
    const channel = await model.createChannel();
    for (const queue of topology.queues) await channel.deleteQueue(queue.name);
    for (const exchange of topology.exchanges) await channel.deleteExchange(exchange.name);
  } finally {
    await model.close();
  }
}

/**
 * Waits for `count` messages on a queue and takes them (acking each). Closes the channel before
 * the connection: closing the connection straight after an ack can lose the ack on a quorum queue.
 */
export async function takeMessages(queue: string, count: number, timeoutMs = 30_000): Promise<ConsumeMessage[]> {
  const model = await connect(AMQP_URL);
  try {
    const channel = await model.createChannel();
    const messages: ConsumeMessage[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`got ${messages.length} of ${count} messages on ${queue}`)),
        timeoutMs,
      );
      void channel.consume(queue, (message) => {
        if (message === null) return;
        messages.push(message);
        channel.ack(message);
        if (messages.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await channel.close();
    return messages;
  } finally {
    await model.close();
  }
}

/** Ready messages in a queue, by passive declare. */
export async function queueDepth(queue: string): Promise<number> {
  const model = await connect(AMQP_URL);
  try {
    const channel = await model.createChannel();
    return (await channel.checkQueue(queue)).messageCount;
  } finally {
    await model.close();
  }
}
