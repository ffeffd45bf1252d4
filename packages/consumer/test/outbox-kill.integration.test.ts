import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from 'amqplib';
import { DEFAULT_DELIVERY_LIMIT, buildTopology, type LifecycleEvent } from '@mailer/contract';
import { createPool, migrate } from '@mailer/ledger';
import {
  AMQP_URL,
  createScratchDatabase,
  deleteTopology,
  queueDepth,
  runService,
  takeMessages,
  uniquePrefix,
  until,
  type Service,
  killServices,
} from '@mailer/testkit';

const main = path.resolve(__dirname, '../dist/main.js');

/** Outbox rows the test makes: enough that the relay is still publishing when it is killed. */
const ROWS = 20_000;
/** EVENTS_RELAY_BATCH: small, so the kill lands between some transactions and inside one. */
const BATCH = 50;

/**
 * Must-show 1 of issue 16: the consumer process running the relay is killed (-9) while it
 * publishes, then started again. Every outbox row reaches the exchange at least once (a queue
 * bound `#` counts them), copies carry the same event id, and every row ends up published.
 */
describe('when the process running the events relay is killed (-9) mid-publish and started again', () => {
  const services: Service[] = [];
  const prefix = uniquePrefix('outbox-kill');
  const topology = buildTopology({ prefix, retryDelaysMs: [60_000], deliveryLimit: DEFAULT_DELIVERY_LIMIT });
  const counting = `${prefix}.counting`;
  const captureDir = mkdtempSync(path.join(tmpdir(), 'outbox-kill-'));
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>> | undefined;
  let pool: ReturnType<typeof createPool> | undefined;

  beforeAll(() => {
    if (!existsSync(main)) throw new Error(`${main} is missing: run "pnpm run build" first (pnpm test does)`);
  });

  afterAll(async () => {
    await killServices(services);
    const model = await connect(AMQP_URL);
    const channel = await model.createChannel();
    await channel.deleteQueue(counting);
    await model.close();
    await deleteTopology(topology);
    await pool?.end();
    await scratch?.drop();
    rmSync(captureDir, { recursive: true, force: true });
  });

  const start = (databaseUrl: string): Service => {
    const service = runService(main, {
      AMQP_URL,
      AMQP_PREFIX: prefix,
      RETRY_DELAYS: '60s',
      DATABASE_URL: databaseUrl,
      CAPTURE_DIR: captureDir,
      EVENTS_RELAY_BATCH: String(BATCH),
      LOG_LEVEL: 'info',
    });
    services.push(service);
    return service;
  };

  it('then every row is on the exchange at least once, copies share their event id, and every row is published', async () => {
    scratch = await createScratchDatabase('outbox_kill');
    pool = createPool({ url: scratch.url, max: 2, statementTimeoutMs: 0 });
    const db = pool;
    await migrate(db);
    // One statement through the producer's own function: the triggers write ROWS email.queued events.
    await db.query(
      `SELECT count(*) FROM ledger_record_accepted((
        SELECT jsonb_agg(jsonb_build_object('id', gen_random_uuid(), 'client', 'acme', 'accepted_at', now(),
          'recipient_count', 1, 'recipients', jsonb_build_array('j***@example.com')))
        FROM generate_series(1, $1::integer)), '[]'::jsonb)`,
      [ROWS],
    );
    const model = await connect(AMQP_URL);
    const channel = await model.createChannel();
    await channel.assertExchange(topology.eventsExchange.name, topology.eventsExchange.type, { durable: true });
    await channel.assertQueue(counting, { durable: true });
    await channel.bindQueue(counting, topology.eventsExchange.name, '#');
    await model.close();
    const unpublished = async () => {
      const { rows } = await db.query<{ n: number }>(
        'SELECT count(*)::integer AS n FROM outbox WHERE published_at IS NULL',
      );
      return rows[0]?.n ?? 0;
    };

    const first = start(scratch.url);
    await until(async () => (await queueDepth(counting)) >= 500, 'the relay has published some events', 60_000);
    if (first.child.pid === undefined) throw new Error('no pid');
    process.kill(first.child.pid, 'SIGKILL');
    await first.exited;
    const onExchangeAtKill = await queueDepth(counting);
    const leftAtKill = await unpublished();
    // Killed while publishing: some on the exchange, not all marked.
    expect(onExchangeAtKill).toBeGreaterThan(0);
    expect(leftAtKill).toBeGreaterThan(0);

    const second = start(scratch.url);
    await until(async () => (await unpublished()) === 0, 'the restarted relay has published the rest', 180_000);
    await until(async () => (await queueDepth(counting)) >= ROWS, 'every row is on the counting queue', 60_000);
    if (second.child.pid === undefined) throw new Error('no pid');
    process.kill(second.child.pid, 'SIGTERM');
    expect(await second.exited).toBe(0);

    const messages = await takeMessages(counting, await queueDepth(counting), 120_000);
    const copies = new Map<string, string[]>();
    for (const message of messages) {
      const body = message.content.toString('utf8');
      const event = JSON.parse(body) as LifecycleEvent;
      expect(message.properties.messageId).toBe(event.id);
      expect(message.fields.routingKey).toBe(event.type);
      copies.set(event.id, [...(copies.get(event.id) ?? []), body]);
    }
    const { rows } = await db.query<{ id: string }>('SELECT id::text FROM outbox');
    expect(rows).toHaveLength(ROWS);
    expect([...copies.keys()].sort()).toEqual(rows.map((r) => r.id).sort());
    // A duplicate is the same event again, byte for byte.
    for (const bodies of copies.values()) expect(new Set(bodies).size).toBe(1);
    expect(await unpublished()).toBe(0);
    // Copies come only from the one batch in flight at the kill: a marked row is never published again.
    expect(messages.length - ROWS).toBeLessThanOrEqual(BATCH);
  });
});
