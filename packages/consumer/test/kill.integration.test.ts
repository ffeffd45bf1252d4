import { existsSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_DELIVERY_LIMIT, DeliveryHeaders, buildTopology, type Topology } from '@mailer/contract';
import {
  AMQP_URL,
  TcpProxy,
  until,
  deleteTopology,
  queueDepth,
  runService,
  takeMessages,
  uniquePrefix,
  type Service,
  killServices,
} from '@mailer/testkit';
import { TEST_CLIENT, recordAndPublish, testLedger, type TestLedger } from './support/consumer';
import { TestSmtpServer } from './support/smtp-server';

const main = path.resolve(__dirname, '../dist/main.js');

/** Of `ids`: how many the ledger has as sent, and how many it marks in doubt. */
async function stateCounts(
  pool: TestLedger['pool'],
  ids: readonly string[],
): Promise<{ sent: number; inDoubt: number }> {
  const { rows } = await pool.query<{ sent: number; in_doubt: number }>(
    `SELECT count(*) FILTER (WHERE state = 'sent')::integer AS sent, count(*) FILTER (WHERE in_doubt)::integer AS in_doubt
     FROM emails WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  return { sent: rows[0]?.sent ?? 0, inDoubt: rows[0]?.in_doubt ?? 0 };
}

/** Resolves once a condition that needs an await holds, looking again every few milliseconds. */
async function untilAsync(condition: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The built consumer as a process, killed with SIGKILL at chosen moments around one SMTP send,
 * then started again: the ledger decides whether the redelivered email goes out again.
 */
describe('when the consumer process is killed (-9) around an SMTP send, with the ledger', () => {
  const services: Service[] = [];
  const topologies: Topology[] = [];
  let smtp: TestSmtpServer;

  beforeAll(async () => {
    if (!existsSync(main)) throw new Error(`${main} is missing: run "pnpm run build" first (pnpm test does)`);
    smtp = await TestSmtpServer.start();
  });

  afterEach(async () => {
    smtp.reset();
    await killServices(services.splice(0));
  });

  afterAll(async () => {
    await smtp.close();
    for (const topology of topologies) await deleteTopology(topology);
  });

  /** A topology of the test's own, and a way to start consumers on it. */
  function setUp(label: string) {
    const prefix = uniquePrefix(label);
    const topology = buildTopology({ prefix, retryDelaysMs: [60_000], deliveryLimit: DEFAULT_DELIVERY_LIMIT });
    topologies.push(topology);
    const start = (env: Record<string, string>): Service => {
      const service = runService(main, {
        AMQP_URL,
        AMQP_PREFIX: prefix,
        RETRY_DELAYS: '60s',
        PROVIDERS: 'smtp',
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(smtp.port),
        SMTP_TIMEOUT: '60s',
        LOG_LEVEL: 'info',
        ...env,
      });
      services.push(service);
      return service;
    };
    return { topology, start };
  }

  /** A short email to jane@example.org with this subject. */
  const hi = (subject: string) => ({
    from: { email: 'sender@example.com' },
    to: [{ email: 'jane@example.org' }],
    subject,
    text: 'Hi',
  });

  /** Records the email as the producer does, then publishes it; returns its id. */
  async function publish(topology: Topology, subject: string): Promise<string> {
    const [id] = await recordAndPublish(topology, [hi(subject)]);
    if (id === undefined) throw new Error('nothing was published');
    return id;
  }

  const kill = async (service: Service): Promise<void> => {
    if (service.child.pid === undefined) throw new Error('no pid');
    process.kill(service.child.pid, 'SIGKILL');
    await service.exited;
  };

  it('when sent was recorded and the ack never went out, then the restarted consumer acks it without sending (sent once)', async () => {
    const { url, ledger } = await testLedger();
    const { topology, start } = setUp('kill-recorded');
    // The first consumer reaches the ledger through a proxy that can hold PostgreSQL's answers:
    // its record of the send commits, the answer never arrives, so it never acks.
    const proxy = new TcpProxy('127.0.0.1', Number(new URL(url).port || 5432));
    const proxied = new URL(url);
    proxied.port = String(await proxy.start());
    try {
      const first = start({ DATABASE_URL: proxied.toString() });
      await first.logged((line) => line['message'] === 'consuming');
      const held = smtp.hold('DATA');
      const id = await publish(topology, 'Recorded, not acked');
      await held.reached;
      proxy.silence();
      held.release();
      await smtp.message(id);
      await untilAsync(async () => (await ledger.getEmail(TEST_CLIENT, id))?.state === 'sent', 'the send is recorded');

      await kill(first);
      const second = start({ DATABASE_URL: url });
      await second.logged(
        (line) => line['message'] === 'email sent before; acked without sending' && line['email_id'] === id,
      );

      process.stdout.write(
        `kill -9 after the sent record, before the ack: SMTP accepted it ${smtp.timesAccepted(id)} time(s)\n`,
      );
      expect(smtp.timesAccepted(id)).toBe(1);
      expect(await ledger.getEmail(TEST_CLIENT, id)).toMatchObject({ state: 'sent', attempt: 1, inDoubt: false });
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
      expect(await queueDepth(topology.workQueue.name)).toBe(0);
    } finally {
      await proxy.stop();
    }
  });

  it('when it died after the data and before the record, with IN_DOUBT=park, then the email is parked in doubt and not sent again', async () => {
    const { url, ledger } = await testLedger();
    const { topology, start } = setUp('kill-park');
    const env = { DATABASE_URL: url, IN_DOUBT: 'park' };
    const first = start(env);
    await first.logged((line) => line['message'] === 'consuming');
    const held = smtp.hold('DATA');
    const id = await publish(topology, 'In doubt, parked');
    await held.reached;

    // The whole message is at the server and the 250 not yet answered: killed there, then the
    // server takes it (it may have been sent, as far as anyone can tell).
    await kill(first);
    held.release();
    await smtp.message(id);
    const second = start(env);
    await second.logged((line) => line['message'] === 'email parked' && line['email_id'] === id);

    process.stdout.write(
      `kill -9 before the record, IN_DOUBT=park: SMTP accepted it ${smtp.timesAccepted(id)} time(s)\n`,
    );
    expect(smtp.timesAccepted(id)).toBe(1);
    expect(await ledger.getEmail(TEST_CLIENT, id)).toMatchObject({
      state: 'parked',
      attempt: 1,
      inDoubt: true,
      attempts: [expect.objectContaining({ attempt: 1, provider: 'smtp', outcome: 'in-doubt', ambiguous: true })],
    });
    const [parked] = await takeMessages(topology.deadQueue.name, 1);
    expect(parked?.properties.headers?.[DeliveryHeaders.parkedReason]).toBe('in-doubt');
    expect(parked?.properties.headers?.[DeliveryHeaders.ambiguous]).toBe('true');
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('when it died after the data and before the record, with IN_DOUBT=resend, then the email is sent again and marked in doubt', async () => {
    const { url, ledger } = await testLedger();
    const { topology, start } = setUp('kill-resend');
    const first = start({ DATABASE_URL: url });
    await first.logged((line) => line['message'] === 'consuming');
    const held = smtp.hold('DATA');
    const id = await publish(topology, 'In doubt, resent');
    await held.reached;

    await kill(first);
    held.release();
    await smtp.message(id);
    const second = start({ DATABASE_URL: url });
    await second.logged((line) => line['message'] === 'email sent' && line['email_id'] === id);

    process.stdout.write(
      `kill -9 before the record, IN_DOUBT=resend: SMTP accepted it ${smtp.timesAccepted(id)} time(s)\n`,
    );
    expect(smtp.timesAccepted(id)).toBe(2);
    expect(await ledger.getEmail(TEST_CLIENT, id)).toMatchObject({
      state: 'sent',
      attempt: 1,
      inDoubt: true,
      attempts: [
        expect.objectContaining({ attempt: 1, outcome: 'in-doubt', ambiguous: true }),
        expect.objectContaining({ attempt: 1, outcome: 'sent', ambiguous: false }),
      ],
    });
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(await queueDepth(topology.workQueue.name)).toBe(0);
  });

  it('when it is killed with PREFETCH messages taken behind a slow SMTP server, then no more emails are in doubt than sends were on the wire', async () => {
    const { url, pool } = await testLedger();
    const { topology, start } = setUp('kill-taken');
    // Healthy and slow: each message is answered 1 s after its data. Up to PREFETCH (300)
    // messages are taken at once, here all 120; SMTP_MAX_CONNECTIONS (5) of them can be on the
    // wire, the others wait.
    smtp.slowDown(1000);
    const first = start({ DATABASE_URL: url });
    await first.logged((line) => line['message'] === 'consuming');
    const ids = await recordAndPublish(
      topology,
      Array.from({ length: 120 }, (_, i) => hi(`Taken ${i}`)),
    );
    // Killed when the consumer holds at least 100 messages and every connection carries a transaction.
    await untilAsync(
      async () => (await queueDepth(topology.workQueue.name)) <= 20,
      'the consumer has taken at least 100 messages',
    );
    await until(() => smtp.openTransactions === 5, 'five sends are on the wire');
    // The sends on the wire when it died: transactions under way at the server, and those the
    // server had taken whose answer the consumer had not yet recorded (counted once it is dead).
    const openAtKill = smtp.openTransactions;
    const acceptedAtKill = ids.filter((id) => smtp.timesAccepted(id) > 0).length;
    await kill(first);
    const onTheWire = openAtKill + acceptedAtKill - (await stateCounts(pool, ids)).sent;

    const second = start({ DATABASE_URL: url });
    await until(() => ids.every((id) => smtp.timesAccepted(id) > 0), 'every email reached the server', 120_000);
    await untilAsync(async () => (await stateCounts(pool, ids)).sent === ids.length, 'every email is recorded as sent');
    const { inDoubt } = await stateCounts(pool, ids);
    // This test's emails only: the server also counts the earlier tests' (one is sent twice on purpose).
    const sentTwice = ids.filter((id) => smtp.timesAccepted(id) > 1);
    process.stdout.write(
      `kill -9 with PREFETCH taken: ${onTheWire} sends on the wire, ${inDoubt} emails in doubt, ` +
        `${sentTwice.length} sent twice\n`,
    );
    if (sentTwice.length > inDoubt) {
      // What the ledger says of each email sent twice, to tell which window let it through.
      const { rows } = await pool.query(
        `SELECT e.id, e.state, e.in_doubt, json_agg(json_build_object('attempt', a.attempt, 'outcome', a.outcome,
           'ambiguous', a.ambiguous, 'started', a.started_at, 'finished', a.finished_at) ORDER BY a.seq) AS tries
         FROM emails e JOIN attempts a ON a.email_id = e.id WHERE e.id = ANY($1::uuid[]) GROUP BY e.id`,
        [sentTwice],
      );
      process.stdout.write(`sent twice: ${JSON.stringify(rows)}\n`);
    }
    expect(inDoubt).toBeLessThanOrEqual(onTheWire);
    // Only an email in doubt may have gone out twice (IN_DOUBT=resend sends it again).
    expect(sentTwice.length).toBeLessThanOrEqual(inDoubt);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 180_000);
});
