import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  DEFAULT_DELIVERY_LIMIT,
  DEFAULT_RETRY_DELAYS_MS,
  ENVELOPE_VERSION,
  buildTopology,
  type EmailRequest,
} from '@mailer/contract';
import { createPool, migrate } from '@mailer/ledger';
import {
  AMQP_URL,
  createScratchDatabase,
  deleteTopology,
  freePort,
  publishEnvelopes,
  runService,
  startPrivatePostgres,
  uniquePrefix,
  until,
  type PrivatePostgres,
  type ScratchDatabase,
  type Service,
  killServices,
} from '@mailer/testkit';

const mains = {
  producer: path.resolve(__dirname, '../../producer/dist/main.js'),
  consumer: path.resolve(__dirname, '../../consumer/dist/main.js'),
};
const KEY = 'outage-key-0123456789';
const CLIENTS = 4;

/** What the load saw: ids answered 202, and how many answers of each other status. */
interface LoadTally {
  accepted: string[];
  /** The request each accepted id was answered for. */
  requests: Map<string, EmailRequest>;
  statuses: Map<number, number>;
  reasons: Map<string, number>;
}

describe('PostgreSQL stopped under load, then started again (a private server of the test)', () => {
  const prefix = uniquePrefix('ledger-outage');
  const topology = buildTopology({
    prefix,
    retryDelaysMs: DEFAULT_RETRY_DELAYS_MS,
    deliveryLimit: DEFAULT_DELIVERY_LIMIT,
  });
  // Set when the test is done with the load, or has failed: the clients stop, and the requests the
  // services' end cuts short are not reported as failures of their own.
  let stopLoad = false;
  const services: Service[] = [];
  let postgres: PrivatePostgres;
  let database: ScratchDatabase;
  let captureDir: string;

  beforeAll(async () => {
    for (const main of Object.values(mains)) {
      if (!existsSync(main)) throw new Error(`${main} is missing: run "pnpm run build" first (pnpm test does)`);
    }
    captureDir = await mkdtemp(path.join(tmpdir(), 'mailer-ledger-outage-'));
    postgres = await startPrivatePostgres();
    database = await createScratchDatabase('ledger_outage', postgres.url);
    const pool = createPool({ url: database.url, max: 1 });
    try {
      await migrate(pool);
    } finally {
      await pool.end();
    }
  });

  afterAll(async () => {
    stopLoad = true;
    await killServices(services);
    await postgres.remove();
    await rm(captureDir, { recursive: true, force: true });
    await deleteTopology(topology);
  });

  // Two services, a PostgreSQL crash and its recovery, and 200 emails or more: 10-30 s on a machine
  // busy with `stress-ng --cpu 4` (measured), so jest's 60 s leaves too little room.
  it('when PostgreSQL stops, then intake answers 503 ledger-unavailable and nothing is sent unrecorded; when it is back, every accepted email is delivered once', async () => {
    const port = await freePort();
    const common = {
      AMQP_URL,
      AMQP_PREFIX: prefix,
      LOG_LEVEL: 'info',
      LEDGER: 'on',
      DATABASE_URL: database.url,
    };
    const apiKeys = JSON.stringify([
      { name: 'outage', key_sha256: createHash('sha256').update(KEY).digest('hex'), senders: ['example.com'] },
    ]);
    const producer = runService(mains.producer, { ...common, PORT: String(port), API_KEYS: apiKeys });
    const consumer = runService(mains.consumer, { ...common, CAPTURE_DIR: captureDir });
    services.push(producer, consumer);
    await producer.logged((line) => line['message'] === 'broker connected');
    await consumer.logged((line) => line['message'] === 'consuming');

    // Every send the consumer made, from its log: the email's id and when.
    const captures = () =>
      consumer
        .output()
        .split('\n')
        .filter((line) => line.includes('"email captured"'))
        .map((line) => JSON.parse(line) as { email_id: string; timestamp: string })
        .map((line) => ({ id: line.email_id, at: new Date(line.timestamp).getTime() }));
    const sends = () => {
      const counts = new Map<string, number>();
      for (const { id } of captures()) counts.set(id, (counts.get(id) ?? 0) + 1);
      return counts;
    };

    const tally: LoadTally = { accepted: [], requests: new Map(), statuses: new Map(), reasons: new Map() };
    let n = 0;
    const post = async (request: EmailRequest) => {
      try {
        return await fetch(`http://127.0.0.1:${port}/v1/emails`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify(request),
        });
      } catch (error) {
        if (stopLoad) return undefined;
        throw error;
      }
    };
    const client = async () => {
      while (!stopLoad) {
        const k = n++;
        const request: EmailRequest = {
          from: { email: 'alerts@example.com' },
          to: [{ email: `user${k}@example.org` }],
          subject: `Outage test ${k}`,
          text: 'Hello',
        };
        const response = await post(request);
        if (response === undefined) return;
        const body = (await response.json()) as { id?: string; reason?: string };
        tally.statuses.set(response.status, (tally.statuses.get(response.status) ?? 0) + 1);
        if (response.status === 202 && body.id !== undefined) {
          tally.accepted.push(body.id);
          tally.requests.set(body.id, request);
        }
        if (body.reason !== undefined) tally.reasons.set(body.reason, (tally.reasons.get(body.reason) ?? 0) + 1);
      }
    };
    const load = Promise.all(Array.from({ length: CLIENTS }, client));
    const refused = () => tally.statuses.get(503) ?? 0;

    // 1. Healthy: some accepted and delivered.
    await until(() => tally.accepted.length >= 100, '100 emails were accepted');
    const acceptedBefore = tally.accepted.length;

    // 2. PostgreSQL stops (a crash: no clean goodbye to the pools' sessions).
    await postgres.stop('immediate');
    // From here until the start, no claim can succeed: a send in between must have been claimed before.
    const stoppedAt = Date.now();
    // The consumer only finds PostgreSQL gone when it has an email to handle, and the last accepted
    // one may well have been sent and recorded before the stop (on a busy machine, often). A second
    // copy of an accepted email, as a broker redelivers one, is such an email: it waits for the
    // ledger, and once PostgreSQL is back it is found sent and not sent again.
    const [copied] = tally.accepted;
    const copiedRequest = copied === undefined ? undefined : tally.requests.get(copied);
    if (copied === undefined || copiedRequest === undefined) throw new Error('no accepted email to copy');
    await publishEnvelopes(topology, [
      {
        version: ENVELOPE_VERSION,
        id: copied,
        accepted_at: new Date(stoppedAt).toISOString(),
        client: 'outage',
        request: copiedRequest,
      },
    ]);
    await until(() => refused() >= 50, 'intake answered 503 to 50 requests', 60_000);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    const readyBody = (await ready.json()) as { reason?: string };
    await consumer.logged((line) => line['message'] === 'consuming paused' && line['reason'] === 'ledger-unavailable');
    const acceptedWhileDownStart = tally.accepted.length;
    await until(() => refused() >= 150, 'intake answered 503 to 150 requests', 60_000);
    const acceptedWhileDown = tally.accepted.length - acceptedWhileDownStart;

    // 3. PostgreSQL is back: both services resume by themselves.
    const restartedAt = Date.now();
    await postgres.start();
    const refusedAtRestart = refused();
    await until(
      () => tally.accepted.length >= acceptedBefore + acceptedWhileDown + 100,
      '100 more emails were accepted',
      60_000,
    );
    stopLoad = true;
    await load;

    const accepted = new Set(tally.accepted);
    await until(
      () => {
        const counts = sends();
        return [...accepted].every((id) => counts.has(id));
      },
      'every accepted email was sent',
      120_000,
    );
    const counts = sends();
    const twice = [...counts.entries()].filter(([, count]) => count > 1);
    const unknown = [...counts.keys()].filter((id) => !accepted.has(id));

    // The ledger's record of each: sent, on one finished try (recorded just before each ack).
    const pool = createPool({ url: database.url, max: 1 });
    const records = async () => {
      const result = await pool.query(
        `SELECT e.state, count(a.*)::int AS tries, count(a.*) FILTER (WHERE a.outcome = 'sent')::int AS sent
           FROM emails e LEFT JOIN attempts a ON a.email_id = e.id
          WHERE e.id = ANY($1::uuid[]) GROUP BY e.id, e.state`,
        [[...accepted]],
      );
      return result.rows as { state: string; tries: number; sent: number }[];
    };
    let rows: { state: string; tries: number; sent: number }[] = [];
    let claimedAt = new Map<string, number>();
    try {
      await until(async () => {
        rows = await records();
        return rows.filter((row) => row.state === 'sent').length === accepted.size;
      }, 'the ledger recorded every accepted email as sent');
      // When each sent try was claimed (PostgreSQL's clock, the machine's, as the consumer's log).
      const tries = await pool.query<{ email_id: string; started_at: Date }>(
        `SELECT email_id, started_at FROM attempts WHERE outcome = 'sent' AND email_id = ANY($1::uuid[])`,
        [[...accepted]],
      );
      claimedAt = new Map(tries.rows.map((row) => [row.email_id, row.started_at.getTime()]));
    } finally {
      await pool.end();
    }
    // Nothing sent unrecorded: every send came after its claim, and those made while PostgreSQL
    // was down (sends claimed just before the stop, finishing after it) were claimed before the stop.
    const whileDown = captures().filter(({ at }) => at >= stoppedAt && at < restartedAt);
    const unclaimed = captures().filter(({ id, at }) => !((claimedAt.get(id) ?? Infinity) <= at));
    const claimedLate = whileDown.filter(({ id }) => !((claimedAt.get(id) ?? Infinity) < stoppedAt));

    console.log(
      `ledger outage: ${accepted.size} accepted (${acceptedBefore} before the stop, ${acceptedWhileDown} while stopped), ` +
        `${refused()} answered 503 (${refusedAtRestart} by the restart), statuses ${JSON.stringify([...tally.statuses])}, ` +
        `reasons ${JSON.stringify([...tally.reasons])}; ${whileDown.length} sends while stopped, each claimed before the stop; ` +
        `${twice.length} sent twice`,
    );
    expect(ready.status).toBe(503);
    expect(readyBody.reason).toBe('ledger-unavailable');
    expect([...tally.statuses.keys()].sort()).toEqual([202, 503]);
    expect([...tally.reasons.keys()]).toEqual(['ledger-unavailable']);
    expect(acceptedWhileDown).toBe(0);
    expect(unclaimed).toEqual([]);
    expect(claimedLate).toEqual([]);
    expect(twice).toEqual([]);
    expect(unknown).toEqual([]);
    expect(rows).toHaveLength(accepted.size);
    expect(rows.filter((row) => row.state !== 'sent' || row.sent !== 1)).toEqual([]);

    producer.child.kill('SIGTERM');
    consumer.child.kill('SIGTERM');
    expect(await producer.exited).toBe(0);
    expect(await consumer.exited).toBe(0);
  }, 120_000);
});
