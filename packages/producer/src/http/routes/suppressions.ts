import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import {
  checkSuppressionAddressQuery,
  checkSuppressionListQuery,
  suppressionJson,
  validateSuppressionAdd,
  type ValidationProblem,
} from '@mailer/contract';
import type { Logger } from '@mailer/service';
import {
  addSuppression,
  findSuppression,
  listSuppressions,
  removeSuppression,
  type SuppressionDeps,
} from '../../domain/suppressions';
import { locals } from '../locals';
import { jsonBody, rejectDeclaredOversize } from '../middleware/json-body';
import {
  ProblemType,
  sendBodyTooLarge,
  sendInvalidQuery,
  sendLedgerOff,
  sendLedgerUnavailable,
  sendNotSuppressed,
  sendProblem,
} from '../problems';

/** The largest body of `POST /v1/suppressions` (an address, a note and a time fit in well under 2 KB). */
export const MAX_SUPPRESSION_BODY_BYTES = 16 * 1024;

/** What the suppression routes need. */
export interface SuppressionRoutesDeps {
  /** Absent with `LEDGER=off`: every route then answers 501 `ledger-off`. */
  readonly suppressions?: SuppressionDeps;
  readonly logger: Logger;
  /** Authentication with the `suppressions` scope. */
  readonly authenticate: RequestHandler;
  /** The largest `POST` body: {@link MAX_SUPPRESSION_BODY_BYTES}, or `MAX_BODY_BYTES` if that is smaller. */
  readonly maxBodyBytes: number;
}

const PATH = '/v1/suppressions';

const clientOf = (res: Response) => {
  const { client } = locals(res);
  if (client === undefined) throw new Error('authenticate must run before the handler');
  return client;
};

/** 400 for a body that breaks the schema: as the email routes' `validation`, worded for the list. */
function sendInvalidBody(res: Response, problems: readonly ValidationProblem[], omitted = 0): void {
  const found = problems.length + omitted;
  sendProblem(res, {
    type: ProblemType.validation,
    title: 'Request is invalid',
    status: 400,
    detail:
      omitted === 0
        ? `${found} problem(s) found; nothing was changed.`
        : `${found} problems found, the first ${problems.length} listed; nothing was changed.`,
    errors: problems,
    ...(omitted === 0 ? {} : { errors_omitted: omitted }),
  });
}

/** The path of the list's next page: the same filters, the next cursor. */
function nextPagePath(query: Readonly<Record<string, unknown>>, nextCursor: string): string {
  const params = new URLSearchParams();
  for (const parameter of ['reason', 'limit'] as const) {
    const value = query[parameter];
    if (typeof value === 'string') params.set(parameter, value);
  }
  params.set('cursor', nextCursor);
  return `${PATH}?${params.toString()}`;
}

/**
 * `GET`, `POST` and `DELETE /v1/suppressions`: the deployment's suppression list, for keys with the
 * `suppressions` scope. An address arrives in the query (`GET`, `DELETE`) or the body (`POST`), is
 * hashed into its recipient keys and masked, and is never stored, logged or answered in full.
 */
export function suppressionRoutes(deps: SuppressionRoutesDeps): Router {
  const router = Router();
  const unavailable = (res: Response, error: Error) => {
    deps.logger.warn('suppression list not reached: ledger unavailable', {
      request_id: locals(res).requestId,
      error: error.message,
    });
    sendLedgerUnavailable(res, 'suppressions');
  };
  // With LEDGER=off there is no list: refused before any body is read.
  const requireList: RequestHandler = (_req: Request, res: Response, next: NextFunction) => {
    if (deps.suppressions === undefined) sendLedgerOff(res, 'suppressions');
    else next();
  };
  const listOf = (): SuppressionDeps => {
    if (deps.suppressions === undefined) throw new Error('requireList must run before the handler');
    return deps.suppressions;
  };

  router.get(PATH, deps.authenticate, requireList, async (req: Request, res: Response) => {
    const list = listOf();
    const query = req.query as Record<string, unknown>;
    if (Object.hasOwn(query, 'email')) {
      const checked = checkSuppressionAddressQuery(query, 'get');
      if (!checked.ok) {
        sendInvalidQuery(res, checked.errors);
        return;
      }
      const outcome = await findSuppression(list, checked.value.email);
      if (outcome.kind === 'found') res.json(suppressionJson(outcome.entry));
      else if (outcome.kind === 'not-found') sendNotSuppressed(res);
      else unavailable(res, outcome.error);
      return;
    }
    const checked = checkSuppressionListQuery(query);
    if (!checked.ok) {
      sendInvalidQuery(res, checked.errors);
      return;
    }
    const outcome = await listSuppressions(list, checked.value);
    switch (outcome.kind) {
      case 'page': {
        const { items, nextCursor } = outcome.page;
        if (nextCursor !== undefined) res.setHeader('Link', `<${nextPagePath(query, nextCursor)}>; rel="next"`);
        res.json({
          suppressions: items.map(suppressionJson),
          ...(nextCursor === undefined ? {} : { next_cursor: nextCursor }),
        });
        return;
      }
      case 'bad-cursor':
        sendInvalidQuery(res, [{ parameter: 'cursor', detail: 'is not a cursor this API gave' }]);
        return;
      case 'ledger-unavailable':
        unavailable(res, outcome.error);
        return;
    }
  });

  // As the email routes: the declared size, the key, then (here) LEDGER, and only then the body.
  router.post(
    PATH,
    rejectDeclaredOversize(deps.maxBodyBytes),
    deps.authenticate,
    requireList,
    ...jsonBody(deps.maxBodyBytes),
    async (req: Request, res: Response) => {
      const list = listOf();
      const checked = validateSuppressionAdd(req.body, list.now());
      if (!checked.ok) {
        sendInvalidBody(res, checked.problems, checked.omitted);
        return;
      }
      const outcome = await addSuppression(list, clientOf(res), checked.value);
      if (outcome.kind === 'ledger-unavailable') unavailable(res, outcome.error);
      else res.status(outcome.kind === 'added' ? 201 : 200).json(suppressionJson(outcome.entry));
    },
  );

  router.delete(PATH, deps.authenticate, requireList, async (req: Request, res: Response) => {
    const list = listOf();
    const checked = checkSuppressionAddressQuery(req.query, 'delete');
    if (!checked.ok) {
      sendInvalidQuery(res, checked.errors);
      return;
    }
    const outcome = await removeSuppression(list, clientOf(res), checked.value.email, checked.value.note);
    if (outcome.kind === 'removed') res.status(204).end();
    else if (outcome.kind === 'not-found') sendNotSuppressed(res);
    else unavailable(res, outcome.error);
  });

  // The body parser's own cap is this route's, not MAX_BODY_BYTES: say so in the 413.
  router.use(PATH, (error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if ((error as { type?: unknown }).type !== 'entity.too.large' || res.headersSent) {
      next(error);
      return;
    }
    res.setHeader('Connection', 'close');
    sendBodyTooLarge(res, deps.maxBodyBytes);
  });

  return router;
}
