import type { Response } from 'express';
import { batchIndexOf, mayHaveBeenQueued, type PublishError, type ValidationProblem } from '@mailer/contract';
import type { Refusal } from '../domain/accept-emails';

/** An RFC 9457 problem document; extension members sit beside the standard ones. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly [extension: string]: unknown;
}

/** Problem types this API answers with; each is documented in docs/errors.md. */
export const ProblemType = {
  validation: '/problems/validation',
  malformedJson: '/problems/malformed-json',
  unauthorized: '/problems/unauthorized',
  insufficientScope: '/problems/insufficient-scope',
  forbiddenSender: '/problems/forbidden-sender',
  tooLarge: '/problems/too-large',
  unsupportedMediaType: '/problems/unsupported-media-type',
  notFound: '/problems/not-found',
  methodNotAllowed: '/problems/method-not-allowed',
  brokerUnavailable: '/problems/broker-unavailable',
  notReady: '/problems/not-ready',
  badRequest: '/problems/bad-request',
  internal: '/problems/internal',
  invalidIdempotencyKey: '/problems/invalid-idempotency-key',
  idempotencyKeyReused: '/problems/idempotency-key-reused',
  idempotencyKeyInFlight: '/problems/idempotency-key-in-flight',
  ledgerUnavailable: '/problems/ledger-unavailable',
  ledgerOff: '/problems/ledger-off',
  invalidQuery: '/problems/invalid-query',
  notConfigured: '/problems/not-configured',
  invalidProviderEvent: '/problems/invalid-provider-event',
  snsMessageRefused: '/problems/sns-message-refused',
  certificateUnavailable: '/problems/certificate-unavailable',
  subscriptionNotConfirmed: '/problems/subscription-not-confirmed',
  webhooksOff: '/problems/webhooks-off',
  webhookDisabled: '/problems/webhook-disabled',
} as const;

/** Seconds a caller should wait before retrying after a 503. */
export const RETRY_AFTER_SECONDS = 5;

/** Sends `problem` as `application/problem+json` with its status. */
export function sendProblem(res: Response, problem: Problem): void {
  res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
}

/** 503: the broker did not confirm; `extra` adds or overrides members (the batch's items). */
export function sendUnavailable(res: Response, error: PublishError, extra: Record<string, unknown> = {}): void {
  res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
  const outcome = mayHaveBeenQueued(error)
    ? 'The broker did not confirm it, so it may or may not be queued'
    : 'It was not queued';
  sendProblem(res, {
    type: ProblemType.brokerUnavailable,
    title: 'Email not accepted: the message broker did not confirm it',
    status: 503,
    detail: `${error.message}. ${outcome}; retry after ${RETRY_AFTER_SECONDS} seconds.`,
    reason: error.reason,
    ...extra,
  });
}

/**
 * 503 for a request that arrived after shutdown began. `Connection: close` makes the client
 * take its next request to another instance instead of this closing one.
 */
export function sendShuttingDown(res: Response): void {
  res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
  res.setHeader('Connection', 'close');
  sendProblem(res, {
    type: ProblemType.notReady,
    title: 'Service not ready',
    status: 503,
    detail: `This instance is shutting down and takes no new requests; nothing was queued. Retry after ${RETRY_AFTER_SECONDS} seconds.`,
  });
}

const ledgerUnavailableTitles = {
  accept: 'Email not accepted: the ledger cannot be reached',
  read: 'Email status unavailable: the ledger cannot be reached',
  suppressions: 'Suppression list unavailable: the ledger cannot be reached',
  webhooks: 'Webhooks unavailable: the ledger cannot be reached',
} as const;

/** 503: the ledger cannot be reached, so nothing was recorded or published (or read). */
export function sendLedgerUnavailable(res: Response, what: keyof typeof ledgerUnavailableTitles): void {
  res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
  sendProblem(res, {
    type: ProblemType.ledgerUnavailable,
    title: ledgerUnavailableTitles[what],
    status: 503,
    detail:
      what === 'accept'
        ? `The ledger that records every email cannot be reached; nothing was queued. Retry after ${RETRY_AFTER_SECONDS} seconds.`
        : `The ledger cannot be reached. Retry after ${RETRY_AFTER_SECONDS} seconds.`,
    reason: 'ledger-unavailable',
  });
}

const ledgerOffDetails = {
  'idempotency-key':
    'Idempotency-Key needs the ledger, and this producer runs with LEDGER=off; nothing was queued. Send the request without the header, or to a producer with the ledger.',
  status: 'Email status needs the ledger, and this producer runs with LEDGER=off.',
  suppressions:
    'The suppression list is kept in the ledger, and this producer runs with LEDGER=off: it has no list to read or change.',
} as const;

