import { Router, type Request, type RequestHandler, type Response } from 'express';
import { acceptBatch, acceptEmail, type AcceptDeps, type BatchItem, type Caller } from '../../domain/accept-emails';
import { maskAddress, type Logger } from '@mailer/service';
import { locals } from '../locals';
import { sendRefusal, sendUnavailable } from '../problems';

/** What the email routes need besides the use cases' own dependencies. */
export interface EmailRoutesDeps extends AcceptDeps {
  readonly logger: Logger;
  /** Runs before each handler: size, authentication and body checks, then the parser. */
  readonly before: readonly RequestHandler[];
}

const caller = (res: Response): Caller => {
  const l = locals(res);
  if (l.client === undefined) throw new Error('authenticate must run before the handler');
  return { client: l.client, requestId: l.requestId };
};

const describe = (item: BatchItem): object =>
  item.status === 'queued'
    ? { index: item.index, id: item.id, status: 'queued' }
    : { index: item.index, status: 'failed', reason: item.error.reason, detail: item.error.message };

/** `POST /v1/emails` and `POST /v1/emails/batch`: decode, call the use case, map the outcome. */
export function emailRoutes(deps: EmailRoutesDeps): Router {
  const router = Router();

  router.post('/v1/emails', ...deps.before, async (req: Request, res: Response) => {
    const outcome = await acceptEmail(deps, caller(res), req.body);
    switch (outcome.kind) {
      case 'accepted':
        locals(res).emailIds = [outcome.id];
        locals(res).from = maskAddress((req.body as { from: { email: string } }).from.email);
        res.status(202).location(`/v1/emails/${outcome.id}`).json({ id: outcome.id, status: 'queued' });
        return;
      case 'unavailable':
        deps.logger.warn('email not queued', { request_id: locals(res).requestId, reason: outcome.error.reason });
        sendUnavailable(res, outcome.error);
        return;
      default:
        sendRefusal(res, outcome);
    }
  });

  router.post('/v1/emails/batch', ...deps.before, async (req: Request, res: Response) => {
    const outcome = await acceptBatch(deps, caller(res), req.body);
    if (outcome.kind !== 'published') {
      sendRefusal(res, outcome);
      return;
    }
    const queued = outcome.items.filter((item) => item.status === 'queued');
    locals(res).emailIds = queued.map((item) => item.id);
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
    sendUnavailable(res, firstFailure.error, {
      detail: `${queued.length} of ${outcome.items.length} emails were queued; the items list says which. Retry only the failed ones.`,
      items: outcome.items.map(describe),
    });
  });

  return router;
}
