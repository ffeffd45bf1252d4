import type { Logger } from '@mailer/service';
import { boundedGet, type BoundedGetOptions, type BoundedResponse } from '../bounded-get';
import { isSubscribeUrl } from './urls';

/** Largest answer read from a SubscribeURL (SNS answers a small XML document). */
export const MAX_CONFIRMATION_BYTES = 64 * 1024;

/** What confirming a subscription came to. */
export type ConfirmationResult =
  | { readonly ok: true; readonly status: number }
  | { readonly ok: false; readonly reason: 'url-not-allowed' | 'failed'; readonly detail: string };

/**
 * Confirms SNS subscriptions of allowed topics by GETting their `SubscribeURL`, only on SNS's hosts
 * (or an origin of `SNS_TRUSTED_ORIGINS`). Logs the answer's status, never the URL: it holds the
 * subscription's token.
 */
export class SubscriptionConfirmer {
  private readonly get: (url: string, options: BoundedGetOptions) => Promise<BoundedResponse>;

  constructor(
    private readonly options: {
      readonly trustedOrigins: readonly string[];
      readonly timeoutMs: number;
      readonly logger: Logger;
      readonly get?: (url: string, options: BoundedGetOptions) => Promise<BoundedResponse>;
    },
  ) {
    this.get = options.get ?? boundedGet;
  }

  async confirm(
    subscribeUrl: string,
    context: { readonly topicArn: string; readonly messageId: string },
  ): Promise<ConfirmationResult> {
    const { logger } = this.options;
    if (!isSubscribeUrl(subscribeUrl, this.options.trustedOrigins)) {
      logger.warn('sns subscription not confirmed: SubscribeURL is not on an SNS host', {
        topic_arn: context.topicArn,
        sns_message_id: context.messageId,
      });
      return { ok: false, reason: 'url-not-allowed', detail: 'SubscribeURL is not on an SNS host' };
    }
    try {
      const { status } = await this.get(subscribeUrl, {
        timeoutMs: this.options.timeoutMs,
        maxBytes: MAX_CONFIRMATION_BYTES,
      });
      const fields = { topic_arn: context.topicArn, sns_message_id: context.messageId, status };
      if (status >= 200 && status < 300) {
        logger.info('sns subscription confirmed', fields);
        return { ok: true, status };
      }
      logger.warn('sns subscription confirmation refused', fields);
      return { ok: false, reason: 'failed', detail: `SubscribeURL answered ${status}` };
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      logger.warn('sns subscription confirmation failed', {
        topic_arn: context.topicArn,
        sns_message_id: context.messageId,
        error: detail,
      });
      return { ok: false, reason: 'failed', detail };
    }
  }
}
