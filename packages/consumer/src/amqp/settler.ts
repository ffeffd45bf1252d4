import type { ConsumeMessage } from 'amqplib';
import { DeliveryHeaders, type Topology } from '@mailer/contract';
import type { ConfirmPublisher, Logger, OutgoingMessage } from '@mailer/amqp';
import { copiedProperties, messageIdOf } from '@mailer/dead-letters';
import type { ParkSettlement, RetrySettlement, Settlement } from '../delivery/handle-email';
import type { LedgerGate } from './ledger-gate';
import type { Kept, Taken } from './taken';

/** What the worker's `settled` event reports. */
export type WorkerSettlement = Settlement | { readonly action: 'requeued'; readonly id: string | undefined };

/** What the settler needs. */
export interface SettlerOptions {
  readonly publisher: ConfirmPublisher;
  readonly topology: Topology;
  readonly logger: Logger;
  /** Where records are written before the ack. */
  readonly ledger: Pick<LedgerGate<Kept>, 'record' | 'recordOnce'>;
  /** The message is done with (acked, requeued, rejected or left to come back). */
  readonly finish: (taken: Taken, settlement: WorkerSettlement) => void;
}

/**
 * Carries out a settlement on the broker: a retry or a park is first published (confirmed) as a
 * copy to the retry tier or the dead-letter exchange, its record written to the ledger, and only
 * then is the original acked, on the channel that delivered it, exactly once (docs/design.md rules
 * 6 and 8). If the copy cannot be confirmed the original is requeued; the queue's delivery limit
 * keeps that from looping for ever.
 */
export class Settler {
  constructor(private readonly options: SettlerOptions) {}

  /** Handling threw (a bug): requeue. The work queue's `x-delivery-limit` parks it after a few tries. */
  requeueFailed(taken: Taken, error: unknown): void {
    const id = messageIdOf(taken.message.properties);
    this.options.logger.error('handling failed; requeueing', {
      email_id: id,
      error: error instanceof Error ? error.message : String(error),
    });
    this.settle(taken, 'requeue');
    this.options.finish(taken, { action: 'requeued', id });
  }

  /** Nothing was sent and the channel closed: nothing to settle, the broker redelivers it. */
  abandoned(taken: Taken, settlement: Extract<Settlement, { action: 'abandoned' }>): void {
    this.options.logger.info('channel closed before sending; the broker redelivers it', { email_id: settlement.id });
    this.options.finish(taken, settlement);
  }

  /** The ledger says it needs no sending: ack it. */
  skipped(taken: Taken, settlement: Extract<Settlement, { action: 'skipped' }>): void {
    this.settle(taken, 'ack');
    this.options.finish(taken, settlement);
    this.options.logger.info(
      settlement.reason === 'already-sent'
        ? 'email sent before; acked without sending'
        : 'this attempt already ended in a retry or a park; acked without sending',
      { email_id: settlement.id },
    );
  }

  /**
   * Sent: record the recipients not sent to (while the email is not yet recorded sent: the ledger
   * gives them their outcome only then), then the send, then ack. Never acked before the ledger
   * has the send: a redelivery must find it sent.
   */
  async sent(taken: Taken, settlement: Extract<Settlement, { action: 'sent' }>): Promise<void> {
    if (!(await this.recordAll(settlement.suppression, settlement.record))) {
      this.options.finish(taken, { action: 'abandoned', id: settlement.id });
      return;
    }
    this.settle(taken, 'ack');
    this.options.finish(taken, settlement);
    this.options.logger.info('email sent', {
      email_id: settlement.id,
      provider: settlement.provider,
      attempt: settlement.attempts,
    });
  }

  /**
   * No recipient left to send to: record the refused try (if any), then the recipients and the
   * email `suppressed`, then ack. Nothing was sent, so a message whose records could not be written
   * before the worker stopped is left unacked, to be handled again.
   */
  async suppressed(taken: Taken, settlement: Extract<Settlement, { action: 'suppressed' }>): Promise<void> {
    if (!(await this.recordAll(settlement.record, settlement.suppression))) {
      this.options.finish(taken, { action: 'abandoned', id: settlement.id });
      return;
    }
    this.settle(taken, 'ack');
    this.options.finish(taken, settlement);
    this.options.logger.info('every recipient is suppressed; acked without sending', {
      email_id: settlement.id,
      recipients: settlement.suppression.recipients.length,
    });
  }

