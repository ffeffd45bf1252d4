import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

/**
 * The HTTP server around the app: it hands `Expect: 100-continue` requests to the app unanswered
 * (the app sends `100 Continue` only once the headers passed its checks, so an oversized or
 * unauthenticated body is never invited), and it shuts down without leaving keep-alive
 * connections open.
 */
export class HttpServer {
  /** The Node server, for tests that need its address or events. */
  readonly server: Server;
  private readonly inFlight = new Set<ServerResponse>();
  private closing = false;

  constructor(app: RequestListener) {
    this.server = createServer();
    this.server.on('request', (_req: IncomingMessage, res: ServerResponse) => this.track(res));
    this.server.on('request', app);
    this.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      this.server.emit('request', req, res);
    });
  }

  /** Listens on `port` (0 for any) and `host`; resolves with the port taken. */
  async listen(port: number, host?: string): Promise<number> {
    this.server.listen(port, host);
    await once(this.server, 'listening');
    return (this.server.address() as AddressInfo).port;
  }

  /**
   * Stops listening, lets the requests in flight finish (their responses close their
   * connections) and closes every idle keep-alive connection; past `timeoutMs` the remaining
   * connections are cut. New requests meanwhile are the app's to refuse (its drain gate).
   */
  async close(timeoutMs: number): Promise<void> {
    this.closing = true;
    for (const res of this.inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const forced = setTimeout(() => this.server.closeAllConnections(), timeoutMs);
    try {
      await closed;
    } finally {
      clearTimeout(forced);
    }
  }

  private track(res: ServerResponse): void {
    if (this.closing) res.setHeader('Connection', 'close');
    this.inFlight.add(res);
    res.on('close', () => {
      this.inFlight.delete(res);
      // Node leaves a keep-alive connection that goes idle after `close()` open until its
      // keep-alive timeout: close it as soon as it is idle.
      if (this.closing) setImmediate(() => this.server.closeIdleConnections());
    });
  }
}
