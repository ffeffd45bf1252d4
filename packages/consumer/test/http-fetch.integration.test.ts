import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpFetch } from '../src/providers/http-fetch';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** A loopback HTTP server whose answer each test sets; it records what it was sent. */
function startServer(): Promise<{
  server: Server;
  base: string;
  seen: Seen[];
  answer: (fn: (res: ServerResponse) => void) => void;
}> {
  const seen: Seen[] = [];
  let respond: (res: ServerResponse) => void = (res) => res.end();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      respond(res);
    });
  });
  server.listen(0, '127.0.0.1');
  return once(server, 'listening').then(() => ({
    server,
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    answer: (fn) => {
      respond = fn;
    },
  }));
}

describe('the http fetch the Postmark provider uses', () => {
  const fetchOver = createHttpFetch();
  let local: Awaited<ReturnType<typeof startServer>>;

  beforeAll(async () => {
    local = await startServer();
  });

  afterAll(async () => {
    local.server.closeAllConnections();
    await new Promise((resolve) => local.server.close(resolve));
  });

  it('when it posts a JSON body with headers, then the server gets both and the answer reads as fetch', async () => {
    local.answer((res) => {
      res.writeHead(422, { 'content-type': 'application/json', 'x-extra': 'yes' });
      res.end('{"ErrorCode":300,"Message":"Invalid"}');
    });

    const response = await fetchOver(`${local.base}/email?x=1`, {
      method: 'POST',
      headers: { 'X-Postmark-Server-Token': 'token-1', 'Content-Type': 'application/json' },
      body: '{"Subject":"Grüße"}',
    });

    expect(response.status).toBe(422);
    expect(response.headers.get('x-extra')).toBe('yes');
    expect(await response.json()).toEqual({ ErrorCode: 300, Message: 'Invalid' });
    const request = local.seen.at(-1);
    expect(request).toMatchObject({ method: 'POST', url: '/email?x=1', body: '{"Subject":"Grüße"}' });
    expect(request?.headers).toMatchObject({
      'x-postmark-server-token': 'token-1',
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength('{"Subject":"Grüße"}')),
    });
  });

  it('when the answer is 204, then the response has an empty body', async () => {
    local.answer((res) => {
      res.writeHead(204);
      res.end();
    });

    const response = await fetchOver(`${local.base}/nothing`, { method: 'DELETE' });

    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');
  });

  it('when the answer is a redirect, then it is returned, not followed', async () => {
    local.answer((res) => {
      res.writeHead(302, { location: '/elsewhere' });
      res.end();
    });
    const before = local.seen.length;

    const response = await fetchOver(`${local.base}/email`, { method: 'POST', body: '{}' });

    expect(response.status).toBe(302);
    expect(local.seen.length).toBe(before + 1);
  });

  it('when the signal aborts while the server has not answered, then it rejects with the signal reason', async () => {
    const arrived = new Promise<void>((resolve) => {
      local.answer(() => resolve());
    });
    const controller = new AbortController();
    const reason = new DOMException('gave up', 'TimeoutError');
    const answered = fetchOver(`${local.base}/hang`, { method: 'POST', body: '{}', signal: controller.signal });
    await arrived;

    controller.abort(reason);

    await expect(answered).rejects.toBe(reason);
  });

  it('when it is given a Request object or a body it cannot send, then it rejects before connecting', async () => {
    const before = local.seen.length;

    await expect(fetchOver(new Request(`${local.base}/email`))).rejects.toThrow(TypeError);
    await expect(
      fetchOver(`${local.base}/email`, { method: 'POST', body: new URLSearchParams({ a: '1' }) }),
    ).rejects.toThrow(TypeError);
    await expect(fetchOver('ftp://127.0.0.1/email')).rejects.toThrow(TypeError);
    expect(local.seen.length).toBe(before);
  });
});