  /** Writes each record given, in order; false as soon as one cannot be (the gate closed first). */
  private async recordAll(
    ...records: (Parameters<SettlerOptions['ledger']['record']>[0] | undefined)[]
  ): Promise<boolean> {
    for (const record of records) {
      if (record !== undefined && !(await this.options.ledger.record(record))) return false;
    }
    return true;
  }

  /** A retry or a park: publish the copy, confirmed, record it, then ack the original. */
  async copied(taken: Taken, settlement: RetrySettlement | ParkSettlement): Promise<void> {
    const { logger, finish } = this.options;
    const id = messageIdOf(taken.message.properties) ?? settlement.id;
    if (id === undefined) {
      // No id anywhere (neither the message nor a readable envelope has one): a copy could not be
      // told from any other. Rejected without requeue, the work queue dead-letters it as it is.
      logger.error('message without an id rejected; the work queue dead-letters it', {
        action: settlement.action,
        failure: settlement.headers[DeliveryHeaders.lastFailureKind],
      });
      this.settle(taken, 'reject');
      finish(taken, settlement);
      return;
    }
    try {
      await this.options.publisher.publish(copyOf(this.options.topology, taken.message, id, settlement));
    } catch (error) {
      logger.warn('could not publish the retry or park copy; requeueing', {
        email_id: id,
        action: settlement.action,
        error: error instanceof Error ? error.message : String(error),
      });
      if (settlement.record !== undefined) {
        // Best effort: the failed try closed without a move, so the requeued message is not in doubt.
        const { next: _next, ...failure } = settlement.record;
        await this.options.ledger.recordOnce(failure);
      }
      this.settle(taken, 'requeue');
      finish(taken, { action: 'requeued', id });
      return;
    }
    // Recorded only once the copy is confirmed: a redelivered original is then `superseded`, with a copy queued.
    if (!(await this.recordAll(settlement.record, settlement.suppression))) {
      finish(taken, { action: 'abandoned', id });
      return;
    }
    this.settle(taken, 'ack');
    finish(taken, settlement);
    logCopied(logger, id, settlement);
  }

  private settle({ channel, message }: Taken, how: SettleHow): void {
    try {
      if (how === 'ack') channel.ack(message);
      else channel.nack(message, false, how === 'requeue');
    } catch (error) {
      // The channel closed meanwhile: the broker redelivers the message; nothing to settle here.
      this.options.logger.warn('could not settle; the message will be redelivered', {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}

type SettleHow = 'ack' | 'requeue' | 'reject';

/**
 * The copy a retry or a park publishes: the original's body and properties, its headers with the
 * settlement's history (and, parked, the reason), to the retry tier or the dead-letter exchange.
 */
export function copyOf(
  topology: Topology,
  message: ConsumeMessage,
  messageId: string,
  settlement: RetrySettlement | ParkSettlement,
): OutgoingMessage {
  const headers: Record<string, unknown> = { ...(message.properties.headers ?? {}), ...settlement.headers };
  if (settlement.action === 'park') headers[DeliveryHeaders.parkedReason] = settlement.reason;
  return {
    exchange: settlement.action === 'retry' ? topology.retryExchange.name : topology.deadExchange.name,
    routingKey: settlement.action === 'retry' ? settlement.tier.routingKey : '',
    body: message.content,
    messageId,
    properties: copiedProperties(message.properties, headers),
  };
}

function logCopied(logger: Logger, id: string, settlement: RetrySettlement | ParkSettlement): void {
  const attempt = settlement.headers[DeliveryHeaders.attempts];
  if (settlement.action === 'retry') {
    logger.warn('email not sent; retrying later', {
      email_id: id,
      attempt,
      retry_in: settlement.tier.routingKey,
      failure: settlement.headers[DeliveryHeaders.lastFailureKind],
      providers: settlement.headers[DeliveryHeaders.providersTried],
    });
  } else {
    logger.error('email parked', {
      email_id: id,
      reason: settlement.reason,
      attempt,
      failure: settlement.headers[DeliveryHeaders.lastFailureKind],
    });
  }
}
