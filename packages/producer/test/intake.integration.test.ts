import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { createConnection } from 'node:net';
import request from 'supertest';
import { MAX_ATTACHMENT_BYTES, MAX_BATCH_SIZE } from '@mailer/contract';
import { drainQueue, queueDepth } from '@mailer/testkit';
import { HttpServer } from '../src/http/server';
import { useScratchLedger } from './support/ledger';
import { OTHER_KEY, TEST_KEY, startTestProducer, validEmail, type TestProducer } from './support/producer';

const scratch = useScratchLedger('intake');
let producer: TestProducer;

beforeAll(async () => {
  producer = await startTestProducer('intake', { ledger: scratch.current().adapter });
});

afterAll(async () => {
  await producer.close();
});

const auth = { authorization: `Bearer ${TEST_KEY}` };
const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function post(path = '/v1/emails'): request.Test {
  return request(producer.app).post(path).set(auth);
}

/** Posts `body` byte for byte (supertest would JSON-encode a Buffer). */
function postBytes(body: Buffer, contentType: string): request.Test {
  return post()
    .set('content-type', contentType)
    .serialize((data: unknown) => data as string)
    .send(body as unknown as string);
}

function expectProblem(response: request.Response, status: number, type: string): void {
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.body).toMatchObject({ status, type });
  expect(typeof response.body.title).toBe('string');
}

