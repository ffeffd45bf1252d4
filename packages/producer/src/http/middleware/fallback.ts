import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '@mailer/service';
import { locals } from '../locals';
import type { ValidationProblem } from '@mailer/contract';
import { ProblemType, sendBodyTooLarge, sendProblem, sendRefusal } from '../problems';
import { SHAPE_REFUSED } from './json-body';

/** 405 with `Allow` for a known path, 404 otherwise; `allowed` gives a path's methods. */
export function notFound(allowed: (path: string) => string | undefined) {
  return (req: Request, res: Response): void => {
    const methods = allowed(req.path);
    if (methods !== undefined) {
      res.setHeader('Allow', methods);
      sendProblem(res, {
        type: ProblemType.methodNotAllowed,
        title: 'Method not allowed',
        status: 405,
        detail: `${req.method} is not allowed on ${req.path}; allowed: ${methods}.`,
      });
      return;
    }
    sendProblem(res, {
      type: ProblemType.notFound,
      title: 'Not found',
      status: 404,
      detail: `No route ${req.path}.`,
    });
  };
}

/**
 * The strict parser refuses both broken JSON and a valid bare value (`"x"`, `42`): tell them
 * apart so the detail says what to fix.
 */
function isBareJsonValue(body: unknown): boolean {
  if (typeof body !== 'string' || /^[\s\uFEFF]*[{[]/.test(body)) return false;
  try {
    JSON.parse(body);
    return true;
  } catch {
    return false;
  }
}

/**
 * Maps body-parser errors to their problems and anything else to a 500 that names the request
 * id (the error itself is logged, never sent).
 */
export function errorHandler(options: { readonly logger: Logger; readonly maxBodyBytes: number }) {
  return (error: unknown, req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const bodyError = error as {
      type?: unknown;
      status?: unknown;
      message?: unknown;
      body?: unknown;
      problem?: ValidationProblem;
    };
    switch (bodyError.type) {
      case SHAPE_REFUSED:
        if (bodyError.problem !== undefined) {
          sendRefusal(res, { kind: 'invalid', problems: [bodyError.problem], omitted: 0 });
          return;
        }
        break;
      case 'entity.too.large':
        // The parser stopped reading at the cap: close rather than read the rest.
        res.setHeader('Connection', 'close');
        sendBodyTooLarge(res, options.maxBodyBytes);
        return;
      case 'entity.parse.failed':
        sendProblem(res, {
          type: ProblemType.malformedJson,
          title: 'Malformed JSON',
          status: 400,
          detail: isBareJsonValue(bodyError.body)
            ? 'The body must be a JSON object, not a bare JSON value.'
            : 'The body is not valid JSON.',
        });
        return;
      case 'encoding.invalid-utf8':
        sendProblem(res, {
          type: ProblemType.malformedJson,
          title: 'Malformed JSON',
          status: 400,
          detail: 'The body is not valid UTF-8; JSON must be sent as UTF-8.',
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
    options.logger.error('unhandled error', {
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
  };
}
