import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DestinationPolicy, parseNetwork, type Network } from '@mailer/contract';
import { DestinationGuard } from '../src/webhooks/destination-guard';
import { until } from '@mailer/testkit';
import { WebhookAgents, postWebhook, type PostOptions } from '../src/webhooks/post';

/*
 * One webhook POST against a server on 127.0.0.1 (allowed for these tests): redirects are answers,
 * not followed; a large answer is cut at 4 KB and its connection dropped; a silent server times
 * out; http:// is refused unless allowed, before any connection.
 */

const allowLoopback = new DestinationPolicy([parseNetwork('127.0.0.0/8') as Network]);
const agents = new WebhookAgents();
let server: Server;
let base: string;
let connections = 0;
const hits = new Map<string, number>();
/** Responses held open by the silent route, ended after the test. */
const held: (() => void)[] = [];
/** Whether the large answer was written whole before its connection closed; undefined until it closed. */
let largeWrittenWhole: boolean | undefined;

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    req.resume();
    req.on('end', () => {
      if (path === '/redirect') {
        res.writeHead(302, { location: `${base}/target` }).end();
      } else if (path === '/large') {
        // More than the socket buffers hold: only a reader that reads it all lets it finish.
        res.on('close', () => (largeWrittenWhole = res.writableFinished));
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(Buffer.alloc(32 * 1024 * 1024, 'x'));
      } else if (path === '/silent') {
        held.push(() => res.end());
      } else {
        res.writeHead(200).end('ok');
      }
    });
  });
  server.on('connection', () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const end of held) end();
  agents.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function options(overrides: Partial<PostOptions> & { allowHttp?: boolean } = {}): PostOptions {
  return {
    guard: new DestinationGuard(allowLoopback, { allowHttp: overrides.allowHttp ?? true }),
    timeoutMs: overrides.timeoutMs ?? 10_000,
    userAgent: 'test',
    agents,
  };
}

describe('postWebhook', () => {
  it('when the endpoint answers 302, then that is the answer and the redirect is not followed', async () => {
    const result = await postWebhook(`${base}/redirect`, '{}', {}, options());
    expect(result).toMatchObject({ kind: 'answer', status: 302 });
    expect(hits.get('/target')).toBeUndefined();
  });

  it('when the answer is large, then the connection is dropped after the first 4 KB and the stored text is short', async () => {
    const result = await postWebhook(`${base}/large`, '{}', {}, options());
    expect(result).toMatchObject({ kind: 'answer', status: 500 });
    expect(result.kind === 'answer' ? result.text : '').toBe('x'.repeat(200));
    await until(() => largeWrittenWhole !== undefined, 'the large answer’s connection closed', 10_000);
    expect(largeWrittenWhole).toBe(false);
  });

  it('when the endpoint says nothing within the timeout, then the try failed with timeout', async () => {
    const started = Date.now();
    const result = await postWebhook(`${base}/silent`, '{}', {}, options({ timeoutMs: 300 }));
    expect(result).toEqual({ kind: 'error', error: 'timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('when the URL is http:// and http is not allowed, then it is refused and no connection is made', async () => {
    const before = connections;
    const result = await postWebhook(`${base}/ok`, '{}', {}, options({ allowHttp: false }));
    expect(result).toEqual({ kind: 'refused', reason: 'http not allowed' });
    expect(connections).toBe(before);
  });

  it('when the endpoint answers 200, then the answer is a success with its text', async () => {
    expect(await postWebhook(`${base}/ok`, '{}', {}, options())).toEqual({
      kind: 'answer',
      status: 200,
      text: 'ok',
      retryAfter: undefined,
    });
  });
});
