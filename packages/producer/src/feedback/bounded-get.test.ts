import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { boundedGet } from './bounded-get';

/** A local server: `/ok` answers a small body, `/big` 100 KB, `/slow` never, `/redirect` a 302. */
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/ok') res.end('hello');
    else if (req.url === '/big') res.end('x'.repeat(100 * 1024));
    else if (req.url === '/redirect') res.writeHead(302, { location: '/ok' }).end();
    // '/slow': headers sent, the body never ends.
    else res.writeHead(200).write('partial');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
});

describe('boundedGet', () => {
  it('when the answer is within the limits, then its status and body come back', async () => {
    expect(await boundedGet(`${base}/ok`, { timeoutMs: 5000, maxBytes: 1024 })).toEqual({ status: 200, body: 'hello' });
  });

  it('when the answer is a redirect, then it is not followed', async () => {
    expect(await boundedGet(`${base}/redirect`, { timeoutMs: 5000, maxBytes: 1024 })).toMatchObject({ status: 302 });
  });

  it('when the body is over the cap, then the GET fails', async () => {
    await expect(boundedGet(`${base}/big`, { timeoutMs: 5000, maxBytes: 1024 })).rejects.toThrow('over 1024 bytes');
  });

  it('when the body does not end before the deadline, then the GET fails', async () => {
    await expect(boundedGet(`${base}/slow`, { timeoutMs: 200, maxBytes: 1024 })).rejects.toThrow('within 200 ms');
  });

  it('when nothing listens, then the GET fails', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port } = closed.address() as AddressInfo;
    closed.close();
    await once(closed, 'close');
    await expect(boundedGet(`http://127.0.0.1:${port}/`, { timeoutMs: 5000, maxBytes: 1024 })).rejects.toThrow(
      'the request failed',
    );
  });

  it('when the URL is not http or https, then nothing is fetched', async () => {
    await expect(boundedGet('file:///etc/passwd', { timeoutMs: 5000, maxBytes: 1024 })).rejects.toThrow(
      'only http and https',
    );
  });
});