/** 501: this producer runs with `LEDGER=off`, so it keeps no record to read or key by. */
export function sendLedgerOff(res: Response, what: keyof typeof ledgerOffDetails): void {
  sendProblem(res, {
    type: ProblemType.ledgerOff,
    title: 'Not available: this producer runs without the ledger',
    status: 501,
    detail: ledgerOffDetails[what],
  });
}

/** 403: the API key is valid but lacks the scope this route needs (see `API_KEYS` `scopes`). */
export function sendInsufficientScope(res: Response, scope: string): void {
  sendProblem(res, {
    type: ProblemType.insufficientScope,
    title: 'API key lacks the scope this request needs',
    status: 403,
    detail: `This API key does not have the "${scope}" scope; nothing was done. Scopes are set per key in API_KEYS.`,
    scope,
  });
}

/** 404 for an address that is not on the suppression list (or whose entry expired). */
export function sendNotSuppressed(res: Response): void {
  sendProblem(res, {
    type: ProblemType.notFound,
    title: 'Not found',
    status: 404,
    detail: 'This address is not on the suppression list.',
  });
}

/** Seconds a caller should wait before retrying a request whose key is still held. */
export function inFlightRetryAfterSeconds(staleInMs: number): number {
  return Math.min(2, Math.max(1, Math.ceil(staleInMs / 1000)));
}

/** 409: the first request with this `Idempotency-Key` is still under way. */
export function sendKeyInFlight(res: Response, staleInMs: number): void {
  const seconds = inFlightRetryAfterSeconds(staleInMs);
  res.setHeader('Retry-After', String(seconds));
  sendProblem(res, {
    type: ProblemType.idempotencyKeyInFlight,
    title: 'A request with this Idempotency-Key is still under way',
    status: 409,
    detail: `Retry after ${seconds} second(s): you then get its answer, or this request is taken over if the first one died.`,
  });
}

/** 422: the `Idempotency-Key` was used with another request body. */
export function sendKeyReused(res: Response): void {
  sendProblem(res, {
    type: ProblemType.idempotencyKeyReused,
    title: 'Idempotency-Key already used for another request',
    status: 422,
    detail:
      'This API key sent another body (or to another route) with this Idempotency-Key; nothing was queued. Use a new key for a new request.',
  });
}

/** 404 for an email id: unknown, malformed and another caller's all get exactly this. */
export function sendEmailNotFound(res: Response): void {
  sendProblem(res, {
    type: ProblemType.notFound,
    title: 'Not found',
    status: 404,
    detail: 'No email with this id for this API key.',
  });
}

/** 400 for query parameters of a list; each entry names a parameter. */
export function sendInvalidQuery(
  res: Response,
  errors: readonly { readonly parameter: string; readonly detail: string }[],
): void {
  sendProblem(res, {
    type: ProblemType.invalidQuery,
    title: 'Query parameters are invalid',
    status: 400,
    detail: `${errors.length} problem(s) found.`,
    errors,
  });
}

/** 413 for a body over the cap. */
export function sendBodyTooLarge(res: Response, maxBodyBytes: number): void {
  sendProblem(res, {
    type: ProblemType.tooLarge,
    title: 'Request body too large',
    status: 413,
    detail: `The body may be at most ${maxBodyBytes} bytes.`,
  });
}

function withIndex(problems: readonly ValidationProblem[]): object[] {
  return problems.map((p) => {
    const index = batchIndexOf(p.pointer);
    return index === undefined ? p : { ...p, index };
  });
}

/** 400, 413 or 403 for a request refused before anything was published. */
export function sendRefusal(res: Response, refusal: Refusal): void {
  switch (refusal.kind) {
    case 'invalid': {
      const found = refusal.problems.length + refusal.omitted;
      sendProblem(res, {
        type: ProblemType.validation,
        title: 'Request is invalid',
        status: 400,
        detail:
          refusal.omitted === 0
            ? `${found} problem(s) found; nothing was queued.`
            : `${found} problems found, the first ${refusal.problems.length} listed; nothing was queued.`,
        errors: withIndex(refusal.problems),
        ...(refusal.omitted === 0 ? {} : { errors_omitted: refusal.omitted }),
      });
      return;
    }
    case 'too-large':
      sendProblem(res, {
        type: ProblemType.tooLarge,
        title: 'Attachments too large',
        status: 413,
        detail: 'The attachments of one email may total at most 7 MiB (decoded); nothing was queued.',
        errors: withIndex(refusal.pointers.map((pointer) => ({ pointer, detail: 'over the attachment size cap' }))),
      });
      return;
    case 'forbidden-sender':
      sendProblem(res, {
        type: ProblemType.forbiddenSender,
        title: 'Sender not allowed for this API key',
        status: 403,
        detail: 'This API key may not send from the address(es) named; nothing was queued.',
        errors: withIndex(
          refusal.senders.map(({ pointer, address }) => ({ pointer, detail: `may not send from ${address}` })),
        ),
      });
      return;
  }
}

