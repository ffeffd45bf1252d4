import express from 'express';
import type { Readiness } from '@mailer/contract';
import type { AcceptDeps } from '../domain/accept-emails';
import type { ApiKey } from '../domain/api-keys';
import type { Logger } from '@mailer/service';
import { authenticate } from './middleware/authenticate';
import { drainGate } from './middleware/drain-gate';
import { errorHandler, notFound } from './middleware/fallback';
import { jsonBody, rejectDeclaredOversize } from './middleware/json-body';
import { requestContext } from './middleware/request-context';
import { docsRoutes } from './routes/docs';
import { emailRoutes } from './routes/emails';
import { healthRoutes } from './routes/health';

/** Everything the HTTP app needs; `main.ts` builds these from configuration. */
export interface AppDeps extends AcceptDeps {
  readonly apiKeys: readonly ApiKey[];
  readonly logger: Logger;
  readonly maxBodyBytes: number;
  readonly readiness: () => Readiness;
  /** True once shutdown began: from then on every new request gets 503 and `Connection: close`. */
  readonly draining?: () => boolean;
}

/** Paths this API serves, with the methods each allows (for 405 and `Allow`). */
const allowedMethods: Readonly<Record<string, string>> = {
  '/v1/emails': 'POST',
  '/v1/emails/batch': 'POST',
  '/healthz': 'GET, HEAD',
  '/readyz': 'GET, HEAD',
  '/openapi.json': 'GET, HEAD',
};

/**
 * Builds the Express app. Reads no environment and opens no connection, so tests run the real
 * app in-process against whatever broker the given publisher talks to.
 */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const draining = deps.draining ?? (() => false);
  app.use(requestContext(deps.logger));
  // Probes still answer while draining, so a load balancer sees /readyz turn 503.
  app.use(healthRoutes(() => (draining() ? { ready: false, reason: 'shutting down' } : deps.readiness())));
  app.use(drainGate(draining));
  app.use(docsRoutes());
  app.use(
    emailRoutes({
      ...deps,
      before: [rejectDeclaredOversize(deps.maxBodyBytes), authenticate(deps.apiKeys), ...jsonBody(deps.maxBodyBytes)],
    }),
  );
  app.use(notFound(allowedMethods));
  app.use(errorHandler(deps));

  return app;
}
