import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** The fetch signature the Postmark client calls (its own type names DOM types this build does not load). */
export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Statuses whose response has no body, by the Fetch standard (`new Response` refuses one for them). */
const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 103, 204, 205, 304]);

/**
 * A small `fetch` over `node:http`/`node:https` with keep-alive agents, for the Postmark client's
 * documented `fetch` option. It does what the client asks of fetch and no more: method, headers,
 * a string or byte body, an `AbortSignal`; the whole answer is read, then returned as a `Response`.
 * It follows no redirects (a 3xx comes back as it is) and has no timeout of its own: the delivery
 * layer's per-provider timeout aborts the signal, and as with fetch the failure is then the
 * signal's reason.
 *
 * Why not Node's built-in fetch (undici): measured in the end-to-end bench (`pnpm bench`), a
 * Postmark send through it allocated about 100 KB (web streams, a cloned request per call) and
 * took twice the CPU of this one; at a few thousand sends a second that churn alone grew the
 * consumer's heap past 300 MB. Failures keep Node's shapes: a system error (`ECONNREFUSED`,
 * `ECONNRESET`...) with its `code` and `syscall`, an `AbortError` on abort, which is what
 * {@link classifyPostmarkError} reads.
 */
export function createHttpFetch(): Fetch {
  const agents = {
    'http:': new HttpAgent({ keepAlive: true }),
    'https:': new HttpsAgent({ keepAlive: true }),
  };
  return (input, init = {}) =>
    new Promise<Response>((resolve, rejectWith) => {
      // As fetch does: once the signal has aborted, the failure is the signal's reason.
      const reject = (error: unknown): void => {
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what fetch rejects with
        rejectWith(init.signal?.aborted === true ? init.signal.reason : error);
      };
      if (typeof input !== 'string' && !(input instanceof URL)) {
        reject(new TypeError('this fetch takes a URL, not a Request'));
        return;
      }
      const url = typeof input === 'string' ? new URL(input) : input;
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        reject(new TypeError(`unsupported protocol ${url.protocol}`));
        return;
      }
      let body: Buffer | undefined;
      try {
        body = bodyOf(init.body);
      } catch (error) {
        reject(error instanceof Error ? error : new TypeError(String(error)));
        return;
      }
      const headers = headersOf(init.headers);
      if (body !== undefined) headers['content-length'] = body.length;
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const request = send(
        url,
        {
          agent: agents[url.protocol],
          method: init.method ?? 'GET',
          headers,
          ...(init.signal ? { signal: init.signal } : {}),
        },
        (response) => {
          readAll(response).then((bytes) => {
            const status = response.statusCode ?? 0;
            try {
              resolve(
                new Response(NULL_BODY_STATUSES.has(status) ? null : bytes, {
                  status,
                  statusText: response.statusMessage ?? '',
                  headers: pairs(response.rawHeaders),
                }),
              );
            } catch (error) {
              // A status `Response` refuses (below 200 or above 599).
              reject(error instanceof Error ? error : new TypeError(String(error)));
            }
          }, reject);
        },
      );
      request.on('error', reject);
      request.end(body);
    });
}

function bodyOf(body: RequestInit['body']): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError('this fetch sends a string or bytes as the body, nothing else');
}

function headersOf(init: RequestInit['headers']): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  if (init === undefined) return headers;
  const entries = init instanceof Headers || Array.isArray(init) ? new Headers(init).entries() : Object.entries(init);
  for (const [name, value] of entries) headers[name.toLowerCase()] = typeof value === 'string' ? value : [...value];
  return headers;
}

function readAll(response: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => {
      resolve(Buffer.concat(chunks));
    });
    response.on('error', reject);
    // Closed before the whole answer came (reset, abort) without an error of its own.
    response.on('close', () => {
      if (!response.complete) {
        reject(
          Object.assign(new Error('the connection closed before the whole response came'), { code: 'ECONNRESET' }),
        );
      }
    });
  });
}

/** `rawHeaders` ([name, value, name, value...]) as pairs for `Headers`. */
function pairs(raw: readonly string[]): [string, string][] {
  const result: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) result.push([raw[i] ?? '', raw[i + 1] ?? '']);
  return result;
}
