import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the receiver got. */
export interface ReceivedRequest {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
}

/** What the receiver answers a request with: a status, or a promise of one (an answer held back). */
export type Answer = (request: ReceivedRequest, countOnPath: number) => number | Promise<number>;

/**
 * A webhook receiver on 127.0.0.1 for tests: records every request by path, answers per path
 * (200 unless told otherwise), and counts the TCP connections it accepted, so a test can show
 * that a refused destination was never connected to.
 */
export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  connections = 0;
  private readonly answers = new Map<string, Answer>();
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const path = req.url ?? '/';
        const request: ReceivedRequest = {
          path,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
        };
        this.requests.push(request);
        const count = this.on(path).length;
        void Promise.resolve((this.answers.get(path) ?? (() => 200))(request, count)).then((status) => {
          res.writeHead(status, { 'content-type': 'text/plain' });
          res.end(status >= 200 && status < 300 ? 'ok' : `failed for ops@example.com with ${status}`);
        });
      });
    });
    this.server.on('connection', () => {
      this.connections += 1;
    });
  }

  /** Starts listening on an ephemeral port of 127.0.0.1; resolves with its base URL. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${this.port}`;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Answers requests to `path` so. */
  answer(path: string, answer: Answer): void {
    this.answers.set(path, answer);
  }

  /** The requests to `path`, in arrival order. */
  on(path: string): ReceivedRequest[] {
    return this.requests.filter((request) => request.path === path);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
