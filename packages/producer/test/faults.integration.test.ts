import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import request from 'supertest';
import { connect } from 'amqplib';
import { WORK_ROUTING_KEY } from '@mailer/contract';
import { AMQP_URL, closeConnectionsNamed, consumeUntilSeen, drainQueue, until } from '@mailer/testkit';
import { useScratchLedger } from './support/ledger';
import { TEST_KEY, startTestProducer, validEmail, type TestProducer } from './support/producer';
import { TcpProxy } from '@mailer/testkit';

const auth = { authorization: `Bearer ${TEST_KEY}` };

// Every producer here records in the ledger, as a deployed one does; the faults are the broker's.
const scratch = useScratchLedger('faults');

/**
 * A test producer whose broker connection runs through a {@link TcpProxy}, so a test can hold the
 * broker's answers back; started before the block's tests, stopped after them.
 */
function producerBehindProxy(label: string, publishTimeoutMs: number): { producer: TestProducer; proxy: TcpProxy } {
  const proxy = new TcpProxy(new URL(AMQP_URL).hostname, Number(new URL(AMQP_URL).port || 5672));
  const fixture = { proxy } as { producer: TestProducer; proxy: TcpProxy };
  beforeAll(async () => {
    const url = new URL(AMQP_URL);
    url.port = String(await proxy.start());
    fixture.producer = await startTestProducer(label, {
      amqpUrl: url.toString(),
      publishTimeoutMs,
      ledger: scratch.current().adapter,
    });
  });
  afterAll(async () => {
    proxy.resume();
    await fixture.producer.close();
    await proxy.stop();
  });
  return fixture;
}

describe('when the broker closes the producer connection in the middle of a load', () => {
  let producer: TestProducer;
  let server: Server;

  beforeAll(async () => {
    producer = await startTestProducer('outage', { publishTimeoutMs: 3000, ledger: scratch.current().adapter });
    server = producer.app.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });

  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await producer.close();
  });

  it('then every 202 id is in the queue, requests during the outage get 503, and 202s resume without a restart', async () => {
    const { port } = server.address() as AddressInfo;
    const url = `http://127.0.0.1:${port}/v1/emails`;
    const body = JSON.stringify(validEmail());
    const accepted = new Set<string>();
    const statuses = new Map<number, number>();
    const reasons = new Map<string, number>();
    const phase = { closed: false, sawOutage: false, acceptedAfterOutage: 0, stop: false };
    const done = () => phase.stop || phase.acceptedAfterOutage >= 50;

    const worker = async (): Promise<void> => {
      while (!done()) {
        const response = await fetch(url, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body,
        });
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        const json = (await response.json()) as { id?: string; reason?: string };
        if (response.status === 202 && json.id !== undefined) {
          accepted.add(json.id);
          if (phase.sawOutage) phase.acceptedAfterOutage += 1;
        } else if (response.status === 503) {
          expect(response.headers.get('retry-after')).toBe('5');
          reasons.set(String(json.reason), (reasons.get(String(json.reason)) ?? 0) + 1);
          if (phase.closed) phase.sawOutage = true;
        }
      }
    };
    const workers = Array.from({ length: 20 }, () => worker());
    let settled: PromiseSettledResult<void>[] = [];
    const started = Date.now();
    const took = { buildUp: 0, close: 0, recovery: 0 };

    try {
      // Let a steady load build up, then close the connection under it. Each phase has its own
      // budget: on a busy machine the build-up and rabbitmqctl (a CLI that starts a VM) take seconds.
      await until(() => accepted.size >= 200, '200 emails were accepted');
      took.buildUp = Date.now() - started;
      // Set first: the 503s can come before rabbitmqctl returns.
      phase.closed = true;
      expect(await closeConnectionsNamed(producer.connectionName)).toBe(1);
      took.close = Date.now() - started - took.buildUp;
      await until(() => phase.acceptedAfterOutage >= 50, '50 emails were accepted after the outage');
      took.recovery = Date.now() - started - took.buildUp - took.close;
    } finally {
      // Workers end by themselves once 202s are back; stop them if this threw.
      phase.stop = true;
      settled = await Promise.allSettled(workers);
    }
    const failures = settled.filter((result) => result.status === 'rejected');
    expect(failures).toEqual([]);

    process.stdout.write(
      `outage test: ${JSON.stringify(Object.fromEntries(statuses))}, 503 reasons ${JSON.stringify(Object.fromEntries(reasons))}, accepted ${accepted.size}; ` +
        `${took.buildUp} ms to 200 accepted, ${took.close} ms to close, ${took.recovery} ms to 50 accepted after\n`,
    );
    // Publishes pending when the connection closed may be queued: never "nacked" (not queued).
    expect(reasons.has('nacked')).toBe(false);
    expect(phase.sawOutage).toBe(true);
    expect(phase.acceptedAfterOutage).toBeGreaterThanOrEqual(50);
    expect([...statuses.keys()].sort()).toEqual([202, 503]);
    const seen = await consumeUntilSeen(producer.topology.workQueue.name, accepted);
    const lost = [...accepted].filter((id) => !seen.has(id));
    expect(lost).toEqual([]);
    expect((await request(producer.app).get('/readyz')).status).toBe(200);
  });
});

