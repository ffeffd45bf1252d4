import type { Channel, GetMessage } from 'amqplib';
import { DeliveryHeaders, WORK_ROUTING_KEY, decodeEnvelope, type Topology } from '@mailer/contract';
import type { ConfirmPublisher } from '@mailer/amqp';
import { ATTEMPT_BASE_HEADER, replayedAttemptBase } from '../delivery/attempt-number';
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

/** How a replay runs besides what it moves. */
export interface ReplayOptions {
  readonly now?: () => Date;
  /**
   * The attempt the ledger recorded for an email (`undefined`: not recorded), asked for each
   * message with an envelope, so the copy's attempts count on past it ({@link ATTEMPT_BASE_HEADER}).
   * Absent (`LEDGER=off`): the parked copy's own history is counted on.
   */
  readonly ledgerAttempt?: (client: string, id: string) => Promise<number | undefined>;
  /** Headers to set on each copy besides the fresh history, from the parked message's headers. */
  readonly stamp?: (headers: Readonly<Record<string, unknown>>) => Record<string, unknown>;
}

/**
 * Moves up to `limit` parked messages, oldest first, from the dead-letter queue back to the work
 * exchange with a fresh delivery history, so each gets the full set of attempts again. Each copy
 * is confirmed before its parked original is acked: a message is never in neither queue.
 *
 * `channel` reads the dead-letter queue; `publisher` publishes (confirmed) on the same broker.
 * A message's id is its AMQP message id or, failing that, its envelope's id; one with neither is
 * skipped and stays parked. The copy carries an attempt base past the ledger's attempt for the
 * email: numbered from 1 again, its claim would be `superseded` and it would be acked unsent. If
 * the ledger cannot be asked, the message stays parked and the replay stops with that error.
 */
export async function replayParked(
  channel: Channel,
  publisher: ConfirmPublisher,
  topology: Topology,
  limit: number,
  options: ReplayOptions = {},
): Promise<ReplayResult> {
  const now = options.now ?? (() => new Date());
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
      try {
        await replayOne(message, messageId, publisher, topology, { ...options, now });
      } catch (error) {
        // Not asked or not confirmed: leave the parked message where it is and stop.
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

/**
 * Publishes one parked message's copy to the work exchange with a fresh history and waits for
 * its confirm; the caller acks the parked original after it returns (and requeues it if it throws).
 */
export async function replayOne(
  message: Pick<GetMessage, 'content' | 'properties'>,
  messageId: string,
  publisher: ConfirmPublisher,
  topology: Topology,
  options: ReplayOptions = {},
): Promise<void> {
  const now = options.now ?? (() => new Date());
  const { properties } = message;
  const headers = Object.fromEntries(
    Object.entries(properties.headers ?? {}).filter(([name]) => !historyHeaders.has(name)),
  );
  const client = envelopeClientOf(message.content);
  const recorded =
    client === undefined || options.ledgerAttempt === undefined
      ? undefined
      : await options.ledgerAttempt(client, messageId);
  const base = replayedAttemptBase(properties.headers ?? {}, recorded);
  await publisher.publish({
    exchange: topology.workExchange.name,
    routingKey: WORK_ROUTING_KEY,
    body: message.content,
    messageId,
    properties: copiedProperties(properties, {
      ...headers,
      [REPLAYED_AT_HEADER]: now().toISOString(),
      ...(base > 0 ? { [ATTEMPT_BASE_HEADER]: base } : {}),
      ...options.stamp?.(properties.headers ?? {}),
    }),
  });
}

/** The client of the body's envelope, when it is a readable one. */
function envelopeClientOf(body: Buffer): string | undefined {
  const decoded = decodeEnvelope(body);
  return decoded.ok ? decoded.envelope.client : undefined;
}

/** The id in the body's envelope, if the body is one with an id (readable or not otherwise). */
function envelopeIdOf(body: Buffer): string | undefined {
  const decoded = decodeEnvelope(body);
  return decoded.ok ? decoded.envelope.id : decoded.id;
}
