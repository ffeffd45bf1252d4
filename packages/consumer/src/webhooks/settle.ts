import { randomUUID } from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';
import { WebhookDeliveryHeaders, type Topology } from '@mailer/contract';
import type { Logger, OutgoingMessage } from '@mailer/amqp';
import { copiedProperties, messageIdOf } from '@mailer/dead-letters';
import type { Taken } from '../amqp/taken';

/** Acks or requeues; a channel that closed meanwhile has the broker deliver the message again. */
export function settle({ channel, message }: Taken, how: 'ack' | 'requeue', logger: Logger): void {
  try {
    if (how === 'ack') channel.ack(message);
    else channel.nack(message, false, true);
  } catch (error) {
    logger.warn('could not settle a webhook message; it will be redelivered', {
      error: error instanceof Error ? error.message : String(error),
    });
  }
}

/** Longest parked detail kept in a header. */
const MAX_DETAIL_LENGTH = 200;

/** The copy of an undecodable message for the webhooks dead exchange, with why. */
export function undecodableCopy(topology: Topology, message: ConsumeMessage, problem: string): OutgoingMessage {
  return {
    exchange: topology.webhooksDeadExchange.name,
    routingKey: '',
    body: message.content,
    messageId: messageIdOf(message.properties) ?? randomUUID(),
    properties: copiedProperties(message.properties, {
      ...(message.properties.headers ?? {}),
      [WebhookDeliveryHeaders.parkedReason]: 'undecodable',
      [WebhookDeliveryHeaders.lastError]: problem.slice(0, MAX_DETAIL_LENGTH),
      [WebhookDeliveryHeaders.lastTryAt]: new Date().toISOString(),
    }),
  };
}
