import { v7 as uuidv7 } from 'uuid';
import {
  PROVIDER_EVENT_MESSAGE_TYPE,
  PROVIDER_EVENT_ROUTING_KEY,
  encodeProviderEvent,
  type ProviderEventMessage,
  type Topology,
} from '@mailer/contract';
import type { ConfirmPublisher } from '@mailer/amqp';

/** Puts a verified provider event on the provider-events queue; resolves only on the broker's confirm. */
export interface ProviderEventPublisher {
  /** @throws PublishError (from `@mailer/contract`) when the broker did not confirm. */
  publish(message: ProviderEventMessage): Promise<void>;
}

/** Publishes provider events through a confirmed publisher, as the email publisher does. */
export class AmqpProviderEventPublisher implements ProviderEventPublisher {
  constructor(
    private readonly publisher: ConfirmPublisher,
    private readonly topology: Pick<Topology, 'providerEventsExchange'>,
  ) {}

  async publish(message: ProviderEventMessage): Promise<void> {
    const receivedAt = Date.parse(message.received_at);
    await this.publisher.publish({
      exchange: this.topology.providerEventsExchange.name,
      routingKey: PROVIDER_EVENT_ROUTING_KEY,
      body: encodeProviderEvent(message),
      // Unique per publish, not a dedupe key: the worker dedupes on the event's own key.
      messageId: uuidv7(),
      properties: {
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        type: PROVIDER_EVENT_MESSAGE_TYPE,
        appId: 'mailer-producer',
        timestamp: Math.floor(receivedAt / 1000),
      },
    });
  }
}
