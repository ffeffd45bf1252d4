import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { batchIndexOf, type ValidationProblem } from '@mailer/contract';
import {
  acceptBatch,
  acceptEmail,
  type AcceptDeps,
  type AcceptOutcome,
  type BatchItem,
  type Caller,
  type Refusal,
} from '../domain/accept-emails';
import { findApiKey, type ApiKey } from '../domain/api-keys';
import type { PublishError, Readiness } from '../domain/publisher';
import { maskAddress, type Logger } from '../log/logger';
import { openApiDocument } from './openapi';
import { ProblemType, RETRY_AFTER_SECONDS, sendProblem } from './problem';

/** Everything the HTTP app needs; `main.ts` builds these from configuration. */
export interface AppDeps extends AcceptDeps {
  readonly apiKeys: readonly ApiKey[];
  readonly logger: Logger;
  readonly maxBodyBytes: number;
  readonly readiness: () => Readiness;
}

interface Locals {
  requestId: string;
  client?: ApiKey;
  emailIds?: string[];
  /** Masked sender address of an accepted email. */
  from?: string;
}

const locals = (res: Response): Locals => res.locals as Locals;

const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

/** Paths this API serves, with the methods each allows (for 405 and `Allow`). */
const routes: Readonly<Record<string, string>> = {
  '/v1/emails': 'POST',
  '/v1/emails/batch': 'POST',
  '/healthz': 'GET, HEAD',
  '/readyz': 'GET, HEAD',
  '/openapi.json': 'GET, HEAD',
};

/**
 * Whether an email whose publish failed this way may be in the queue all the same: the broker
 * may have taken it before its confirm was lost or late. A retry can then queue it twice.
 */
export function mayHaveBeenQueued(error: PublishError): boolean {
  return error.reason === 'timeout' || error.reason === 'channel-closed';
}

