import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

/**
 * Answers a scrape: the registry in Prometheus text format. Usable as a plain `node:http`
 * handler and as an Express one (Express requests and responses are these).
 */
export function metricsHandler(registry: Registry) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    registry.metrics().then(
      (text) => {
        response.statusCode = 200;
        response.setHeader('Content-Type', registry.contentType);
        response.setHeader('Cache-Control', 'no-store');
        response.end(request.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        sendProblem(response, 500, {
          title: 'Metrics unavailable',
          detail: error instanceof Error ? error.message : String(error),
        });
      },
    );
  };
}

/** An RFC 9457 problem document (the small HTTP ports have no Express to make them). */
export function sendProblem(
  response: ServerResponse,
  status: number,
  problem: { readonly title: string; readonly detail?: string; readonly [key: string]: unknown },
): void {
  response.statusCode = status;
  response.setHeader('Content-Type', 'application/problem+json');
  response.setHeader('Cache-Control', 'no-store');
  response.end(JSON.stringify({ type: 'about:blank', status, ...problem }));
}
