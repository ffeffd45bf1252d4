import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { checkIdempotencyKey } from '../../domain/idempotency-key';
import { locals } from '../locals';
import { ProblemType, sendLedgerOff, sendProblem } from '../problems';

/**
 * Reads `Idempotency-Key` before the body is read (a refused key never invites the body): a
 * malformed one is a 400; with `LEDGER=off` any key is refused (501), since without the ledger
 * it could promise nothing.
 */
export function idempotencyKey(ledgerOn: boolean): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const raw = req.get('idempotency-key');
    if (raw === undefined) {
      next();
      return;
    }
    if (!ledgerOn) {
      sendLedgerOff(res, 'idempotency-key');
      return;
    }
    const checked = checkIdempotencyKey(raw);
    if (!checked.ok) {
      sendProblem(res, {
        type: ProblemType.invalidIdempotencyKey,
        title: 'Invalid Idempotency-Key',
        status: 400,
        detail: `${checked.detail}; nothing was queued.`,
      });
      return;
    }
    locals(res).idempotencyKey = checked.key;
    next();
  };
}
