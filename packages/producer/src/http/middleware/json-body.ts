import { isUtf8 } from 'node:buffer';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { ValidationProblem } from '@mailer/contract';
import { jsonShapeProblem } from '../json-shape';
import { ProblemType, sendBodyTooLarge, sendProblem } from '../problems';

/** Longest part of a caller's header quoted back: a header may be 16 KB, an answer stays small. */
const MAX_QUOTED_HEADER_LENGTH = 100;

const quoted = (value: string | undefined): string | undefined =>
  value === undefined || value.length <= MAX_QUOTED_HEADER_LENGTH
    ? value
    : `${value.slice(0, MAX_QUOTED_HEADER_LENGTH)}... (${value.length} characters)`;

/** 415 unless the body is declared `application/json`. */
const requireJson: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
  if (req.is('application/json') === 'application/json') {
    next();
    return;
  }
  sendProblem(res, {
    type: ProblemType.unsupportedMediaType,
    title: 'Unsupported media type',
    status: 415,
    detail: `Send the body as application/json (got ${quoted(req.get('content-type')) ?? 'no Content-Type'}).`,
  });
};

/**
 * 413 at once when `Content-Length` is over the cap, before a byte of the body is read (and
 * before authentication, whose 401 would leave the body to be drained); the connection is
 * closed rather than drained, so a huge body costs the server nothing.
 */
export function rejectDeclaredOversize(maxBodyBytes: number): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const declared = Number(req.get('content-length'));
    if (Number.isFinite(declared) && declared > maxBodyBytes) {
      res.setHeader('Connection', 'close');
      sendBodyTooLarge(res, maxBodyBytes);
      return;
    }
    next();
  };
}

/**
 * Answers `Expect: 100-continue` only once the request passed every check that needs no body
 * (the server hands such requests over without answering them: see `createServer`).
 */
const continueIfExpected: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
  if (req.get('expect')?.toLowerCase() === '100-continue') res.writeContinue();
  next();
};

/** A body-parser error with the `type` and `status` it answers with. */
class BodyError extends Error {
  constructor(
    message: string,
    readonly type: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** The `type` of a body refused by its shape before parsing; the error's `problem` says where. */
export const SHAPE_REFUSED = 'entity.shape.refused';

/** A body too wide or too deep to parse: see `jsonShapeProblem`. */
class ShapeError extends BodyError {
  constructor(readonly problem: ValidationProblem) {
    super(`${problem.pointer}: ${problem.detail}`, SHAPE_REFUSED, 400);
  }
}

/**
 * JSON (RFC 8259) is UTF-8 on the wire. The parser would decode other `utf-*` charsets and turn
 * invalid bytes into U+FFFD silently, so both are refused on the raw bytes before parsing; so is a
 * body whose shape alone (too many members, too deep) would cost seconds to parse.
 */
function verifyUtf8(_req: unknown, _res: unknown, body: Buffer, encoding: string): void {
  if (encoding.toLowerCase() !== 'utf-8') {
    throw new BodyError(`unsupported charset "${encoding.toUpperCase()}"`, 'charset.unsupported', 415);
  }
  if (!isUtf8(body)) throw new BodyError('the body is not valid UTF-8', 'encoding.invalid-utf8', 400);
  const problem = jsonShapeProblem(body);
  if (problem !== undefined) throw new ShapeError(problem);
}

/**
 * The checks and parser a JSON body passes through, in order: media type, `100 Continue`, then
 * parsing (strict: an object or array) with the UTF-8 and shape checks and the size cap, which
 * also bounds what a compressed body may expand to (body-parser counts the decompressed bytes).
 */
export function jsonBody(maxBodyBytes: number): RequestHandler[] {
  return [
    requireJson,
    continueIfExpected,
    express.json({ limit: maxBodyBytes, type: 'application/json', strict: true, verify: verifyUtf8 }),
  ];
}
