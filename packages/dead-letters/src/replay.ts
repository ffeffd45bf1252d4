import type { GetMessage } from 'amqplib';
import {
  DeliveryHeaders,
  WORK_ROUTING_KEY,
  ATTEMPT_BASE_HEADER,
  replayedAttemptBase,
  type Topology,
} from '@mailer/contract';
import type { ConfirmPublisher } from '@mailer/amqp';
import { copiedProperties } from './message-properties';

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
 * Publishes one parked message's copy to the work exchange with a fresh history and waits for
 * its confirm; the caller acks the parked original after it returns (and requeues it if it throws).
 * `email` is the id and client the caller read from the message (its dead-letter view).
 */
export async function replayOne(
  message: Pick<GetMessage, 'content' | 'properties'>,
  email: { readonly id: string; readonly client: string | undefined },
  publisher: ConfirmPublisher,
  topology: Topology,
  options: ReplayOptions = {},
): Promise<void> {
  const now = options.now ?? (() => new Date());
  const { properties } = message;
  const headers = Object.fromEntries(
    Object.entries(properties.headers ?? {}).filter(([name]) => !historyHeaders.has(name)),
  );
  const recorded =
    email.client === undefined || options.ledgerAttempt === undefined
      ? undefined
      : await options.ledgerAttempt(email.client, email.id);
  const base = replayedAttemptBase(properties.headers ?? {}, recorded);
  await publisher.publish({
    exchange: topology.workExchange.name,
    routingKey: WORK_ROUTING_KEY,
    body: message.content,
    messageId: email.id,
    properties: copiedProperties(properties, {
      ...headers,
      [REPLAYED_AT_HEADER]: now().toISOString(),
      ...(base > 0 ? { [ATTEMPT_BASE_HEADER]: base } : {}),
      ...options.stamp?.(properties.headers ?? {}),
    }),
  });
}
