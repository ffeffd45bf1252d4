import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { findApiKey, type ApiKey } from '../../domain/api-keys';
import { locals } from '../locals';
import { ProblemType, sendProblem } from '../problems';

/** Requires `Authorization: Bearer <key>` with a known key; 401 otherwise. */
export function authenticate(apiKeys: readonly ApiKey[]): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    const client = match?.[1] === undefined ? undefined : findApiKey(apiKeys, match[1]);
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
}
