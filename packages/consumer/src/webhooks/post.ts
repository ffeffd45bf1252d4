import http from 'node:http';
import https from 'node:https';
import { maskAddressesIn } from '@mailer/contract';
import { RefusedDestinationError, type DestinationGuard } from './destination-guard';

/** Most answer bytes read; then the socket is dropped (docs/events.md, "SSRF"). */
export const MAX_ANSWER_BYTES = 4096;

/** Longest error text kept (stored with the try, shown by the API and the CLI). */
export const MAX_ERROR_LENGTH = 200;

/** What one POST came to. */
export type PostResult =
  | {
      readonly kind: 'answer';
      readonly status: number;
      /** The start of the answer, masked and cut to {@link MAX_ERROR_LENGTH}. */
      readonly text: string;
      /** The `Retry-After` header, as sent. */
      readonly retryAfter: string | undefined;
    }
  /** No connection was made: the destination (or the URL) is refused. */
  | { readonly kind: 'refused'; readonly reason: string }
  /** No answer: `timeout`, or a network error's code. */
  | { readonly kind: 'error'; readonly error: string };

/** How requests are made. */
export interface PostOptions {
  readonly guard: DestinationGuard;
  /** From the request's start to the answer's end (`WEBHOOK_TIMEOUT`). */
  readonly timeoutMs: number;
  readonly userAgent: string;
  /** Connections to reuse; none (a connection per request) when absent. */
  readonly agents?: WebhookAgents;
}

/** Keep-alive agents: a receiver that takes many deliveries keeps its connections (each checked when made). */
export class WebhookAgents {
  readonly http = new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16, timeout: 60_000 });
  readonly https = new https.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16, timeout: 60_000 });

  /** Closes the idle connections (and any still open). */
  destroy(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

/** Text safe to store: no address in full, no control characters, at most {@link MAX_ERROR_LENGTH}. */
export function storedText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return maskAddressesIn(text.replace(/[\u0000-\u001f\u007f]+/g, ' ')).slice(0, MAX_ERROR_LENGTH);
}

/**
 * POSTs `body` to `url` with `headers` through the guard: no redirect is followed (a 3xx is just
 * an answer), at most {@link MAX_ANSWER_BYTES} of the answer are read, and the whole exchange is
 * bounded by the timeout. Never throws.
 */
export function postWebhook(
  url: string,
  body: string,
  headers: Readonly<Record<string, string>>,
  options: PostOptions,
): Promise<PostResult> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.resolve({ kind: 'refused', reason: 'not a URL' });
  }
  const refusal = options.guard.refusalOfUrl(target);
  if (refusal !== undefined) return Promise.resolve({ kind: 'refused', reason: refusal });
  const secure = target.protocol === 'https:';
  const payload = Buffer.from(body, 'utf8');
  return new Promise<PostResult>((resolve) => {
    let done = false;
    const finish = (result: PostResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(result);
    };
    const request = (secure ? https : http).request(target, {
      method: 'POST',
      agent: options.agents === undefined ? false : secure ? options.agents.https : options.agents.http,
      lookup: options.guard.lookup,
      headers: {
        ...headers,
        'content-type': 'application/json',
        'content-length': String(payload.length),
        'user-agent': options.userAgent,
      },
    });
    const timer = setTimeout(() => {
      finish({ kind: 'error', error: 'timeout' });
      request.destroy();
    }, options.timeoutMs);
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error instanceof RefusedDestinationError) finish({ kind: 'refused', reason: error.reason });
      else finish({ kind: 'error', error: error.code ?? 'network error' });
    });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const answer = (): PostResult => {
        const retryAfter = response.headers['retry-after'];
        return {
          kind: 'answer',
          status: response.statusCode ?? 0,
          text: storedText(Buffer.concat(chunks).toString('utf8')),
          retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
        };
      };
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= MAX_ANSWER_BYTES) {
          // Enough to know what it said: drop the socket instead of reading a large answer.
          finish(answer());
          response.destroy();
          request.destroy();
        }
      });
      response.on('end', () => finish(answer()));
      response.on('error', () => finish(answer()));
      response.on('close', () => finish(answer()));
    });
    request.end(payload);
  });
}
