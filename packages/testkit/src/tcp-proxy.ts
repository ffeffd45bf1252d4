import { once } from 'node:events';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy that can stop passing bytes from the server back to the client, without
 * closing anything: the client sees a peer that has gone silent (as a broker under a memory alarm,
 * or a hung network path, looks from outside).
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private silent = false;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** Starts listening on an ephemeral loopback port; returns the port. */
  async start(): Promise<number> {
    const server = createServer((client) => {
      const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
      const pair = { client, upstream };
      this.pairs.add(pair);
      client.pipe(upstream);
      upstream.on('data', (chunk: Buffer) => client.write(chunk));
      if (this.silent) upstream.pause();
      const end = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  /** Stops passing the server's bytes to clients (they queue in the kernel, nothing is lost). */
  silence(): void {
    this.silent = true;
    for (const { upstream } of this.pairs) upstream.pause();
  }

  /** Passes the server's bytes again. */
  resume(): void {
    this.silent = false;
    for (const { upstream } of this.pairs) upstream.resume();
  }

  /** Closes the listener and every proxied connection. */
  async stop(): Promise<void> {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
    if (this.server !== undefined) {
      this.server.close();
      await once(this.server, 'close');
    }
  }
}
