import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Webhook } from 'standardwebhooks';
import { DEFAULT_DELIVERY_LIMIT, buildTopology, type LifecycleEvent, type Topology } from '@mailer/contract';
import { createPool, migrate } from '@mailer/ledger';
import {
  AMQP_URL,
  createScratchDatabase,
  deleteTopology,
  freePort,
  runService,
  TEST_RECIPIENT_HASH_SECRET,
  uniquePrefix,
  type ScratchDatabase,
  type Service,
} from '@mailer/testkit';
import { TestSmtpServer } from '../../consumer/test/support/smtp-server';

const mains = {
  producer: path.resolve(__dirname, '../../producer/dist/main.js'),
  consumer: path.resolve(__dirname, '../../consumer/dist/main.js'),
  cli: path.resolve(__dirname, '../../cli/dist/main.js'),
};
const KEY = 'events-e2e-key-0123456789abcdef';
const execFileAsync = promisify(execFile);
const SECRETS_KEY = Buffer.alloc(32, 11).toString('base64');

/**
 * The time of one test: an email through the built services, one SMTP refusal and a 200 ms retry
 * tier, its events through the outbox, the relay, the fan-out and the delivery worker to a receiver
 * in this process; each step a few seconds at most on a loaded machine.
 */
const BUDGET_MS = 90_000;

