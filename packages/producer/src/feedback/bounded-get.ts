import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** The answer to a {@link boundedGet}. */
export interface BoundedResponse {
  readonly status: number;
  readonly body: string;
}

/** Limits of one GET. */
export interface BoundedGetOptions {
  /** From the call to the whole body read; past it the GET fails. */
  readonly timeoutMs: number;
  /** Bytes of body read at most; more fails the GET. */
  readonly maxBytes: number;
}

/** A failed {@link boundedGet}: no answer, too slow, or too large. */
export class BoundedGetError extends Error {
  override readonly name = 'BoundedGetError';
}

/**
 * GETs `url` (http or https) with a deadline and a body cap; follows no redirect (a 3xx is just an
 * answer). Resolves with the status and the body as UTF-8 text.
 */
export function boundedGet(url: string, options: BoundedGetOptions): Promise<BoundedResponse> {
  const send = url.startsWith('https:') ? httpsRequest : url.startsWith('http:') ? httpRequest : undefined;
  if (send === undefined) return Promise.reject(new BoundedGetError('only http and https URLs are fetched'));
  return new Promise<BoundedResponse>((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, response?: BoundedResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error !== undefined) {
        request.destroy();
        reject(error);
      } else if (response !== undefined) resolve(response);
    };
    const timer = setTimeout(
      () => finish(new BoundedGetError(`no complete answer within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    const request = send(url, { method: 'GET', headers: { accept: '*/*' } }, (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) {
          finish(new BoundedGetError(`the answer is over ${options.maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () =>
        finish(undefined, { status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      response.on('error', (error) => finish(new BoundedGetError(`the answer broke off: ${error.message}`)));
    });
    request.on('error', (error) => finish(new BoundedGetError(`the request failed: ${error.message}`)));
    request.end();
  });
}