/** 404 for a provider-events endpoint whose settings are empty (`SNS_TOPIC_ARNS`, `POSTMARK_WEBHOOK_*`). */
export function sendNotConfigured(res: Response, settings: string): void {
  sendProblem(res, {
    type: ProblemType.notConfigured,
    title: 'Not configured',
    status: 404,
    detail: `This endpoint is off until ${settings} is set.`,
  });
}

/** 400 for a provider event that is not of the provider's shape. */
export function sendInvalidProviderEvent(res: Response, problem: string): void {
  sendProblem(res, {
    type: ProblemType.invalidProviderEvent,
    title: 'Not a provider event',
    status: 400,
    detail: `${problem}; nothing was queued.`,
  });
}

/** 403 for an SNS message refused by its signature, certificate URL or topic. */
export function sendSnsRefused(res: Response, reason: string, detail: string): void {
  sendProblem(res, {
    type: ProblemType.snsMessageRefused,
    title: 'SNS message refused',
    status: 403,
    detail: `${detail}; nothing was queued.`,
    reason,
  });
}

/** 503 when the signing certificate cannot be had: SNS retries (for up to an hour). */
export function sendCertificateUnavailable(res: Response): void {
  res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
  sendProblem(res, {
    type: ProblemType.certificateUnavailable,
    title: 'SNS message not verified: its signing certificate cannot be had',
    status: 503,
    detail: `The signing certificate could not be fetched or read; nothing was queued. Retry after ${RETRY_AFTER_SECONDS} seconds.`,
  });
}

/** 503 when the SubscribeURL of an allowed topic did not confirm the subscription: SNS sends it again. */
export function sendSubscriptionNotConfirmed(res: Response): void {
  res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
  sendProblem(res, {
    type: ProblemType.subscriptionNotConfirmed,
    title: 'SNS subscription not confirmed',
    status: 503,
    detail: `Fetching the SubscribeURL failed or was refused. Retry after ${RETRY_AFTER_SECONDS} seconds.`,
  });
}

/** 503: the broker did not confirm a provider event; the provider retries. */
export function sendEventUnavailable(res: Response, error: PublishError): void {
  res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
  sendProblem(res, {
    type: ProblemType.brokerUnavailable,
    title: 'Event not accepted: the message broker did not confirm it',
    status: 503,
    detail: `${error.message}. Retry after ${RETRY_AFTER_SECONDS} seconds.`,
    reason: error.reason,
  });
}

/** 401 for a Postmark webhook without the configured Basic credentials. */
export function sendWebhookUnauthorized(res: Response, realm: string): void {
  res.setHeader('WWW-Authenticate', `Basic realm="${realm}"`);
  sendProblem(res, {
    type: ProblemType.unauthorized,
    title: 'Valid webhook credentials are required',
    status: 401,
    detail: 'Send HTTP Basic credentials matching POSTMARK_WEBHOOK_USER and POSTMARK_WEBHOOK_PASSWORD.',
  });
}

/** 503: this producer runs without webhooks (`LEDGER=off`, or `WEBHOOK_SECRETS_KEY` empty); `why` names which. */
export function sendWebhooksOff(res: Response, why: string): void {
  sendProblem(res, {
    type: ProblemType.webhooksOff,
    title: 'Webhooks are off on this producer',
    status: 503,
    detail: `Webhooks are off: ${why}. Nothing was done.`,
  });
}

/** 404 for a webhook endpoint id: unknown, malformed and another caller's all get exactly this. */
export function sendWebhookNotFound(res: Response): void {
  sendProblem(res, {
    type: ProblemType.notFound,
    title: 'Not found',
    status: 404,
    detail: 'No webhook endpoint with this id for this API key.',
  });
}

/** 409: a test delivery to a disabled endpoint would not be sent. */
export function sendWebhookDisabled(res: Response): void {
  sendProblem(res, {
    type: ProblemType.webhookDisabled,
    title: 'Webhook endpoint is disabled',
    status: 409,
    detail:
      'This endpoint is disabled, so a test delivery would not be sent; nothing was queued. Re-enable it with ' +
      'PATCH {"enabled": true} first.',
  });
}

/** 503: the broker did not confirm a test delivery. */
export function sendTestDeliveryUnavailable(res: Response, error: PublishError): void {
  res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
  sendProblem(res, {
    type: ProblemType.brokerUnavailable,
    title: 'Test delivery not queued: the message broker did not confirm it',
    status: 503,
    detail: `${error.message}. Retry after ${RETRY_AFTER_SECONDS} seconds.`,
    reason: error.reason,
  });
}
