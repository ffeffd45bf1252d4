import type { Channel, GetMessage } from 'amqplib';
import { DeliveryHeaders, WORK_ROUTING_KEY, decodeEnvelope, type Topology } from '@mailer/contract';
import type { ConfirmPublisher } from '@mailer/amqp';
import { copiedProperties, messageIdOf } from './message-properties';

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
  /** Ids of the messages sent back to the work queue. */
  readonly replayed: readonly string[];
  /**
   * Parked messages left where they are because they carry no id at all (no AMQP message id and
   * no envelope with one): nothing could tell their copy from another message.
   */
  readonly skipped: number;
}

/**
 * Moves up to `limit` parked messages, oldest first, from the dead-letter queue back to the work
 * exchange with a fresh delivery history, so each gets the full set of attempts again. Each copy
 * is confirmed before its parked original is acked: a message is never in neither queue.
 *
 * `channel` reads the dead-letter queue; `publisher` publishes (confirmed) on the same broker.
 * A message's id is its AMQP message id or, failing that, its envelope's id; one with neither is
 * skipped and stays parked.
 */
export async function replayParked(
  channel: Channel,
  publisher: ConfirmPublisher,
  topology: Topology,
  limit: number,
  now: () => Date = () => new Date(),
): Promise<ReplayResult> {
  const replayed: string[] = [];
  // Kept unacked until the end, so that the next get moves past them; then given back.
  const skipped: GetMessage[] = [];
  try {
    while (replayed.length < limit) {
      const message = await channel.get(topology.deadQueue.name, { noAck: false });
      if (message === false) break;
      const { properties } = message;
      const messageId = messageIdOf(properties) ?? envelopeIdOf(message.content);
      if (messageId === undefined) {
        skipped.push(message);
        continue;
      }
      const headers = Object.fromEntries(
        Object.entries(properties.headers ?? {}).filter(([name]) => !historyHeaders.has(name)),
      );
      try {
        await publisher.publish({
          exchange: topology.workExchange.name,
          routingKey: WORK_ROUTING_KEY,
          body: message.content,
          messageId,
          properties: copiedProperties(properties, { ...headers, [REPLAYED_AT_HEADER]: now().toISOString() }),
        });
      } catch (error) {
        // Not confirmed: leave the parked message where it is and stop.
        channel.nack(message, false, true);
        throw error;
      }
      channel.ack(message);
      replayed.push(messageId);
    }
  } finally {
    for (const message of skipped) channel.nack(message, false, true);
  }
  return { replayed, skipped: skipped.length };
}

/** The id in the body's envelope, if the body is one with an id (readable or not otherwise). */
function envelopeIdOf(body: Buffer): string | undefined {
  const decoded = decodeEnvelope(body);
  return decoded.ok ? decoded.envelope.id : decoded.id;
}
