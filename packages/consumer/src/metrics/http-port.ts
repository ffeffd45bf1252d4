import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readiness } from '@mailer/contract';
import { metricsHandler, sendProblem, type Registry } from '@mailer/service';
import type { PauseReason } from '../amqp/delivery-worker';

/**
 * What `/readyz` reads: the broker's channel, why the worker is not consuming, if it is not, and
 * the providers' latest checks (`ProviderChecks`, which never makes a probe wait on a provider).
 */
export interface ReadinessSources {
  readonly broker: { readiness(): Readiness };
  readonly worker: { readonly paused: PauseReason | undefined };
  readonly providers?: { readiness(): Readiness };
}

const PAUSE_REASONS: Readonly<Record<PauseReason, string | undefined>> = {
  stopping: 'shutting down',
  'ledger-unavailable': 'the ledger is unavailable; nothing is sent until it answers',
  'providers-unavailable': 'no provider is usable (every circuit is open)',
  // Taking no more until settled bodies free some room: working at capacity, not broken.
  'held-bytes': undefined,
};

/**
 * Whether the consumer is consuming (or able to, at capacity) and some provider can take its
 * emails, and why not when it is not.
 */
export function consumerReadiness({ broker, worker, providers }: ReadinessSources): Readiness {
  const paused = worker.paused;
  if (paused === 'stopping') return { ready: false, reason: PAUSE_REASONS.stopping as string };
  const connected = broker.readiness();
  if (!connected.ready) return connected;
  const reason = paused === undefined ? undefined : PAUSE_REASONS[paused];
  if (reason !== undefined) return { ready: false, reason };
  return providers?.readiness() ?? { ready: true };
}

/**
 * The consumer's small HTTP port (`HTTP_PORT`): `/metrics` (Prometheus text), `/healthz` (the
 * process answers) and `/readyz` (consuming; 503 problem+json with the reason when not).
 */
export class ConsumerHttpPort {
  private readonly server: Server;

  constructor(registry: Registry, readiness: () => Readiness) {
    const metrics = metricsHandler(registry);
    this.server = createServer((request, response) => {
      const path = (request.url ?? '/').split('?', 1)[0];
      const known = path === '/metrics' || path === '/healthz' || path === '/readyz';
      if (!known) {
        sendProblem(response, 404, { title: 'Not Found', detail: `${path ?? ''} is not served here` });
        return;
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.setHeader('Allow', 'GET, HEAD');
        sendProblem(response, 405, { title: 'Method Not Allowed' });
        return;
      }
      if (path === '/metrics') {
        metrics(request, response);
        return;
      }
      const answer = path === '/healthz' ? { ready: true } : readiness();
      if (!answer.ready) {
        sendProblem(response, 503, { title: 'Not ready', detail: answer.reason ?? 'not ready', reason: answer.reason });
        return;
      }
      response.setHeader('Content-Type', 'application/json');
      response.setHeader('Cache-Control', 'no-store');
      response.end(
        request.method === 'HEAD' ? undefined : JSON.stringify({ status: path === '/healthz' ? 'ok' : 'ready' }),
      );
    });
  }

  /** Listens; resolves with the port (0 picks a free one). */
  async listen(port: number, host: string): Promise<number> {
    this.server.listen(port, host);
    await once(this.server, 'listening');
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops listening and closes its connections (scrapes are short). */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = once(this.server, 'close');
    this.server.close();
    this.server.closeAllConnections();
    await closed;
  }
}
