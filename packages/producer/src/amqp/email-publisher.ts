import { EMAIL_MESSAGE_TYPE } from '@mailer/contract';
import type { ConfirmPublisher } from '@mailer/amqp';
import type { EmailPublisher, OutgoingEmail } from '../domain/publisher';

/** Puts accepted emails on the work exchange through a confirmed publisher. */
export class AmqpEmailPublisher implements EmailPublisher {
  constructor(
    private readonly publisher: ConfirmPublisher,
    private readonly route: { readonly exchange: string; readonly routingKey: string },
  ) {}

  /** Rejects with the publisher's `PublishError` as is: the domain knows that class. */
  async publish(email: OutgoingEmail): Promise<void> {
    await this.publisher.publish({
      exchange: this.route.exchange,
      routingKey: this.route.routingKey,
      body: email.body,
      messageId: email.id,
      properties: {
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        type: EMAIL_MESSAGE_TYPE,
        appId: 'mailer-producer',
        timestamp: Math.floor(email.timestamp.getTime() / 1000),
        headers: email.headers,
      },
    });
  }
}