function unavailable(res: Response, error: PublishError, extra: Record<string, unknown> = {}): void {
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

function withIndex(problems: readonly ValidationProblem[]): object[] {
  return problems.map((p) => {
    const index = batchIndexOf(p.pointer);
    return index === undefined ? p : { ...p, index };
  });
}

function refused(res: Response, refusal: Refusal): void {
  switch (refusal.kind) {
    case 'invalid':
      sendProblem(res, {
        type: ProblemType.validation,
        title: 'Request is invalid',
        status: 400,
        detail: `${refusal.problems.length} problem(s) found; nothing was queued.`,
        errors: withIndex(refusal.problems),
      });
      return;
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

/**
 * Builds the Express app. Reads no environment and opens no connection, so tests run the real
 * app in-process against whatever broker the given publisher talks to.
 */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req: Request, res: Response, next: NextFunction) => {
    const given = req.get('x-request-id');
    const requestId = given !== undefined && requestIdPattern.test(given) ? given : randomUUID();
    locals(res).requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const l = locals(res);
      deps.logger.info('request', {
        request_id: requestId,
        method: req.method,
        path: req.path,
        status: res.statusCode,
        duration_ms: Number(process.hrtime.bigint() - started) / 1e6,
        client: l.client?.name,
        email_ids: l.emailIds,
        from: l.from,
      });
    });
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', (_req, res) => {
    const readiness = deps.readiness();
    res.status(readiness.ready ? 200 : 503).json({
      status: readiness.ready ? 'ready' : 'not-ready',
      ...(readiness.reason === undefined ? {} : { reason: readiness.reason }),
    });
  });

  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });

  const authenticate = (req: Request, res: Response, next: NextFunction): void => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    const client = match?.[1] === undefined ? undefined : findApiKey(deps.apiKeys, match[1]);
    if (client === undefined) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="mailer"');
      sendProblem(res, {
        type: ProblemType.unauthorized,
        title: 'A valid API key is required',
        status: 401,
        detail: 'Send "Authorization: Bearer <api key>" with a key from API_KEYS.',
      });
      return;
    }
    locals(res).client = client;
    next();
  };

  const requireJson = (req: Request, res: Response, next: NextFunction): void => {
    if (req.is('application/json') === 'application/json') {
      next();
      return;
    }
    sendProblem(res, {
      type: ProblemType.unsupportedMediaType,
      title: 'Unsupported media type',
      status: 415,
      detail: `Send the body as application/json (got ${req.get('content-type') ?? 'no Content-Type'}).`,
    });
  };

  const parseJson = express.json({ limit: deps.maxBodyBytes, type: 'application/json', strict: true });

  const caller = (res: Response): Caller => {
    const l = locals(res);
    if (l.client === undefined) throw new Error('authenticate must run before the handler');
    return { client: l.client, requestId: l.requestId };
  };

  app.post('/v1/emails', authenticate, requireJson, parseJson, async (req: Request, res: Response) => {
    const outcome: AcceptOutcome = await acceptEmail(deps, caller(res), req.body);
    switch (outcome.kind) {
      case 'accepted':
        locals(res).emailIds = [outcome.id];
        locals(res).from = maskAddress((req.body as { from: { email: string } }).from.email);
        res.status(202).location(`/v1/emails/${outcome.id}`).json({ id: outcome.id, status: 'queued' });
        return;
      case 'unavailable':
        deps.logger.warn('email not queued', { request_id: locals(res).requestId, reason: outcome.error.reason });
        unavailable(res, outcome.error);
        return;
      default:
        refused(res, outcome);
    }
  });

  app.post('/v1/emails/batch', authenticate, requireJson, parseJson, async (req: Request, res: Response) => {
    const outcome = await acceptBatch(deps, caller(res), req.body);
    if (outcome.kind !== 'published') {
      refused(res, outcome);
      return;
    }
    const queued = outcome.items.filter((item) => item.status === 'queued');
    locals(res).emailIds = queued.map((item) => item.id);
    const describe = (item: BatchItem): object =>
      item.status === 'queued'
        ? { index: item.index, id: item.id, status: 'queued' }
        : { index: item.index, status: 'failed', reason: item.error.reason, detail: item.error.message };
    const firstFailure = outcome.items.find((item) => item.status === 'failed');
    if (firstFailure === undefined) {
      res.status(202).json({ items: outcome.items.map(describe) });
      return;
    }
    deps.logger.warn('batch partly queued', {
      request_id: locals(res).requestId,
      queued: queued.length,
      failed: outcome.items.length - queued.length,
      reason: firstFailure.error.reason,
    });
    unavailable(res, firstFailure.error, {
      detail: `${queued.length} of ${outcome.items.length} emails were queued; the items list says which. Retry only the failed ones.`,
      items: outcome.items.map(describe),
    });
  });

  app.use((req: Request, res: Response) => {
    const allowed = routes[req.path];
    if (allowed !== undefined) {
      res.setHeader('Allow', allowed);
      sendProblem(res, {
        type: ProblemType.methodNotAllowed,
        title: 'Method not allowed',
        status: 405,
        detail: `${req.method} is not allowed on ${req.path}; allowed: ${allowed}.`,
      });
      return;
    }
    sendProblem(res, {
      type: ProblemType.notFound,
      title: 'Not found',
      status: 404,
      detail: `No route ${req.path}.`,
    });
  });

  app.use((error: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const bodyError = error as { type?: unknown; status?: unknown; message?: unknown };
    switch (bodyError.type) {
      case 'entity.too.large':
        sendProblem(res, {
          type: ProblemType.tooLarge,
          title: 'Request body too large',
          status: 413,
          detail: `The body may be at most ${deps.maxBodyBytes} bytes.`,
        });
        return;
      case 'entity.parse.failed':
        sendProblem(res, {
          type: ProblemType.malformedJson,
          title: 'Malformed JSON',
          status: 400,
          detail: 'The body is not a JSON object or array.',
        });
        return;
      case 'encoding.unsupported':
      case 'charset.unsupported':
        sendProblem(res, {
          type: ProblemType.unsupportedMediaType,
          title: 'Unsupported media type',
          status: 415,
          detail: 'Send the body as application/json in UTF-8 (Content-Encoding gzip, deflate or br is accepted).',
        });
        return;
    }
    if (typeof bodyError.status === 'number' && bodyError.status >= 400 && bodyError.status < 500) {
      sendProblem(res, {
        type: ProblemType.badRequest,
        title: 'Bad request',
        status: bodyError.status,
        detail: typeof bodyError.message === 'string' ? bodyError.message : 'The request could not be read.',
      });
      return;
    }
    deps.logger.error('unhandled error', {
      request_id: locals(res).requestId,
      path: req.path,
      error: error instanceof Error ? `${error.name}: ${error.message}` : 'non-error thrown',
    });
    sendProblem(res, {
      type: ProblemType.internal,
      title: 'Internal error',
      status: 500,
      detail: `Something went wrong on our side; quote request id ${locals(res).requestId}.`,
    });
  });

  return app;
}
