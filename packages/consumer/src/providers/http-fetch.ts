import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type RequestOptions,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { urlToHttpOptions } from 'node:url';

/** The fetch signature the Postmark client calls (its own type names DOM types this build does not load). */
export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** What {@link createHttpFetch} takes besides fetch's own init. */
export interface HttpFetchInit extends RequestInit {
  /**
   * Called once the whole request, body included, was handed to the operating system: from then
   * on the server may act on it, whatever happens to the answer.
   */
  readonly onBodySent?: () => void;
}

/** Statuses whose response has no body, by the Fetch standard (`new Response` refuses one for them). */
const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 103, 204, 205, 304]);

/**
 * A small `fetch` over `node:http`/`node:https` with keep-alive agents, for the Postmark client's
 * documented `fetch` option. It does what the client asks of fetch and no more: method, headers,
 * a string or byte body, an `AbortSignal`; the whole answer is read, then returned as a
 * {@link BufferedResponse}. It follows no redirects (a 3xx comes back as it is) and has no timeout
 * of its own: the delivery layer's per-provider timeout aborts the signal, and as with fetch the
 * failure is then the signal's reason.
 *
 * Why not Node's built-in fetch (undici), nor a WHATWG `Response` for the answer: each allocates
 * web streams, a cloned request and header lists per call, and at a few thousand sends a second
 * that allocation is a large part of the consumer's CPU (GC included) and grows its heap; see
 * docs/benchmarks.md for the profiles. Failures keep Node's shapes: a system error
 * (`ECONNREFUSED`, `ECONNRESET`...) with its `code` and `syscall`, an `AbortError` on abort, which
 * is what {@link classifyPostmarkError} reads.
 */
export function createHttpFetch(): Fetch {
  const agents = {
    'http:': new HttpAgent({ keepAlive: true }),
    'https:': new HttpsAgent({ keepAlive: true }),
  };
  // The client sends every request to the same few URLs: parse each once, not on every call.
  const targets = new Map<string, Target>();
  const targetOf = (input: string | URL): Target | TypeError => {
    const key = typeof input === 'string' ? input : input.href;
    let target = targets.get(key);
    if (target === undefined) {
      const url = typeof input === 'string' ? new URL(input) : input;
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        return new TypeError(`unsupported protocol ${url.protocol}`);
      target = {
        url: key,
        options: { ...urlToHttpOptions(url), agent: agents[url.protocol] },
        secure: url.protocol === 'https:',
      };
      if (targets.size >= MAX_CACHED_URLS) targets.clear();
      targets.set(key, target);
    }
    return target;
  };
  return (input, init: HttpFetchInit = {}) =>
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
      let target: Target | TypeError;
      let body: string | Buffer | undefined;
      try {
        target = targetOf(input);
        body = bodyOf(init.body);
      } catch (error) {
        reject(error instanceof Error ? error : new TypeError(String(error)));
        return;
      }
      if (target instanceof TypeError) {
        reject(target);
        return;
      }
      const headers = headersOf(init.headers);
      if (body !== undefined)
        headers['content-length'] = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
      const { url } = target;
      const request = (target.secure ? httpsRequest : httpRequest)(
        {
          ...target.options,
          method: init.method ?? 'GET',
          headers,
          ...(init.signal ? { signal: init.signal } : {}),
        },
        (response) => {
          readAll(response).then((bytes) => {
            const status = response.statusCode ?? 0;
            if (status < 200 || status > 599) {
              // As fetch refuses them (1xx are informational, never the answer).
              reject(new RangeError(`the server answered status ${status}`));
              return;
            }
            resolve(
              // The Postmark client reads a Response's status and text(); this is the part of one
              // that a fetch caller reads, without the web streams (see above).
              new BufferedResponse(
                url,
                status,
                response.statusMessage ?? '',
                response.rawHeaders,
                NULL_BODY_STATUSES.has(status) ? EMPTY : bytes,
              ) as unknown as Response,
            );
          }, reject);
        },
      );
      request.on('error', reject);
      const { onBodySent } = init;
      if (onBodySent !== undefined) request.once('finish', onBodySent);
      request.end(body);
    });
}

/** Where a URL goes, parsed once: the request options and the module that sends it. */
interface Target {
  readonly url: string;
  readonly options: RequestOptions;
  readonly secure: boolean;
}

/** URLs parsed and kept at once; a caller sending to ever new URLs only costs a parse each. */
const MAX_CACHED_URLS = 64;

const EMPTY = Buffer.alloc(0);

/**
 * A fully read HTTP answer with the reading side of a WHATWG `Response`: `status`, `statusText`,
 * `ok`, `url`, `headers` (built on first use), and the body once through `text()`, `json()`,
 * `arrayBuffer()` or `bytes()`. No `body` stream, `blob()`, `formData()` or `clone()`.
 */
export class BufferedResponse {
  readonly redirected = false;
  readonly type = 'basic';
  private used = false;
  private headerList: Headers | undefined;

  constructor(
    readonly url: string,
    readonly status: number,
    readonly statusText: string,
    private readonly rawHeaders: readonly string[],
    private readonly content: Buffer,
  ) {}

  get ok(): boolean {
    return this.status >= 200 && this.status <= 299;
  }

  get bodyUsed(): boolean {
    return this.used;
  }

  get headers(): Headers {
    this.headerList ??= new Headers(pairs(this.rawHeaders));
    return this.headerList;
  }

  text(): Promise<string> {
    return this.consume().then((bytes) => bytes.toString('utf8'));
  }

  json(): Promise<unknown> {
    return this.text().then((text) => JSON.parse(text) as unknown);
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.consume().then((bytes) => new Uint8Array(bytes).buffer);
  }

  bytes(): Promise<Uint8Array> {
    return this.consume().then((bytes) => new Uint8Array(bytes));
  }

  private consume(): Promise<Buffer> {
    if (this.used) return Promise.reject(new TypeError('the body of this response was already read'));
    this.used = true;
    return Promise.resolve(this.content);
  }
}

/**
 * The body as `node:http` writes it. A string stays a string: Node then sends the header block and
 * the body in one write instead of a `writev` of two buffers, and no copy of the body is made.
 */
function bodyOf(body: RequestInit['body']): string | Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
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
      // Postmark's answers fit in one chunk: no copy then.
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
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
