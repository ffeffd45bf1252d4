import { isUtf8 } from 'node:buffer';
import express, { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { PublishError, type EventProvider, type ProviderEventMessage } from '@mailer/contract';
import type { Logger } from '@mailer/service';
import type { ProviderEventPublisher } from '../../amqp/provider-event-publisher';
import { basicCredentialsMatch, type BasicCredentials } from '../../feedback/postmark/basic-auth';
import { readSnsMessage, type SnsMessage } from '../../feedback/sns/message';
import type { SubscriptionConfirmer } from '../../feedback/sns/subscription';
import type { SnsVerifier } from '../../feedback/sns/verifier';
import { jsonShapeProblem } from '../json-shape';
import { locals } from '../locals';
import { rejectDeclaredOversize } from '../middleware/json-body';
import {
  sendBodyTooLarge,
  sendCertificateUnavailable,
  sendEventUnavailable,
  sendInvalidProviderEvent,
  sendNotConfigured,
  sendSnsRefused,
  sendSubscriptionNotConfirmed,
  sendWebhookUnauthorized,
} from '../problems';

/** Largest SNS post: SNS messages are at most 256 KB, and the envelope adds to that. */
export const MAX_SNS_BODY_BYTES = 300 * 1024;

/** Largest Postmark webhook: a Bounce carries the message's `Content` when that is enabled. */
export const MAX_POSTMARK_BODY_BYTES = 1024 * 1024;

/** `mailer_provider_events_received_total`'s `result`. */
export type ProviderEventResult = 'queued' | 'ignored' | 'refused' | 'failed';

/** Counts one received event (see `ProducerMetrics.countProviderEvent`). */
export type CountProviderEvent = (provider: EventProvider, type: string, result: ProviderEventResult) => void;

/** What the provider-event routes need. */
export interface ProviderEventsDeps {
  readonly publisher: ProviderEventPublisher;
  readonly logger: Logger;
  readonly now: () => Date;
  /** Absent while `SNS_TOPIC_ARNS` is empty: the SES route answers 404. */
  readonly sns?: { readonly verifier: SnsVerifier; readonly confirmer: SubscriptionConfirmer };
  /** Absent while `POSTMARK_WEBHOOK_USER`/`_PASSWORD` are empty: the Postmark route answers 404. */
  readonly postmark?: BasicCredentials;
  readonly count?: CountProviderEvent;
}

/** SES event types counted by name (`eventType` or `notificationType`); any other is `other`. */
const SES_TYPES = new Set([
  'Bounce',
  'Complaint',
  'Delivery',
  'Send',
  'Reject',
  'Open',
  'Click',
  'Rendering Failure',
  'DeliveryDelay',
  'Subscription',
]);

/** Postmark record types counted by name; any other is `other`. */
const POSTMARK_TYPES = new Set(['Bounce', 'SpamComplaint', 'Delivery', 'SubscriptionChange', 'Open', 'Click']);

/** Postmark records accepted and not queued (nothing in the ledger uses them yet). */
const POSTMARK_IGNORED = new Set(['Open', 'Click']);

/** The SES event type inside an SNS Notification's `Message`, for the metric's `type` label. */
function sesTypeOf(message: string): string {
  try {
    const event = JSON.parse(message) as { eventType?: unknown; notificationType?: unknown } | null;
    const type = event?.eventType ?? event?.notificationType;
    return typeof type === 'string' && SES_TYPES.has(type) ? type : 'other';
  } catch {
    return 'other';
  }
}

/** The body as raw bytes, whatever its content type (SNS posts `text/plain`), capped. */
function rawBody(limit: number): RequestHandler {
  return express.raw({ type: () => true, limit });
}

/** The body as a JSON value: UTF-8, of a bounded shape, parsed; or the problem with it. */
function jsonOf(
  req: Request,
):
  | { readonly ok: true; readonly text: string; readonly value: unknown }
  | { readonly ok: false; readonly problem: string } {
  const body: unknown = req.body;
  if (!Buffer.isBuffer(body) || body.length === 0) return { ok: false, problem: 'the body is empty' };
  if (!isUtf8(body)) return { ok: false, problem: 'the body is not valid UTF-8' };
  const shape = jsonShapeProblem(body);
  if (shape !== undefined) return { ok: false, problem: `${shape.pointer}: ${shape.detail}` };
  const text = body.toString('utf8');
  try {
    return { ok: true, text, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, problem: 'the body is not valid JSON' };
  }
}

/** A 413 naming this route's own cap for a body the reader stopped at. */
function tooLargeFor(limit: number) {
  return (error: unknown, _req: Request, res: Response, next: NextFunction): void => {
    if ((error as { type?: unknown }).type === 'entity.too.large' && !res.headersSent) {
      res.setHeader('Connection', 'close');
      sendBodyTooLarge(res, limit);
      return;
    }
    next(error);
  };
}

/**
 * `POST /v1/providers/ses/events` (an SNS HTTPS subscription) and
 * `POST /v1/providers/postmark/events` (Postmark webhooks): each event is verified, then published
 * with a broker confirm, and only then answered 200 (docs/feedback.md). Nothing is deduplicated
 * here: the worker does that in the ledger.
 */
export function providerEventRoutes(deps: ProviderEventsDeps): Router {
  const router = Router();
  const count: CountProviderEvent = deps.count ?? (() => undefined);

  /** Publishes and answers 200 (empty), or 503 when the broker did not confirm. */
  const queue = async (res: Response, message: ProviderEventMessage, type: string): Promise<void> => {
    try {
      await deps.publisher.publish(message);
    } catch (error) {
      if (!(error instanceof PublishError)) throw error;
      count(message.provider, type, 'failed');
      deps.logger.warn('provider event not queued: the broker did not confirm', {
        request_id: locals(res).requestId,
        provider: message.provider,
        type,
        reason: error.reason,
      });
      sendEventUnavailable(res, error);
      return;
    }
    count(message.provider, type, 'queued');
    res.status(200).end();
  };

  /** A verified SNS message: queue a Notification, confirm a subscription, note an unsubscription. */
  const handleVerified = async (
    res: Response,
    message: SnsMessage,
    confirmer: SubscriptionConfirmer,
    context: Record<string, string>,
  ): Promise<void> => {
    switch (message.Type) {
      case 'Notification':
        await queue(
          res,
          {
            version: 1,
            provider: 'ses',
            received_at: deps.now().toISOString(),
            event_key: message.MessageId,
            body: message.Message,
          },
          sesTypeOf(message.Message),
        );
        return;
      case 'SubscriptionConfirmation': {
        const confirmed = await confirmer.confirm(message.SubscribeURL ?? '', {
          topicArn: message.TopicArn,
          messageId: message.MessageId,
        });
        if (confirmed.ok) {
          count('ses', message.Type, 'ignored');
          res.status(200).end();
        } else if (confirmed.reason === 'url-not-allowed') {
          count('ses', message.Type, 'refused');
          sendSnsRefused(res, 'subscribe-url-not-allowed', 'SubscribeURL is not on an SNS host');
        } else {
          count('ses', message.Type, 'failed');
          sendSubscriptionNotConfirmed(res);
        }
        return;
      }
      case 'UnsubscribeConfirmation':
        // Someone unsubscribed this endpoint: events stop until it is subscribed again.
        deps.logger.warn('sns subscription ended: an UnsubscribeConfirmation arrived', context);
        count('ses', message.Type, 'ignored');
        res.status(200).end();
        return;
    }
  };

  router.post(
    '/v1/providers/ses/events',
    (_req: Request, res: Response, next: NextFunction) => {
      if (deps.sns === undefined) sendNotConfigured(res, 'SNS_TOPIC_ARNS');
      else next();
    },
    rejectDeclaredOversize(MAX_SNS_BODY_BYTES),
    rawBody(MAX_SNS_BODY_BYTES),
    async (req: Request, res: Response) => {
      const sns = deps.sns;
      if (sns === undefined) return;
      const json = jsonOf(req);
      const read = json.ok ? readSnsMessage(json.value) : { ok: false as const, problem: json.problem };
      if (!read.ok) {
        count('ses', 'invalid', 'refused');
        sendInvalidProviderEvent(res, read.problem);
        return;
      }
      const message = read.message;
      const verdict = await sns.verifier.verify(message);
      const context = {
        request_id: locals(res).requestId,
        sns_type: message.Type,
        sns_message_id: message.MessageId.slice(0, 100),
        topic_arn: message.TopicArn.slice(0, 300),
      };
      if (!verdict.ok) {
        const unavailable = verdict.refusal === 'certificate-unavailable';
        count('ses', message.Type === 'Notification' ? 'unverified' : message.Type, unavailable ? 'failed' : 'refused');
        deps.logger.warn('sns message refused', { ...context, reason: verdict.refusal, detail: verdict.detail });
        if (unavailable) sendCertificateUnavailable(res);
        else sendSnsRefused(res, verdict.refusal, verdict.detail);
        return;
      }
      await handleVerified(res, message, sns.confirmer, context);
    },
    tooLargeFor(MAX_SNS_BODY_BYTES),
  );

  router.post(
    '/v1/providers/postmark/events',
    // Before the credentials, as for emails: a 401 would otherwise leave a huge body to be drained.
    rejectDeclaredOversize(MAX_POSTMARK_BODY_BYTES),
    (req: Request, res: Response, next: NextFunction) => {
      if (deps.postmark === undefined) sendNotConfigured(res, 'POSTMARK_WEBHOOK_USER and POSTMARK_WEBHOOK_PASSWORD');
      else if (!basicCredentialsMatch(req.get('authorization'), deps.postmark)) {
        count('postmark', 'unauthenticated', 'refused');
        sendWebhookUnauthorized(res, 'postmark-events');
      } else next();
    },
    rawBody(MAX_POSTMARK_BODY_BYTES),
    async (req: Request, res: Response) => {
      const json = jsonOf(req);
      const value = json.ok ? json.value : undefined;
      const recordType =
        typeof value === 'object' && value !== null && !Array.isArray(value)
          ? (value as { RecordType?: unknown }).RecordType
          : undefined;
      if (!json.ok || typeof recordType !== 'string') {
        count('postmark', 'invalid', 'refused');
        sendInvalidProviderEvent(res, json.ok ? 'the body must be an object with a string RecordType' : json.problem);
        return;
      }
      const type = POSTMARK_TYPES.has(recordType) ? recordType : 'other';
      if (POSTMARK_IGNORED.has(recordType)) {
        count('postmark', type, 'ignored');
        res.status(200).end();
        return;
      }
      await queue(
        res,
        { version: 1, provider: 'postmark', received_at: deps.now().toISOString(), body: json.text },
        type,
      );
    },
    tooLargeFor(MAX_POSTMARK_BODY_BYTES),
  );

  return router;
}
