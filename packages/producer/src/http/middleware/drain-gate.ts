import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { sendShuttingDown } from '../problems';

/**
 * Once `draining()` is true, answers every new request with a 503 not-ready problem and
 * `Connection: close`, so keep-alive clients leave this instance. Requests that passed before
 * go on to finish normally.
 */
export function drainGate(draining: () => boolean): RequestHandler {
  return (_req: Request, res: Response, next: NextFunction) => {
    if (draining()) sendShuttingDown(res);
    else next();
  };
}
