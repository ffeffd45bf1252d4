import { Router, type Request, type RequestHandler, type Response } from 'express';
import {
  acceptBatch,
  acceptEmail,
  acceptedBatchBody,
  acceptedBody,
  type AcceptDeps,
  type BatchItem,
  type Caller,
  type LedgerOutcome,
} from '../../domain/accept-emails';
import type { LedgerOutageError } from '../../domain/email-ledger';
import { maskAddress } from '@mailer/contract';
import type { Logger } from '@mailer/service';
import { locals } from '../locals';
import { sendKeyInFlight, sendKeyReused, sendLedgerUnavailable, sendRefusal, sendUnavailable } from '../problems';

/** What the email routes need besides the use cases' own dependencies. */
export interface EmailRoutesDeps extends AcceptDeps {
  readonly logger: Logger;
  /** Runs before each handler: size, authentication, key and body checks, then the parser. */
  readonly before: readonly RequestHandler[];
  /** Told how many recipients each accepted email left out as suppressed (the metrics). */
  readonly countSuppressed?: (recipients: number) => void;
}

const caller = (res: Response): Caller => {
  const l = locals(res);
  if (l.client === undefined) throw new Error('authenticate must run before the handler');
  return {
    client: l.client,
    requestId: l.requestId,
    ...(l.idempotencyKey === undefined ? {} : { idempotencyKey: l.idempotencyKey }),
  };
};

const describe = (item: BatchItem): object =>
  item.status === 'failed'
    ? { index: item.index, status: 'failed', reason: item.error.reason, detail: item.error.message }
    : { index: item.index, ...acceptedBody(item) };

/** The ids a stored answer names: `{id}` for one email, `{items: [{id}]}` for a batch. */
export function idsOfAnswer(body: unknown): string[] {
  if (typeof body !== 'object' || body === null) return [];
  const { id, items } = body as { id?: unknown; items?: unknown };
  if (typeof id === 'string') return [id];
  if (!Array.isArray(items)) return [];
  return items.flatMap((item: unknown) => {
    const itemId = (item as { id?: unknown } | null)?.id;
    return typeof itemId === 'string' ? [itemId] : [];
  });
}

/** The answers decided by the key or the ledger; `single` adds the replayed email's Location. */
function sendLedgerOutcome(
  res: Response,
  deps: EmailRoutesDeps,
  outcome: LedgerOutcome,
  options: { readonly single: boolean },
): void {
  switch (outcome.kind) {
    case 'replay': {
      const ids = idsOfAnswer(outcome.body);
      locals(res).emailIds = ids;
      res.setHeader('Idempotent-Replayed', 'true');
      if (options.single && ids[0] !== undefined) res.location(`/v1/emails/${ids[0]}`);
      res.status(outcome.status).json(outcome.body);
      return;
    }
    case 'key-reused':
      sendKeyReused(res);
      return;
    case 'key-in-flight':
      sendKeyInFlight(res, outcome.staleInMs);
      return;
    case 'ledger-unavailable':
      deps.logger.warn('email not accepted: ledger unavailable', {
        request_id: locals(res).requestId,
        error: outcome.error.message,
      });
      sendLedgerUnavailable(res, 'accept');
      return;
  }
}

function warnNotStored(deps: EmailRoutesDeps, res: Response, error: LedgerOutageError | undefined): void {
  if (error === undefined) return;
  deps.logger.warn('idempotency answer not stored: a retry takes the key over once it is stale', {
    request_id: locals(res).requestId,
    error: error.message,
  });
}

/** `POST /v1/emails` and `POST /v1/emails/batch`: decode, call the use case, map the outcome. */
export function emailRoutes(deps: EmailRoutesDeps): Router {
  const router = Router();

  router.post('/v1/emails', ...deps.before, async (req: Request, res: Response) => {
    const outcome = await acceptEmail(deps, caller(res), req.body);
    switch (outcome.kind) {
      case 'accepted':
        warnNotStored(deps, res, outcome.answerNotStored);
        locals(res).emailIds = [outcome.id];
        if (outcome.suppressed.length > 0) deps.countSuppressed?.(outcome.suppressed.length);
        locals(res).from = maskAddress((req.body as { from: { email: string } }).from.email);
        res.status(202).location(`/v1/emails/${outcome.id}`).json(acceptedBody(outcome));
        return;
      case 'unavailable':
        deps.logger.warn('email not queued', { request_id: locals(res).requestId, reason: outcome.error.reason });
        sendUnavailable(res, outcome.error);
        return;
      case 'replay':
      case 'key-reused':
      case 'key-in-flight':
      case 'ledger-unavailable':
        sendLedgerOutcome(res, deps, outcome, { single: true });
        return;
      default:
        sendRefusal(res, outcome);
    }
  });

  router.post('/v1/emails/batch', ...deps.before, async (req: Request, res: Response) => {
    const outcome = await acceptBatch(deps, caller(res), req.body);
    switch (outcome.kind) {
      case 'published':
        break;
      case 'replay':
      case 'key-reused':
      case 'key-in-flight':
      case 'ledger-unavailable':
        sendLedgerOutcome(res, deps, outcome, { single: false });
        return;
      default:
        sendRefusal(res, outcome);
        return;
    }
    // Queued, or suppressed (recorded, and never to be queued): every item that is not a failure.
    const accepted = outcome.items.flatMap((item) => (item.status === 'failed' ? [] : [item]));
    for (const item of accepted) if (item.suppressed.length > 0) deps.countSuppressed?.(item.suppressed.length);
    locals(res).emailIds = accepted.map((item) => item.id);
    const firstFailure = outcome.items.find((item) => item.status === 'failed');
    if (firstFailure === undefined) {
      warnNotStored(deps, res, outcome.answerNotStored);
      res.status(202).json(acceptedBatchBody(accepted));
      return;
    }
    deps.logger.warn('batch partly queued', {
      request_id: locals(res).requestId,
      queued: accepted.length,
      failed: outcome.items.length - accepted.length,
      reason: firstFailure.error.reason,
    });
    const retry =
      locals(res).idempotencyKey === undefined
        ? 'Retry only the failed ones.'
        : 'Retry the same request with the same Idempotency-Key: it keeps these ids and queues again only those not yet on their way.';
    sendUnavailable(res, firstFailure.error, {
      detail: `${accepted.length} of ${outcome.items.length} emails were queued; the items list says which. ${retry}`,
      items: outcome.items.map(describe),
    });
  });

  return router;
}