describe('POST /v1/emails', () => {
  it('when the request is valid, then 202 with a UUIDv7 id, and the message is queued with that id, persistent', async () => {
    const email = validEmail({ cc: [{ email: 'cc@example.org' }], tags: { kind: 'receipt' } });
    const response = await post().set('x-request-id', 'req-abc-1').send(email);

    expect(response.status).toBe(202);
    expect(response.body).toEqual({ id: expect.stringMatching(uuidV7), status: 'queued' });
    expect(response.headers['location']).toBe(`/v1/emails/${response.body.id}`);
    expect(response.headers['x-request-id']).toBe('req-abc-1');

    const [message] = await drainQueue(producer.topology.workQueue.name, 1);
    expect(message?.properties.messageId).toBe(response.body.id);
    expect(message?.properties.deliveryMode).toBe(2);
    expect(message?.properties.headers).toMatchObject({ 'x-request-id': 'req-abc-1', 'x-mailer-client': 'test' });
    const envelope = JSON.parse(message?.content.toString('utf8') ?? '{}');
    expect(envelope).toMatchObject({ version: 1, id: response.body.id, client: 'test', request: email });
  });

  it('when the body breaks several rules, then 400 lists every problem with a JSON pointer, and nothing is queued', async () => {
    const response = await post().send({
      from: { email: 'not-an-address' },
      to: [{ email: 'a@example.org' }],
      subject: 'line\r\nBcc: victim@example.org',
      headers: { 'X-Ok': 'fine', Received: 'spoofed', 'X-Evil': 'a\nb' },
      unknown: true,
    });

    expectProblem(response, 400, '/problems/validation');
    const pointers = (response.body.errors as { pointer: string }[]).map((e) => e.pointer).sort();
    // The body rule is in the schema now, so a request with no text is told so beside the rest.
    expect(pointers).toEqual(
      ['/from/email', '/headers/Received', '/headers/X-Evil', '/subject', '/text', '/unknown'].sort(),
    );
    expect(await queueDepth(producer.topology.workQueue.name)).toBe(0);
  });

  it('when neither text nor html nor any recipient is given, then 400 names both rules', async () => {
    const response = await post().send({ from: { email: 'a@example.com' }, subject: 'x' });

    expectProblem(response, 400, '/problems/validation');
    expect(response.body.errors).toEqual([
      { pointer: '/to', detail: 'at least one recipient is required in to, cc or bcc' },
      { pointer: '/text', detail: 'a non-empty text or html (or both) is required' },
    ]);
  });

  it('when a caller sets a reserved X-Mailer- header, then 400', async () => {
    const response = await post().send(validEmail({ headers: { 'X-Mailer-Email-Id': 'forged' } }));

    expectProblem(response, 400, '/problems/validation');
    expect(response.body.errors[0].pointer).toBe('/headers/X-Mailer-Email-Id');
  });

  it('when the JSON is malformed, then 400 malformed-json saying it is not valid JSON', async () => {
    const response = await post().set('content-type', 'application/json').send('{"from": ');

    expectProblem(response, 400, '/problems/malformed-json');
    expect(response.body.title).toBe('Malformed JSON');
    expect(response.body.detail).toBe('The body is not valid JSON.');
  });

  it('when the body is a bare JSON value, then 400 malformed-json saying it must be an object', async () => {
    const response = await post().set('content-type', 'application/json').send('"hello"');

    expectProblem(response, 400, '/problems/malformed-json');
    expect(response.body.detail).toBe('The body must be a JSON object, not a bare JSON value.');
  });

  it('when the body holds bytes that are not UTF-8, then 400 malformed-json, and nothing is queued', async () => {
    // "café" encoded as Latin-1: é is the lone byte 0xE9, not UTF-8; it used to become U+FFFD.
    const body = Buffer.from(JSON.stringify(validEmail({ subject: 'café' })), 'latin1');
    const response = await postBytes(body, 'application/json');

    expectProblem(response, 400, '/problems/malformed-json');
    expect(response.body.detail).toBe('The body is not valid UTF-8; JSON must be sent as UTF-8.');
    expect(await queueDepth(producer.topology.workQueue.name)).toBe(0);
  });

  it('when the body is UTF-8 with characters beyond ASCII, then 202 and they are queued unchanged', async () => {
    const subject = 'Café — 領収書 🧾';
    const response = await postBytes(
      Buffer.from(JSON.stringify(validEmail({ subject })), 'utf8'),
      'application/json; charset=utf-8',
    );

    expect(response.status).toBe(202);
    const [message] = await drainQueue(producer.topology.workQueue.name, 1);
    expect(JSON.parse(message?.content.toString('utf8') ?? '{}').request.subject).toBe(subject);
  });

  it('when the body declares another charset than UTF-8, then 415', async () => {
    const response = await postBytes(
      Buffer.from(JSON.stringify(validEmail()), 'utf16le'),
      'application/json; charset=utf-16le',
    );

    expectProblem(response, 415, '/problems/unsupported-media-type');
    expect(await queueDepth(producer.topology.workQueue.name)).toBe(0);
  });

  it('when there is no API key, then 401 with WWW-Authenticate', async () => {
    const response = await request(producer.app).post('/v1/emails').send(validEmail());

    expectProblem(response, 401, '/problems/unauthorized');
    expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('when the API key is unknown, then 401', async () => {
    const response = await request(producer.app)
      .post('/v1/emails')
      .set('authorization', 'Bearer not-a-key')
      .send(validEmail());

    expectProblem(response, 401, '/problems/unauthorized');
  });

  it('when the key may not use the sender, then 403 naming it, and nothing is queued', async () => {
    const response = await request(producer.app)
      .post('/v1/emails')
      .set('authorization', `Bearer ${OTHER_KEY}`)
      .send(validEmail());

    expectProblem(response, 403, '/problems/forbidden-sender');
    expect(response.body.errors).toEqual([
      { pointer: '/from/email', detail: 'may not send from no-reply@example.com' },
    ]);
    expect(await queueDepth(producer.topology.workQueue.name)).toBe(0);
  });

  it('when a key allows one exact address, then only that address at the domain is allowed', async () => {
    const allowed = await post().send(validEmail({ from: { email: 'Alerts@Example.org' } }));
    const refused = await post().send(validEmail({ from: { email: 'billing@example.org' } }));

    expect(allowed.status).toBe(202);
    expectProblem(refused, 403, '/problems/forbidden-sender');
    await drainQueue(producer.topology.workQueue.name, 1);
  });

  it('when the body is over the size cap, then 413', async () => {
    const small = await startTestProducer('intake-small', { maxBodyBytes: 2048 });
    try {
      const response = await request(small.app)
        .post('/v1/emails')
        .set(auth)
        .send(validEmail({ text: 'x'.repeat(4096) }));

      expectProblem(response, 413, '/problems/too-large');
    } finally {
      await small.close();
    }
  });

  it('when the attachments are over their cap, then 413 naming the attachments', async () => {
    const chunk = Buffer.alloc(MAX_ATTACHMENT_BYTES / 2 + 1).toString('base64');
    const attachment = (filename: string) => ({ filename, content: chunk, content_type: 'application/pdf' });
    const response = await post().send(validEmail({ attachments: [attachment('a.pdf'), attachment('b.pdf')] }));

    expectProblem(response, 413, '/problems/too-large');
    expect(response.body.errors[0].pointer).toBe('/attachments');
  });

  it('when the content type is not JSON, then 415', async () => {
    const response = await post().set('content-type', 'text/plain').send('hello');

    expectProblem(response, 415, '/problems/unsupported-media-type');
  });

  it('when a body has more problems than a 400 lists, then the first 100 are listed and errors_omitted counts the rest', async () => {
    const unknown = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`x${i}`, i]));
    const response = await post().send({ ...validEmail(), ...unknown });

    expectProblem(response, 400, '/problems/validation');
    expect(response.body.errors).toHaveLength(100);
    expect(response.body.errors[0]).toEqual({ pointer: '/x0', detail: 'is not an allowed property' });
    expect(response.body.errors_omitted).toBe(50);
    expect(response.body.detail).toBe('150 problems found, the first 100 listed; nothing was queued.');
  });

  it('when a list in the body has over 1000 items, then 400 names it before the body is parsed', async () => {
    const response = await post().send({ ...validEmail(), cc: Array.from({ length: 1001 }, () => 1) });

    expectProblem(response, 400, '/problems/validation');
    expect(response.body.errors).toEqual([
      { pointer: '/cc', detail: 'has more than 1000 items; no list in a request may have that many' },
    ]);
  });
});

