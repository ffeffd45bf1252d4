import type { Channel } from 'amqplib';
import type { Topology } from '@mailer/contract';

/**
 * RabbitMQ refused to declare a queue (PRECONDITION_FAILED): most often it already exists with
 * arguments other than the ones this service declares. Retrying cannot fix it: start-up stops.
 */
export class TopologyMismatchError extends Error {
  override readonly name = 'TopologyMismatchError';
  constructor(
    readonly queue: string,
    options: { cause: unknown },
  ) {
    const brokerText = options.cause instanceof Error ? options.cause.message : String(options.cause);
    const exists = brokerText.includes('inequivalent arg');
    super(
      exists
        ? `queue "${queue}" already exists with other arguments than this service declares ` +
            `(RabbitMQ: ${brokerText}). Check that RETRY_DELAYS, DELIVERY_LIMIT and AMQP_PREFIX match in ` +
            'every service, or move the messages off and delete the queue so it can be declared again.'
        : `RabbitMQ refused to declare queue "${queue}" (${brokerText}).`,
      options,
    );
  }
}

function isPreconditionFailed(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 406;
}

/**
 * Declares every exchange, queue and binding of `topology`, idempotently. Use a channel of its
 * own: a mismatch closes the channel it happened on.
 *
 * @throws TopologyMismatchError when a queue exists with other arguments.
 */
export async function declareTopology(channel: Channel, topology: Topology): Promise<void> {
  for (const exchange of topology.exchanges) {
    await channel.assertExchange(exchange.name, exchange.type, { durable: true });
  }
  for (const queue of topology.queues) {
    try {
      await channel.assertQueue(queue.name, { durable: true, arguments: queue.arguments });
    } catch (error) {
      if (isPreconditionFailed(error)) throw new TopologyMismatchError(queue.name, { cause: error });
      throw error;
    }
    await channel.bindQueue(queue.name, queue.binding.exchange, queue.binding.routingKey);
  }
}