describe('when the work queue has been deleted (the publish is unroutable)', () => {
  let producer: TestProducer;

  beforeAll(async () => {
    producer = await startTestProducer('unroutable', { ledger: scratch.current().adapter });
  });

  afterAll(async () => {
    await producer.close();
  });

  it('then the producer answers 503, not 202, forgets the email it recorded, and declares the topology again so that later emails get 202', async () => {
    const model = await connect(AMQP_URL);
    const channel = await model.createChannel();
    await channel.deleteQueue(producer.topology.workQueue.name);
    await model.close();

    const declaredAgain = once(producer.broker, 'declared');
    const countEmails = async () =>
      (await scratch.current().rows<{ n: number }>('SELECT count(*)::int AS n FROM emails'))[0]?.n;
    const before = await countEmails();
    const response = await request(producer.app).post('/v1/emails').set(auth).send(validEmail());
    // Recorded before the publish, then forgotten: the broker surely did not queue it.
    expect(await countEmails()).toBe(before);

    expect(response.status).toBe(503);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.headers['retry-after']).toBe('5');
    expect(response.body).toMatchObject({ type: '/problems/broker-unavailable', reason: 'unroutable' });

    // The return made the producer declare its topology again; the next email is queued.
    await declaredAgain;
    const later = await request(producer.app).post('/v1/emails').set(auth).send(validEmail());
    expect(later.status).toBe(202);
    const [message] = await drainQueue(producer.topology.workQueue.name, 1);
    expect(message?.properties.messageId).toBe(later.body.id);
  });
});

describe('when the broker refuses (nacks) part of a batch', () => {
  let producer: TestProducer;
  const capQueue = () => `${producer.prefix}.cap`;

  beforeAll(async () => {
    producer = await startTestProducer('nack', { ledger: scratch.current().adapter });
    // A second queue on the work route that holds two messages and refuses more: the broker then
    // nacks every further publish to the work exchange, as it would for a full work queue.
    const model = await connect(AMQP_URL);
    const channel = await model.createChannel();
    // Classic: its length limit is exact, where a quorum queue's may let a concurrent burst past.
    await channel.assertQueue(capQueue(), {
      durable: true,
      arguments: { 'x-queue-type': 'classic', 'x-max-length': 2, 'x-overflow': 'reject-publish' },
    });
    await channel.bindQueue(capQueue(), producer.topology.workExchange.name, WORK_ROUTING_KEY);
    await model.close();
  });

  afterAll(async () => {
    const model = await connect(AMQP_URL);
    const channel = await model.createChannel();
    await channel.deleteQueue(capQueue());
    await model.close();
    await producer.close();
  });

  it('then the batch 503 says item by item which were queued (with ids), and a single email gets 503', async () => {
    const emails = [0, 1, 2, 3, 4].map((i) => validEmail({ subject: `nack ${i}` }));
    const response = await request(producer.app).post('/v1/emails/batch').set(auth).send({ emails });

    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('5');
    const items = response.body.items as { index: number; status: string; id?: string; reason?: string }[];
    expect(items.map((i) => i.index)).toEqual([0, 1, 2, 3, 4]);
    const queued = items.filter((i) => i.status === 'queued');
    const failed = items.filter((i) => i.status === 'failed');
    expect(queued.map((i) => i.index)).toEqual([0, 1]);
    expect(failed.every((i) => i.reason === 'nacked' && i.id === undefined)).toBe(true);
    expect(response.body.detail).toBe(
      '2 of 5 emails were queued; the items list says which. Retry only the failed ones.',
    );

    const single = await request(producer.app).post('/v1/emails').set(auth).send(validEmail());
    expect(single.status).toBe(503);
    expect(single.body.reason).toBe('nacked');

    const messages = await drainQueue(capQueue(), 2);
    expect(messages.map((m) => m.properties.messageId).sort()).toEqual(queued.map((i) => i.id).sort());
  });
});

describe("when the producer's channel closes with publishes awaiting their confirms", () => {
  const behindProxy = producerBehindProxy('closed-pending', 10_000);

  it('then none is answered nacked: each is 503 channel-closed "may or may not be queued", and the broker did queue them', async () => {
    behindProxy.proxy.silence();
    const posts = Array.from({ length: 20 }, (_, i) =>
      request(behindProxy.producer.app)
        .post('/v1/emails')
        .set(auth)
        .send(validEmail({ subject: `pending ${i}` })),
    );
    const responses = Promise.all(posts.map((post) => post.then((response) => response)));
    while (behindProxy.producer.publisher.inflight < 20) await new Promise((resolve) => setImmediate(resolve));
    // The broker's confirms are held back; the channel closes under the 20 pending publishes.
    const closing = behindProxy.producer.broker.channel!.close();
    behindProxy.proxy.resume();
    await closing;

    const answered = await responses;
    expect(answered.map((r) => r.status)).toEqual(Array.from({ length: 20 }, () => 503));
    expect(answered.map((r) => r.body.reason)).toEqual(Array.from({ length: 20 }, () => 'channel-closed'));
    expect(answered[0]?.body.detail).toBe(
      'the channel closed before the broker confirmed. The broker did not confirm it, so it may or may not be queued; retry after 5 seconds.',
    );
    const subjects = (await drainQueue(behindProxy.producer.topology.workQueue.name, 20)).map(
      (m) => JSON.parse(m.content.toString('utf8')).request.subject as string,
    );
    expect(subjects.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `pending ${i}`).sort());
  });
});

describe('when the broker stops answering (no confirms arrive)', () => {
  const behindProxy = producerBehindProxy('silent', 500);

  it('then the publish timeout answers 503, and once the broker answers again 202 resumes', async () => {
    behindProxy.proxy.silence();
    const silent = await request(behindProxy.producer.app).post('/v1/emails').set(auth).send(validEmail());

    expect(silent.status).toBe(503);
    expect(silent.body).toMatchObject({ type: '/problems/broker-unavailable', reason: 'timeout' });

    behindProxy.proxy.resume();
    const healthy = await request(behindProxy.producer.app).post('/v1/emails').set(auth).send(validEmail());
    expect(healthy.status).toBe(202);
  });
});
