// Broker side of the benches: count what was queued, then remove the bench's topology.
import { setTimeout as sleep } from 'node:timers/promises';
import amqplib from 'amqplib';

/** A channel whose errors (404 on a passive declare closes it) are kept, not thrown at the process. */
async function openChannel(model) {
  const channel = await model.createChannel();
  channel.on('error', () => undefined);
  return channel;
}

/**
 * Polls a passive declare of `queue` until it holds at least `expected` messages or `timeoutMs`
 * runs out (quorum queue counts can lag the confirms a moment). Resolves with the last count.
 */
export async function awaitQueueDepth(url, queue, expected, timeoutMs = 10_000, { purge = false } = {}) {
  const model = await amqplib.connect(url);
  model.on('error', () => undefined);
  const started = Date.now();
  try {
    let channel = await openChannel(model);
    let depth = -1;
    for (;;) {
      try {
        ({ messageCount: depth } = await channel.checkQueue(queue));
      } catch (error) {
        if (Date.now() - started > timeoutMs) throw error;
        channel = await openChannel(model);
      }
      if (depth >= expected || Date.now() - started > timeoutMs) {
        // Purged once counted: a queue that only grows makes every later run pay for the earlier ones.
        if (purge) await channel.purgeQueue(queue);
        return { depth, waitedMs: Date.now() - started };
      }
      await sleep(200);
    }
  } finally {
    await model.close().catch(() => undefined);
  }
}

/** Deletes the topology's queues and exchanges; returns the names it could not delete. */
export async function deleteTopology(url, topology) {
  const model = await amqplib.connect(url);
  model.on('error', () => undefined);
  const failed = [];
  try {
    let channel = await openChannel(model);
    const attempt = async (kind, name, remove) => {
      try {
        await remove(channel, name);
      } catch (error) {
        failed.push(`${kind} ${name}: ${error.message}`);
        channel = await openChannel(model);
      }
    };
    for (const queue of [...topology.queues, topology.webhookEventsQueue])
      await attempt('queue', queue.name, (ch, name) => ch.deleteQueue(name));
    for (const exchange of topology.exchanges) {
      await attempt('exchange', exchange.name, (ch, name) => ch.deleteExchange(name));
    }
  } finally {
    await model.close().catch(() => undefined);
  }
  return failed;
}

/** Whether a queue still exists (passive declare), to confirm the clean-up. */
export async function queueExists(url, queue) {
  const model = await amqplib.connect(url);
  model.on('error', () => undefined);
  try {
    const channel = await openChannel(model);
    await channel.checkQueue(queue);
    return true;
  } catch {
    return false;
  } finally {
    await model.close().catch(() => undefined);
  }
}

/**
 * Deletes a bench's topology and checks its work queue is gone; logs what it did. Resolves true
 * when the broker is clean.
 */
export async function removeBenchTopology(url, topology, prefix) {
  const failed = await deleteTopology(url, topology);
  const left = (await queueExists(url, topology.workQueue.name)) ? [topology.workQueue.name] : [];
  if (failed.length > 0 || left.length > 0) {
    console.error(`broker clean-up incomplete: ${[...failed, ...left.map((q) => `${q} still exists`)].join('; ')}`);
    return false;
  }
  console.log(
    `deleted ${topology.queues.length + 1} queues and ${topology.exchanges.length} exchanges of ${prefix} from the broker`,
  );
  return true;
}

/**
 * Counts the messages in queues by passive declares on one connection kept open (the bench reads
 * the retry tiers around each phase). `count(names)` resolves with the sum, NaN if a queue is
 * missing; `close()` ends the connection.
 */
export async function openQueueCounter(url) {
  const model = await amqplib.connect(url);
  model.on('error', () => undefined);
  let channel = await openChannel(model);
  return {
    async count(names) {
      let total = 0;
      for (const name of names) {
        try {
          total += (await channel.checkQueue(name)).messageCount;
        } catch {
          channel = await openChannel(model);
          return Number.NaN;
        }
      }
      return total;
    },
    close: () => model.close().catch(() => undefined),
  };
}
