import type { Response } from 'express';

/** An RFC 9457 problem document; extension members sit beside the standard ones. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly [extension: string]: unknown;
}

/** Problem types this API answers with; each is documented in the README's errors table. */
export const ProblemType = {
  validation: '/problems/validation',
  malformedJson: '/problems/malformed-json',
  unauthorized: '/problems/unauthorized',
  forbiddenSender: '/problems/forbidden-sender',
  tooLarge: '/problems/too-large',
  unsupportedMediaType: '/problems/unsupported-media-type',
  notFound: '/problems/not-found',
  methodNotAllowed: '/problems/method-not-allowed',
  brokerUnavailable: '/problems/broker-unavailable',
  badRequest: '/problems/bad-request',
  internal: '/problems/internal',
} as const;

/** Seconds a caller should wait before retrying after a 503. */
export const RETRY_AFTER_SECONDS = 5;

/** Sends `problem` as `application/problem+json` with its status. */
export function sendProblem(res: Response, problem: Problem): void {
  res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
}