/** Writes `head` (and `body`) on a raw connection; resolves with all the server sent once it closed. */
async function exchange(port: number, head: string, body?: Buffer): Promise<string> {
  const socket = createConnection({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.write(head);
  if (body !== undefined) socket.write(body);
  await once(socket, 'close');
  return received;
}

describe('a Content-Length over MAX_BODY_BYTES', () => {
  let small: TestProducer;
  let server: HttpServer;
  let port: number;
  const maxBodyBytes = 2048;
  const oversized = 100 * 1024 * 1024;
  const head = (extra: string) =>
    `POST /v1/emails HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${oversized}\r\n${extra}\r\n`;

  beforeAll(async () => {
    small = await startTestProducer('intake-declared', { maxBodyBytes });
    server = new HttpServer(small.app);
    port = await server.listen(0, '127.0.0.1');
  });

  afterAll(async () => {
    await server.close(1000);
    await small.close();
  });

  it('when the client expects 100-continue, then 413 comes at once without 100 Continue, and the server closes the connection', async () => {
    const received = await exchange(port, head(`Authorization: Bearer ${TEST_KEY}\r\nExpect: 100-continue\r\n`));

    expect(received).toMatch(/^HTTP\/1\.1 413 /);
    expect(received).not.toContain('100 Continue');
    expect(received.toLowerCase()).toContain('connection: close');
    expect(received).toContain(`"detail":"The body may be at most ${maxBodyBytes} bytes."`);
  });

  it('when the client sends the body straight away, then 413 comes after the first bytes and the server closes instead of reading the rest', async () => {
    // Only 1 KiB of the declared 100 MiB is ever sent: the answer cannot wait for the rest.
    const received = await exchange(port, head(`Authorization: Bearer ${TEST_KEY}\r\n`), Buffer.alloc(1024, 0x20));

    expect(received).toMatch(/^HTTP\/1\.1 413 /);
    expect(received).toContain('"type":"/problems/too-large"');
  });

  it('when the request has no API key either, then the size is answered first: 413, not 401', async () => {
    const received = await exchange(port, head('Expect: 100-continue\r\n'));

    expect(received).toMatch(/^HTTP\/1\.1 413 /);
  });

  it('when the body is within the cap and the client expects 100-continue, then 100 Continue, then 202', async () => {
    const body = JSON.stringify(validEmail({ text: 'short' }));
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/v1/emails',
      headers: {
        authorization: `Bearer ${TEST_KEY}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        expect: '100-continue',
      },
    });
    const continued = once(req, 'continue');
    const responded = once(req, 'response');
    req.flushHeaders();
    await continued;
    req.end(body);
    const [response] = (await responded) as [IncomingMessage];
    response.resume();

    expect(response.statusCode).toBe(202);
    await drainQueue(small.topology.workQueue.name, 1);
  });
});

describe('while the producer is shutting down', () => {
  let draining: TestProducer;
  const state = { draining: false };

  beforeAll(async () => {
    draining = await startTestProducer('intake-draining', { draining: () => state.draining });
  });

  afterAll(() => draining.close());

  it('when a request arrives after shutdown began, then 503 not-ready with Connection: close and Retry-After, and nothing is queued', async () => {
    expect((await request(draining.app).post('/v1/emails').set(auth).send(validEmail())).status).toBe(202);
    state.draining = true;
    const response = await request(draining.app).post('/v1/emails').set(auth).send(validEmail());

    expectProblem(response, 503, '/problems/not-ready');
    expect(response.headers['connection']).toBe('close');
    expect(response.headers['retry-after']).toBe('5');
    expect(response.body).toEqual({
      type: '/problems/not-ready',
      title: 'Service not ready',
      status: 503,
      detail: 'This instance is shutting down and takes no new requests; nothing was queued. Retry after 5 seconds.',
    });
    expect(await queueDepth(draining.topology.workQueue.name)).toBe(1);
    await drainQueue(draining.topology.workQueue.name, 1);
  });

  it('when a probe asks, then /readyz is 503 shutting down and /healthz still 200', async () => {
    state.draining = true;
    expect((await request(draining.app).get('/readyz')).body).toEqual({ status: 'not-ready', reason: 'shutting down' });
    expect((await request(draining.app).get('/healthz')).status).toBe(200);
  });
});

describe('routes and methods', () => {
  it('when the route is unknown, then 404 problem+json', async () => {
    const response = await request(producer.app).get('/v2/nothing');

    expectProblem(response, 404, '/problems/not-found');
  });

  it('when the method is wrong, then 405 with Allow', async () => {
    const response = await request(producer.app).delete('/v1/emails');

    expectProblem(response, 405, '/problems/method-not-allowed');
    expect(response.headers['allow']).toBe('GET, HEAD, POST');
    const batch = await request(producer.app).get('/v1/emails/batch').set(auth);
    expectProblem(batch, 405, '/problems/method-not-allowed');
    expect(batch.headers['allow']).toBe('POST');
    const one = await request(producer.app).put('/v1/emails/0191f7a4-8c1e-7c4b-9a53-2f9d8d3e4b10').set(auth);
    expectProblem(one, 405, '/problems/method-not-allowed');
    expect(one.headers['allow']).toBe('GET, HEAD');
  });

  it.each([
    ['/v1/emails', 'GET, HEAD, POST'],
    ['/v1/emails/batch', 'POST'],
    ['/v1/emails/0191f7a4-8c1e-7c4b-9a53-2f9d8d3e4b10', 'GET, HEAD'],
    ['/healthz', 'GET, HEAD'],
    ['/readyz', 'GET, HEAD'],
    ['/openapi.json', 'GET, HEAD'],
    ['/docs', 'GET, HEAD'],
  ])('when OPTIONS is sent to %s, then 405 with Allow %p (Express would answer 200 itself)', async (path, allow) => {
    const response = await request(producer.app).options(path).set(auth);

    expectProblem(response, 405, '/problems/method-not-allowed');
    expect(response.headers['allow']).toBe(allow);
  });

  it('when OPTIONS is sent to an unknown path, then 404', async () => {
    expectProblem(await request(producer.app).options('/v2/nothing'), 404, '/problems/not-found');
  });

  it('when the email is accepted, then the ledger holds it as queued before anything else', async () => {
    const response = await post().send(validEmail({ to: [{ email: 'jane@example.org' }], tags: { kind: 'x' } }));

    expect(response.status).toBe(202);
    const rows = await scratch
      .current()
      .rows<{ state: string; client: string; recipients: string[]; tags: unknown }>(
        'SELECT state, client, recipients, tags FROM emails WHERE id = $1',
        [response.body.id],
      );
    expect(rows).toEqual([{ state: 'queued', client: 'test', recipients: ['j***@example.org'], tags: { kind: 'x' } }]);
    await drainQueue(producer.topology.workQueue.name, 1);
  });

  it('when asked, then /healthz and /readyz answer 200 and /openapi.json serves the schema', async () => {
    expect((await request(producer.app).get('/healthz')).status).toBe(200);
    expect((await request(producer.app).get('/readyz')).body).toEqual({ status: 'ready' });
    const openapi = await request(producer.app).get('/openapi.json');
    expect(openapi.body.openapi).toBe('3.1.0');
    expect(openapi.body.components.schemas.EmailRequest.required).toEqual(['from', 'subject']);
  });
});

describe('POST /v1/emails/batch', () => {
  it('when every item is valid, then 202 lists the ids in order and each is queued', async () => {
    const emails = [0, 1, 2].map((i) => validEmail({ subject: `batch ${i}` }));
    const response = await post('/v1/emails/batch').send({ emails });

    expect(response.status).toBe(202);
    const items = response.body.items as { index: number; id: string; status: string }[];
    expect(items.map((i) => i.index)).toEqual([0, 1, 2]);
    expect(items.every((i) => i.status === 'queued' && uuidV7.test(i.id))).toBe(true);

    const messages = await drainQueue(producer.topology.workQueue.name, 3);
    const subjects = new Map(
      messages.map((m) => [m.properties.messageId, JSON.parse(m.content.toString()).request.subject]),
    );
    expect(items.map((i) => subjects.get(i.id))).toEqual(['batch 0', 'batch 1', 'batch 2']);
  });

  it('when some items are invalid, then 400 names each bad item by index and nothing is queued', async () => {
    const emails = [validEmail(), validEmail({ subject: '' }), validEmail(), validEmail({ to: [] })];
    const response = await post('/v1/emails/batch').send({ emails });

    expectProblem(response, 400, '/problems/validation');
    const indexes = (response.body.errors as { index: number }[]).map((e) => e.index);
    expect([...new Set(indexes)].sort()).toEqual([1, 3]);
    expect(await queueDepth(producer.topology.workQueue.name)).toBe(0);
  });

  it(`when there are more than ${MAX_BATCH_SIZE} items, then 400`, async () => {
    const emails = Array.from({ length: MAX_BATCH_SIZE + 1 }, () => validEmail());
    const response = await post('/v1/emails/batch').send({ emails });

    expectProblem(response, 400, '/problems/validation');
    expect(response.body.errors).toEqual([{ pointer: '/emails', detail: 'must NOT have more than 100 items' }]);
  });

  it('when one item has a forbidden sender, then 403 naming that item and nothing is queued', async () => {
    const emails = [validEmail(), validEmail({ from: { email: 'ceo@elsewhere.com' } })];
    const response = await post('/v1/emails/batch').send({ emails });

    expectProblem(response, 403, '/problems/forbidden-sender');
    expect(response.body.errors).toEqual([
      { pointer: '/emails/1/from/email', detail: 'may not send from ceo@elsewhere.com', index: 1 },
    ]);
    expect(await queueDepth(producer.topology.workQueue.name)).toBe(0);
  });
});
