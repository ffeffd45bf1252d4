import type { Response } from 'express';
import type { ApiKey } from '../domain/api-keys';

/** What the middleware learns about a request, for the handlers and the access log. */
export interface RequestLocals {
  requestId: string;
  client?: ApiKey;
  /** The request's `Idempotency-Key`, once checked. */
  idempotencyKey?: string;
  emailIds?: string[];
  /** Masked sender address of an accepted email. */
  from?: string;
}

/** The request's {@link RequestLocals}. */
export const locals = (res: Response): RequestLocals => res.locals as RequestLocals;
