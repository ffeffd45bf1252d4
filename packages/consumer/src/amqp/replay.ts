import type { Channel } from 'amqplib';
import { DeliveryHeaders, WORK_ROUTING_KEY, type Topology } from '@mailer/contract';
import type { ConfirmPublisher } from '@mailer/amqp';

/** Header set on a replayed message: when an operator sent it back from the dead-letter queue. */
export const REPLAYED_AT_HEADER = 'x-mailer-replayed-at';

/** Headers that describe the previous life of a parked message; a replay starts a fresh history. */
const historyHeaders = new Set<string>([
  ...Object.values(DeliveryHeaders),
  'x-death',
  'x-first-death-exchange',
  'x-first-death-queue',
  'x-first-death-reason',
  'x-last-death-exchange',
  'x-last-death-queue',
  'x-last-death-reason',
  'x-delivery-count',
]);

/** What a replay did. */
export interface ReplayResult {
  readonly replayed: readonly string[];
}

/**
 * Moves up to `limit` parked messages, oldest first, from the dead-letter queue back to the work
 * exchange with a fresh delivery history, so each gets the full set of attempts again. Each copy
 * is confirmed before its parked original is acked: a message is never in neither queue.
 *
 * `channel` reads the dead-letter queue; `publisher` publishes (confirmed) on the same broker.
 */
export async function replayParked(
  channel: Channel,
  publisher: ConfirmPublisher,
  topology: Topology,
  limit: number,
  now: () => Date = () => new Date(),
): Promise<ReplayResult> {
  const replayed: string[] = [];
  while (replayed.length < limit) {
    const message = await channel.get(topology.deadQueue.name, { noAck: false });
    if (message === false) break;
    const { properties } = message;
    const headers = Object.fromEntries(
      Object.entries(properties.headers ?? {}).filter(([name]) => !historyHeaders.has(name)),
    );
    const messageId = typeof properties.messageId === 'string' ? properties.messageId : `replayed-${Date.now()}`;
    try {
      await publisher.publish({
        exchange: topology.workExchange.name,
        routingKey: WORK_ROUTING_KEY,
        body: message.content,
        messageId,
        properties: {
          headers: { ...headers, [REPLAYED_AT_HEADER]: now().toISOString() },
          ...(typeof properties.contentType === 'string' ? { contentType: properties.contentType } : {}),
          ...(typeof properties.type === 'string' ? { type: properties.type } : {}),
          ...(typeof properties.appId === 'string' ? { appId: properties.appId } : {}),
          ...(typeof properties.timestamp === 'number' ? { timestamp: properties.timestamp } : {}),
        },
      });
    } catch (error) {
      // Not confirmed: leave the parked message where it is and stop.
      channel.nack(message, false, true);
      throw error;
    }
    channel.ack(message);
    replayed.push(messageId);
  }
  return { replayed };
}
