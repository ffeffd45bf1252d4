import { WEBHOOK_DELIVERY_ROUTING_KEY, type Topology, type WebhookDeliveryMessage } from '@mailer/contract';
import type { ConfirmPublisher } from '@mailer/amqp';
import type { WebhookDeliveryPublisher } from '../domain/webhooks';

/**
 * Puts a delivery (the API's test deliveries) on the webhooks exchange through a confirmed
 * publisher, as the consumer's fan-out does: JSON body, message id = the delivery id, type = the
 * event's type.
 */
export class AmqpWebhookDeliveryPublisher implements WebhookDeliveryPublisher {
  constructor(
    private readonly publisher: ConfirmPublisher,
    private readonly topology: Pick<Topology, 'webhooksExchange'>,
  ) {}

  async publish(message: WebhookDeliveryMessage): Promise<void> {
    await this.publisher.publish({
      exchange: this.topology.webhooksExchange.name,
      routingKey: WEBHOOK_DELIVERY_ROUTING_KEY,
      body: Buffer.from(JSON.stringify(message), 'utf8'),
      messageId: message.delivery_id,
      properties: {
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        type: message.event.type,
        appId: 'mailer-producer',
        timestamp: Math.floor(Date.parse(message.first_try_at) / 1000),
      },
    });
  }
}