/** One request the receiver got, as it came, and what it answered. */
interface Delivery {
  readonly path: string;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** The `webhook-*` headers as one string each. */
function webhookHeaders(delivery: Delivery): {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
} {
  const header = (name: string): string => {
    const value = delivery.headers[name];
    if (typeof value !== 'string') throw new Error(`delivery without ${name}`);
    return value;
  };
  return {
    'webhook-id': header('webhook-id'),
    'webhook-timestamp': header('webhook-timestamp'),
    'webhook-signature': header('webhook-signature'),
  };
}

/**
 * An implementation of Standard Webhooks' verification written here from the specification, not
 * the npm library: HMAC-SHA256 keyed with the base64 secret after `whsec_`, over
 * `id.timestamp.body`, compared in constant time with each `v1,` entry of the header; the
 * timestamp within 5 minutes of `nowS`.
 */
function verifyIndependently(secret: string, headers: Record<string, string>, body: string, nowS: number): boolean {
  const id = headers['webhook-id'] ?? '';
  const timestamp = headers['webhook-timestamp'] ?? '';
  if (!/^\d+$/.test(timestamp) || Math.abs(nowS - Number(timestamp)) > 300) return false;
  const expected = createHmac('sha256', Buffer.from(secret.replace(/^whsec_/, ''), 'base64'))
    .update(`${id}.${timestamp}.${body}`)
    .digest();
  return (headers['webhook-signature'] ?? '').split(' ').some((entry) => {
    const [version, signature] = entry.split(',');
    if (version !== 'v1' || signature === undefined) return false;
    const given = Buffer.from(signature, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

describe('events out end to end: the outbox, the relay, the events exchange and a signed webhook, with the real broker and ledger', () => {
  const prefix = uniquePrefix('events-e2e');
  // The services' schedule (WEBHOOK_RETRY_DELAYS below), so that the clean-up deletes their webhook retry queues too.
  const webhookRetryDelaysMs = [200, 400];
  const topology: Topology = buildTopology({
    prefix,
    retryDelaysMs: [200],
    deliveryLimit: DEFAULT_DELIVERY_LIMIT,
    webhookRetryDelaysMs,
  });
  const services: Service[] = [];
  const deliveries: Delivery[] = [];
  const waiters = new Set<() => void>();
  let smtp: TestSmtpServer;
  let receiver: Server;
  let database: ScratchDatabase;
  let port: number;
  let endpointId: string;
  let secret: string;
  /** Whether the receiver answers 500 on `/failing` (a second endpoint's path). */
  let failing = true;
  let env: Record<string, string>;

  const api = async (method: string, pathname: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const response = await fetch(`http://127.0.0.1:${port}${pathname}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };

  /** Resolves with the deliveries once `done` holds for them, checked on each delivery that arrives. */
  function deliveriesWhen(done: (all: readonly Delivery[]) => boolean, what: string): Promise<readonly Delivery[]> {
    if (done(deliveries)) return Promise.resolve([...deliveries]);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!done(deliveries)) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve([...deliveries]);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`the receiver never got ${what}; it got ${deliveries.length} deliveries`));
      }, BUDGET_MS / 2);
      waiters.add(check);
    });
  }

  const eventOf = (delivery: Delivery): LifecycleEvent => JSON.parse(delivery.body) as LifecycleEvent;
  const eventsOfEmail = (all: readonly Delivery[], id: string): LifecycleEvent[] =>
    all
      .filter((delivery) => delivery.path === '/hooks')
      .map(eventOf)
      .filter((event) => event.data.email_id === id);

  beforeAll(async () => {
    for (const main of Object.values(mains)) {
      if (!existsSync(main)) throw new Error(`${main} is missing: run "pnpm run build" first (pnpm test does)`);
    }
    smtp = await TestSmtpServer.start();
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const path = request.url ?? '';
        const status = path === '/failing' && failing ? 500 : 204;
        deliveries.push({ path, status, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        response.writeHead(status).end();
        for (const waiter of [...waiters]) waiter();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    database = await createScratchDatabase('events_e2e');
    const pool = createPool({ url: database.url, max: 1 });
    try {
      await migrate(pool);
    } finally {
      await pool.end();
    }
    port = await freePort();
    const common = {
      AMQP_URL,
      AMQP_PREFIX: prefix,
      RETRY_DELAYS: '200ms',
      LEDGER: 'on',
      DATABASE_URL: database.url,
      WEBHOOK_SECRETS_KEY: SECRETS_KEY,
      WEBHOOK_ALLOW_NETWORKS: '127.0.0.0/8',
      WEBHOOK_ALLOW_HTTP: 'true',
      // Three tries in 600 ms, then parked: the schedule shortened, the same in every process.
      WEBHOOK_RETRY_DELAYS: webhookRetryDelaysMs.map((ms) => `${ms}ms`).join(','),
    };
    env = common;
    const producer = runService(mains.producer, {
      ...common,
      PORT: String(port),
      API_KEYS: JSON.stringify([
        {
          name: 'events',
          key_sha256: createHash('sha256').update(KEY).digest('hex'),
          senders: ['example.com'],
          scopes: ['send', 'read', 'webhooks'],
        },
      ]),
    });
    const consumer = runService(mains.consumer, {
      ...common,
      HTTP_PORT: String(await freePort()),
      PROVIDERS: 'smtp',
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
    });
    services.push(producer, consumer);
    await producer.logged((line) => line['message'] === 'broker connected');
    await consumer.logged((line) => line['message'] === 'consuming');
    const created = await api('POST', '/v1/webhooks', {
      url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`,
      description: 'events e2e receiver',
    });
    expect(created.status).toBe(201);
    ({ id: endpointId, secret } = created.json as { id: string; secret: string });
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
  });

  afterAll(async () => {
    for (const service of services) {
      if (service.child.exitCode === null && service.child.signalCode === null && service.child.pid !== undefined)
        process.kill(service.child.pid, 'SIGKILL');
    }
    await Promise.all(services.map((service) => service.exited));
    await new Promise((resolve) => receiver.close(resolve));
    receiver.closeAllConnections();
    await smtp.close();
    await database.drop();
    await deleteTopology(topology);
  });

  it('when the specification test vector is verified with the independent implementation, then it matches (the check below is sound)', () => {
    // standard-webhooks/standard-webhooks, libraries/javascript/src/index.test.ts (and every other
    // library's tests): secret, id, timestamp and body, and the signature they must give.
    const headers = {
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    };
    const vectorSecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    expect(verifyIndependently(vectorSecret, headers, '{"test": 2432232314}', 1614265330)).toBe(true);
    expect(verifyIndependently(vectorSecret, headers, '{"test": 2432232315}', 1614265330)).toBe(false);
    expect(
      new Webhook(vectorSecret).sign('msg_p5jXN8AQM9LWM0D4loKWxJek', new Date(1614265330_000), '{"test": 2432232314}'),
    ).toBe(headers['webhook-signature']);
  });

  it(
    'when an email is refused once (451) and then sent, then the receiver gets queued, retrying and sent for it, sortable by sequence, each signed so that the npm library and an independent implementation both verify it, and no longer verifying 5 minutes later',
    async () => {
      smtp.next('DATA', { code: 451, text: '4.3.0 Try again later' });
      const posted = await api('POST', '/v1/emails', {
        from: { email: 'receipts@example.com' },
        to: [{ email: 'jane.reader@example.org' }],
        subject: 'Your receipt',
        text: 'Thank you',
        tags: { kind: 'receipt' },
        metadata: { order: 4711 },
      });
      expect(posted.status).toBe(202);
      const { id } = posted.json as { id: string };

      const all = await deliveriesWhen(
        (got) => eventsOfEmail(got, id).some((event) => event.type === 'email.sent'),
        `email.sent for ${id}`,
      );
      const mine = all.filter((delivery) => delivery.path === '/hooks' && eventOf(delivery).data.email_id === id);
      // Arrival order is not promised: the receiver sorts by sequence.
      const sorted = [...mine].sort((a, b) => eventOf(a).sequence - eventOf(b).sequence);
      expect(sorted.map((delivery) => eventOf(delivery).type)).toEqual([
        'email.queued',
        'email.retrying',
        'email.sent',
      ]);
      const sent = eventOf(sorted[2] as Delivery);
      expect(sent.data).toMatchObject({
        email_id: id,
        client: 'events',
        state: 'sent',
        provider: 'smtp',
        recipients: ['j***@example.org'],
        tags: { kind: 'receipt' },
        metadata: { order: 4711 },
      });
      expect(new Set(mine.map((delivery) => eventOf(delivery).id)).size).toBe(mine.length);

      const nowS = Math.floor(Date.now() / 1000);
      for (const delivery of mine) {
        const headers = webhookHeaders(delivery);
        expect(headers['webhook-id']).toBe(eventOf(delivery).id);
        expect(new Webhook(secret).verify(delivery.body, headers)).toEqual(JSON.parse(delivery.body));
        expect(verifyIndependently(secret, headers, delivery.body, nowS)).toBe(true);
        // The same delivery 5 minutes and a second later is too old for both.
        expect(verifyIndependently(secret, headers, delivery.body, Number(headers['webhook-timestamp']) + 301)).toBe(
          false,
        );
        const replayed = {
          ...headers,
          'webhook-timestamp': String(nowS - 301),
          'webhook-signature': new Webhook(secret).sign(
            headers['webhook-id'],
            new Date((nowS - 301) * 1000),
            delivery.body,
          ),
        };
        expect(() => new Webhook(secret).verify(delivery.body, replayed)).toThrow(/too old/);
      }
    },
    BUDGET_MS,
  );

  it(
    'when the secret is rotated, then deliveries verify with the old and the new secret during the overlap, and once the overlap ended, not with the old one',
    async () => {
      const rotated = await api('POST', `/v1/webhooks/${endpointId}/rotate-secret`);
      expect(rotated.status).toBe(200);
      const newSecret = (rotated.json as { secret: string }).secret;
      expect(newSecret).not.toBe(secret);

      /** Asks for a test delivery and resolves with it once it arrives. */
      const testDelivery = async (): Promise<Delivery> => {
        const asked = await api('POST', `/v1/webhooks/${endpointId}/test`);
        expect(asked.status).toBe(202);
        const { event_id: eventId } = asked.json as { event_id: string };
        const got = await deliveriesWhen(
          (all) => all.some((delivery) => eventOf(delivery).id === eventId),
          `the test delivery ${eventId}`,
        );
        return got.find((delivery) => eventOf(delivery).id === eventId) as Delivery;
      };

      // The consumer caches an endpoint's secrets for a few seconds: ask until the rotation shows.
      let during = await testDelivery();
      while (webhookHeaders(during)['webhook-signature'].split(' ').length < 2) during = await testDelivery();
      expect(new Webhook(secret).verify(during.body, webhookHeaders(during))).toMatchObject({ type: 'webhook.test' });
      expect(new Webhook(newSecret).verify(during.body, webhookHeaders(during))).toMatchObject({
        type: 'webhook.test',
      });

      // 24 hours later, as far as the ledger can tell: the old secret's overlap ended.
      const pool = createPool({ url: database.url, max: 1 });
      try {
        await pool.query(
          "UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second' WHERE id = $1",
          [endpointId],
        );
      } finally {
        await pool.end();
      }
      let after = await testDelivery();
      while (webhookHeaders(after)['webhook-signature'].split(' ').length > 1) after = await testDelivery();
      expect(() => new Webhook(secret).verify(after.body, webhookHeaders(after))).toThrow(/No matching signature/);
      expect(new Webhook(newSecret).verify(after.body, webhookHeaders(after))).toMatchObject({ type: 'webhook.test' });
      const nowS = Math.floor(Date.now() / 1000);
      expect(verifyIndependently(secret, webhookHeaders(after), after.body, nowS)).toBe(false);
      expect(verifyIndependently(newSecret, webhookHeaders(after), after.body, nowS)).toBe(true);
    },
    BUDGET_MS,
  );

  it(
    'when an endpoint answers 500 to every try, then the delivery is parked after the last one, and once the receiver is back mailer webhooks replay sends it again with the same webhook-id and it succeeds',
    async () => {
      const created = await api('POST', '/v1/webhooks', {
        url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/failing`,
        event_types: ['email.sent'],
      });
      expect(created.status).toBe(201);
      const { id: failingId, secret: failingSecret } = created.json as { id: string; secret: string };
      const onFailing = (all: readonly Delivery[], emailId: string) =>
        all.filter((delivery) => delivery.path === '/failing' && eventOf(delivery).data.email_id === emailId);
      // The fan-out keeps each client's endpoints for a few seconds (docs/events.md): an endpoint
      // gets the events that come after that. Send until one reaches it.
      let id = '';
      while (id === '') {
        const posted = await api('POST', '/v1/emails', {
          from: { email: 'receipts@example.com' },
          to: [{ email: 'sam.reader@example.org' }],
          subject: 'Your receipt',
          text: 'Thank you',
        });
        expect(posted.status).toBe(202);
        const sentId = (posted.json as { id: string }).id;
        await deliveriesWhen(
          (all) => eventsOfEmail(all, sentId).some((event) => event.type === 'email.sent'),
          `email.sent for ${sentId} on /hooks`,
        );
        if (onFailing(deliveries, sentId).length > 0) id = sentId;
      }

      // The first try and the two retries of WEBHOOK_RETRY_DELAYS, each answered 500, then parked.
      await deliveriesWhen((all) => onFailing(all, id).length >= 3, `three tries of email.sent for ${id} on /failing`);
      const parked = async (): Promise<{ outcome: string; tries: number } | undefined> => {
        const listed = await api('GET', `/v1/webhooks/${failingId}/deliveries`);
        return (listed.json as { deliveries: { email_id: string; outcome: string; tries: number }[] }).deliveries.find(
          (delivery) => delivery.email_id === id,
        );
      };
      let record = await parked();
      while (record?.outcome !== 'parked') {
        await new Promise((resolve) => setTimeout(resolve, 100));
        record = await parked();
      }
      expect(record.tries).toBe(3);
      const tried = onFailing(deliveries, id);
      expect(tried.map((delivery) => delivery.status)).toEqual([500, 500, 500]);
      const eventId = eventOf(tried[0] as Delivery).id;

      failing = false;
      const replay = await execFileAsync(
        process.execPath,
        [mains.cli, 'webhooks', 'replay', failingId, '--since', '1h', '--json'],
        { env: { PATH: process.env['PATH'] ?? '', RECIPIENT_HASH_SECRET: TEST_RECIPIENT_HASH_SECRET, ...env } },
      );
      expect(replay.stdout).toContain(eventId);
      const [again] = (
        await deliveriesWhen(
          (all) => onFailing(all, id).some((delivery) => delivery.status === 204),
          `the replayed email.sent for ${id}`,
        )
      ).filter((delivery) => onFailing([delivery], id).length === 1 && delivery.status === 204);
      expect(webhookHeaders(again as Delivery)['webhook-id']).toBe(eventId);
      expect(
        new Webhook(failingSecret).verify((again as Delivery).body, webhookHeaders(again as Delivery)),
      ).toMatchObject({
        type: 'email.sent',
        data: { email_id: id },
      });
      let after = await parked();
      while (after?.outcome !== 'succeeded') {
        await new Promise((resolve) => setTimeout(resolve, 100));
        after = await parked();
      }
      // Three tries before the park, and the replayed one.
      expect(after.tries).toBe(4);
    },
    BUDGET_MS,
  );
});
