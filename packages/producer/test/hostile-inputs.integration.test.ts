import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { DEFAULT_DELIVERY_LIMIT, DEFAULT_RETRY_DELAYS_MS, buildTopology } from '@mailer/contract';
import { AMQP_URL, deleteTopology, freePort, runService, uniquePrefix, type Service } from '@mailer/testkit';
import { useScratchLedger } from './support/ledger';
import { TEST_KEY, testApiKeys, validEmail } from './support/producer';

/*
 * Issue 14, "Inputs that hurt": requests of a few KB to a few MB that once took the producer
 * 18-23 s, 3 GB and a 259 MB answer, or a 500. The built producer runs as its own process, as in
 * production, so that its memory is its own and `/healthz` is answered by the same event loop.
 */

const main = path.resolve(__dirname, '../dist/main.js');
const scratch = useScratchLedger('hostile');
const prefix = uniquePrefix('hostile');

/** "A few KB": the largest answer any of these requests may get. */
const MAX_ANSWER_BYTES = 8 * 1024;
/** How much the producer's resident memory may have grown once every request was answered. */
const MAX_RSS_GROWTH_BYTES = 100 * 1024 * 1024;

let producer: Service;
let port: number;

beforeAll(async () => {
  if (!existsSync(main)) throw new Error(`${main} is missing: run "pnpm run build" first (pnpm test does)`);
  port = await freePort();
  producer = runService(main, {
    AMQP_URL,
    AMQP_PREFIX: prefix,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    DATABASE_URL: scratch.current().database.url,
    API_KEYS: JSON.stringify(
      testApiKeys.map((key) => ({ name: key.name, key_sha256: key.keyHash.toString('hex'), senders: key.senders })),
    ),
  });
  await producer.logged((line) => line['message'] === 'producer listening');
});

afterAll(async () => {
  if (producer.child.exitCode === null && producer.child.pid !== undefined) {
    process.kill(producer.child.pid, 'SIGKILL');
  }
  await producer.exited;
  await deleteTopology(
    buildTopology({ prefix, retryDelaysMs: DEFAULT_RETRY_DELAYS_MS, deliveryLimit: DEFAULT_DELIVERY_LIMIT }),
  );
});

/** The producer's resident set size, from Linux's /proc. */
function rssOf(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match?.[1] === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
}

/**
 * POSTs `body` to `route`; `sent` resolves once the whole body was handed to the socket, so that
 * what is sent next reaches the producer while it handles this one.
 */
function post(
  route: string,
  body: Buffer,
  headers: Record<string, string> = {},
): { sent: Promise<void>; answer: Promise<Answer> } {
  const req = httpRequest({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: route,
    headers: {
      authorization: `Bearer ${TEST_KEY}`,
      'content-type': 'application/json',
      'content-length': String(body.length),
      connection: 'close',
      ...headers,
    },
  });
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers['content-type']),
          body: Buffer.concat(chunks),
        }),
      );
    });
  });
  const sent = new Promise<void>((resolve) => req.end(body, () => resolve()));
  return { sent, answer };
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

/** `{...valid email, "f0000000":0, ...}` of about `bytes` bytes: unknown properties only. */
function unknownFieldFlood(bytes: number): Buffer {
  const head = JSON.stringify(validEmail()).slice(0, -1);
  const field = (i: number) => `,"f${String(i).padStart(7, '0')}":0`;
  const count = Math.floor((bytes - head.length - 1) / field(0).length);
  return Buffer.from(`${head}${Array.from({ length: count }, (_, i) => field(i)).join('')}}`);
}

/** `template` as JSON, its `"@list"` replaced by a list of `items` ones: 2 bytes each, next to nothing gzipped. */
function withList(template: object, items: number): Buffer {
  return Buffer.from(JSON.stringify(template).replace('"@list"', `[${'1,'.repeat(items - 1)}1]`));
}

const gz = { 'content-encoding': 'gzip' };
const br = { 'content-encoding': 'br' };

const sevenMegabytes = 3_500_000;

interface HostileCase {
  readonly label: string;
  readonly route: '/v1/emails' | '/v1/emails/batch';
  readonly headers: Record<string, string>;
  readonly body: () => Buffer;
}

