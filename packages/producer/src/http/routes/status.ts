import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { EmailLedger } from '../../domain/email-ledger';
import { findEmail, listEmails } from '../../domain/email-status';
import type { Logger } from '@mailer/service';
import { emailJson, nextPagePath, parseListQuery, summaryJson } from '../email-views';
import { locals } from '../locals';
import { sendEmailNotFound, sendInvalidQuery, sendLedgerOff, sendLedgerUnavailable } from '../problems';

/** What the status routes need. */
export interface StatusRoutesDeps {
  /** Absent with `LEDGER=off`: both routes then answer 501. */
  readonly ledger?: EmailLedger;
  readonly logger: Logger;
  /** Authentication. */
  readonly before: readonly RequestHandler[];
}

const clientOf = (res: Response) => {
  const { client } = locals(res);
  if (client === undefined) throw new Error('authenticate must run before the handler');
  return client;
};

/** `GET /v1/emails/{id}` and `GET /v1/emails`: the caller's emails as the ledger records them. */
export function statusRoutes(deps: StatusRoutesDeps): Router {
  const router = Router();
  const { ledger } = deps;
  const unavailable = (res: Response, error: Error) => {
    deps.logger.warn('email status not read: ledger unavailable', {
      request_id: locals(res).requestId,
      error: error.message,
    });
    sendLedgerUnavailable(res, 'read');
  };

  router.get('/v1/emails/:id', ...deps.before, async (req: Request<{ id: string }>, res: Response, next) => {
    // `GET /v1/emails/batch` is the batch route with the wrong method: a 405, not an unknown email.
    if (req.params.id === 'batch') {
      next('route');
      return;
    }
    if (ledger === undefined) {
      sendLedgerOff(res, 'status');
      return;
    }
    const outcome = await findEmail(ledger, clientOf(res), req.params.id);
    switch (outcome.kind) {
      case 'found':
        res.json(emailJson(outcome.email));
        return;
      case 'not-found':
        sendEmailNotFound(res);
        return;
      case 'ledger-unavailable':
        unavailable(res, outcome.error);
        return;
    }
  });

  router.get('/v1/emails', ...deps.before, async (req: Request, res: Response) => {
    if (ledger === undefined) {
      sendLedgerOff(res, 'status');
      return;
    }
    const query = req.query as Record<string, unknown>;
    const checked = parseListQuery(query);
    if (!checked.ok) {
      sendInvalidQuery(res, checked.errors);
      return;
    }
    const outcome = await listEmails(ledger, clientOf(res), checked.filter);
    switch (outcome.kind) {
      case 'page': {
        const { emails, nextCursor } = outcome.page;
        if (nextCursor !== undefined) res.setHeader('Link', `<${nextPagePath(query, nextCursor)}>; rel="next"`);
        res.json({
          emails: emails.map(summaryJson),
          ...(nextCursor === undefined ? {} : { next_cursor: nextCursor }),
        });
        return;
      }
      case 'bad-cursor':
        sendInvalidQuery(res, [{ parameter: 'cursor', detail: 'is not a cursor this API gave to this API key' }]);
        return;
      case 'ledger-unavailable':
        unavailable(res, outcome.error);
        return;
    }
  });

  return router;
}
