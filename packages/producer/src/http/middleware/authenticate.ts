import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { findApiKey, hasScope, type ApiKey, type ApiScope } from '../../domain/api-keys';
import { locals } from '../locals';
import { ProblemType, sendInsufficientScope, sendProblem } from '../problems';

/**
 * Requires `Authorization: Bearer <key>` with a known key (401 otherwise) that has `scope` (403
 * `insufficient-scope` otherwise). Every authenticated route names the scope it needs.
 */
export function authenticate(apiKeys: readonly ApiKey[], scope: ApiScope): RequestHandler {
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
    // Known from here on, so the access log names the caller of a refused request too.
    locals(res).client = client;
    if (!hasScope(client, scope)) {
      sendInsufficientScope(res, scope);
      return;
    }
    next();
  };
}
