import express from 'express';
import type { Readiness } from '@mailer/contract';
import type { AcceptDeps } from '../domain/accept-emails';
import type { ApiKey } from '../domain/api-keys';
import type { Logger } from '@mailer/service';
import { authenticate } from './middleware/authenticate';
import { drainGate } from './middleware/drain-gate';
import { errorHandler, notFound } from './middleware/fallback';
import { jsonBody, rejectDeclaredOversize } from './middleware/json-body';
import { idempotencyKey } from './middleware/idempotency-key';
import { requestContext } from './middleware/request-context';
import type { ProducerMetrics } from '../metrics/producer-metrics';
import { docsRoutes } from './routes/docs';
import { emailRoutes } from './routes/emails';
import { healthRoutes } from './routes/health';
import { providerEventRoutes, type ProviderEventsDeps } from './routes/provider-events';
import { statusRoutes } from './routes/status';
import { MAX_SUPPRESSION_BODY_BYTES, suppressionRoutes } from './routes/suppressions';
import { MAX_WEBHOOK_BODY_BYTES, webhookRoutes } from './routes/webhooks';
import type { SuppressionDeps } from '../domain/suppressions';
import type { WebhooksSetting } from '../domain/webhooks';

/** Everything the HTTP app needs; `main.ts` builds these from configuration. */
export interface AppDeps extends AcceptDeps {
  readonly apiKeys: readonly ApiKey[];
  readonly logger: Logger;
  readonly maxBodyBytes: number;
  /** The broker's and, with the ledger, the ledger's readiness together (see `combineReadiness`). */
  readonly readiness: () => Readiness | Promise<Readiness>;
  /** True once shutdown began: from then on every new request gets 503 and `Connection: close`. */
  readonly draining?: () => boolean;
  /** Times requests and serves `GET /metrics`; absent: neither. */
  readonly metrics?: ProducerMetrics;
  /** The provider-event endpoints; absent: both answer 404 (not configured). */
  readonly providerEvents?: Omit<ProviderEventsDeps, 'logger' | 'now' | 'count'>;
  /** The suppression list (`/v1/suppressions`); absent with `LEDGER=off`: those routes answer 501. */
  readonly suppressions?: Omit<SuppressionDeps, 'now'>;
  /** `/v1/webhooks`: on, or off and why (then those routes answer 503); absent: off. */
  readonly webhooks?: WebhooksSetting;
}

/** Paths this API serves, with the methods each allows (for 405 and `Allow`). */
const allowedMethods: Readonly<Record<string, string>> = {
  '/v1/emails': 'GET, HEAD, POST',
  '/v1/emails/batch': 'POST',
  '/v1/suppressions': 'DELETE, GET, HEAD, POST',
  '/v1/webhooks': 'GET, HEAD, POST',
  '/v1/providers/ses/events': 'POST',
  '/v1/providers/postmark/events': 'POST',
  '/healthz': 'GET, HEAD',
  '/readyz': 'GET, HEAD',
  '/openapi.json': 'GET, HEAD',
  '/metrics': 'GET, HEAD',
  '/docs': 'GET, HEAD',
};

/** Paths with an id in them, with the methods each allows. */
const allowedPatterns: readonly (readonly [RegExp, string])[] = [
  [/^\/v1\/emails\/[^/]+$/, 'GET, HEAD'],
  [/^\/v1\/webhooks\/[^/]+$/, 'DELETE, GET, HEAD, PATCH'],
  [/^\/v1\/webhooks\/[^/]+\/(?:rotate-secret|test)$/, 'POST'],
  [/^\/v1\/webhooks\/[^/]+\/deliveries$/, 'GET, HEAD'],
];

/** The methods `path` allows; `/v1/emails/<id>` and the webhook paths for any id. */
function methodsFor(path: string): string | undefined {
  return allowedMethods[path] ?? allowedPatterns.find(([pattern]) => pattern.test(path))?.[1];
}

/**
 * Builds the Express app. Reads no environment and opens no connection, so tests run the real
 * app in-process against whatever broker the given publisher talks to.
 */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const draining = deps.draining ?? (() => false);
  const fallback = notFound(methodsFor);
  if (deps.metrics !== undefined) app.use(deps.metrics.middleware);
  app.use(requestContext(deps.logger));
  // Express's routers answer OPTIONS themselves (200 with `Allow`); this API serves no OPTIONS,
  // so it gets the 405 (or 404) of any method a path does not serve, before any route sees it.
  app.use((req, res, next) => {
    if (req.method === 'OPTIONS') fallback(req, res);
    else next();
  });
  // Scraped while draining too: the last figures of a stopping producer are still read.
  if (deps.metrics !== undefined) app.get('/metrics', deps.metrics.handler);
  // Probes still answer while draining, so a load balancer sees /readyz turn 503.
  app.use(healthRoutes(() => (draining() ? { ready: false, reason: 'shutting down' } : deps.readiness())));
  app.use(drainGate(draining));
  app.use(docsRoutes());
  // Authenticated by the SNS signature or the webhook's Basic credentials, not by an API key.
  app.use(
    providerEventRoutes({
      publisher: deps.providerEvents?.publisher ?? { publish: () => Promise.reject(new Error('not configured')) },
      ...(deps.providerEvents?.sns === undefined ? {} : { sns: deps.providerEvents.sns }),
      ...(deps.providerEvents?.postmark === undefined ? {} : { postmark: deps.providerEvents.postmark }),
      logger: deps.logger,
      now: deps.now,
      ...(deps.metrics === undefined ? {} : { count: deps.metrics.countProviderEvent }),
    }),
  );
  app.use(
    emailRoutes({
      ...deps,
      ...(deps.metrics === undefined ? {} : { countSuppressed: deps.metrics.countSuppressedAtIntake }),
      before: [
        rejectDeclaredOversize(deps.maxBodyBytes),
        authenticate(deps.apiKeys, 'send'),
        idempotencyKey(deps.ledger !== undefined),
        ...jsonBody(deps.maxBodyBytes),
      ],
    }),
  );
  app.use(
    statusRoutes({
      ...(deps.ledger === undefined ? {} : { ledger: deps.ledger }),
      logger: deps.logger,
      before: [authenticate(deps.apiKeys, 'read')],
    }),
  );
  app.use(
    suppressionRoutes({
      ...(deps.suppressions === undefined ? {} : { suppressions: { ...deps.suppressions, now: deps.now } }),
      logger: deps.logger,
      authenticate: authenticate(deps.apiKeys, 'suppressions'),
      maxBodyBytes: Math.min(deps.maxBodyBytes, MAX_SUPPRESSION_BODY_BYTES),
    }),
  );
  app.use(
    webhookRoutes({
      webhooks: deps.webhooks ?? { off: 'this producer was started without them' },
      logger: deps.logger,
      authenticate: authenticate(deps.apiKeys, 'webhooks'),
      maxBodyBytes: Math.min(deps.maxBodyBytes, MAX_WEBHOOK_BODY_BYTES),
    }),
  );
  app.use(fallback);
  app.use(errorHandler(deps));

  return app;
}