const attachmentWith = (fields: Record<string, unknown>) =>
  json({
    ...validEmail(),
    attachments: [{ filename: 'a.png', content: 'QUJD', content_type: 'image/png', ...fields }],
  });

const cases: readonly HostileCase[] = [
  {
    label: 'a "to" of 5 M items, gzipped',
    route: '/v1/emails',
    headers: gz,
    body: () => gzipSync(withList({ ...validEmail(), to: '@list' }, 5_000_000)),
  },
  {
    label: 'a batch of 5 M items, brotli',
    route: '/v1/emails/batch',
    headers: br,
    body: () => brotliCompressSync(withList({ emails: '@list' }, 5_000_000)),
  },
  { label: '10 MB of unknown fields', route: '/v1/emails', headers: {}, body: () => unknownFieldFlood(10_000_000) },
  {
    label: '10 M nested brackets, gzipped',
    route: '/v1/emails',
    headers: gz,
    body: () => gzipSync(Buffer.alloc(10_000_000, '[')),
  },
  {
    label: 'a 7 MB In-Reply-To',
    route: '/v1/emails',
    headers: {},
    body: () => json(validEmail({ headers: { 'In-Reply-To': `<${'a.'.repeat(sevenMegabytes)}a@b>` } })),
  },
  {
    label: "an attachment's content_type with 1.2 M parameters",
    route: '/v1/emails',
    headers: {},
    body: () => attachmentWith({ content_type: `text/plain${';a=b'.repeat(1_200_000)}` }),
  },
  {
    label: "a 7 MB attachment's content_id",
    route: '/v1/emails',
    headers: {},
    body: () => attachmentWith({ inline: true, content_id: `${'a.'.repeat(sevenMegabytes)}a@b` }),
  },
  {
    // Quoted back in the 415's detail: only its start is.
    label: 'a 15 KB Content-Type',
    route: '/v1/emails',
    headers: { 'content-type': `text/plain; x=${'y'.repeat(15_000)}` },
    body: () => json(validEmail()),
  },
  {
    // Decompressed bodies have the same cap as raw ones (MAX_BODY_BYTES): a 413 once it is passed.
    label: '64 MB of zeros, gzipped to 64 KB',
    route: '/v1/emails',
    headers: gz,
    body: () => gzipSync(Buffer.alloc(64 * 1024 * 1024)),
  },
];

describe('requests that once stalled the producer or got a 500', () => {
  let before: number;

  beforeAll(async () => {
    // Warm up what the first request compiles (ajv's validators) before the baseline is taken.
    const warm = post('/v1/emails', json({ subject: 'warm-up' }));
    expect((await warm.answer).status).toBe(400);
    before = rssOf(producer.child.pid ?? 0);
  });

  it.each(cases)(
    'when the body is $label, then a small 4xx while /healthz keeps answering',
    async ({ label, route, headers, body: make }) => {
      const body = make();
      const started = Date.now();
      const request = post(route, body, headers);
      await request.sent;
      // Sent while the producer reads, parses or validates the body: it waits as long as they block.
      const healthSent = Date.now();
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      const healthMs = Date.now() - healthSent;
      const answer = await request.answer;
      const answerMs = Date.now() - started;

      expect(health.status).toBe(200);
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      expect(answer.contentType).toMatch(/^application\/problem\+json/);
      expect(answer.body.length).toBeLessThanOrEqual(MAX_ANSWER_BYTES);
      process.stdout.write(
        `hostile input: ${label} (${body.length} bytes sent): ${answer.status}, ${answer.body.length} bytes ` +
          `in ${answerMs} ms; /healthz answered in ${healthMs} ms; producer RSS ${rssOf(producer.child.pid ?? 0) >> 20} MB\n`,
      );
    },
  );

  it('when every one was answered, then the producer holds at most 100 MB more than before', () => {
    const after = rssOf(producer.child.pid ?? 0);
    process.stdout.write(`hostile input: producer RSS ${before >> 20} MB before, ${after >> 20} MB after\n`);

    expect(after - before).toBeLessThanOrEqual(MAX_RSS_GROWTH_BYTES);
  });
});
