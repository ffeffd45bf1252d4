import { randomBytes, randomUUID } from 'node:crypto';
import { connect, type ConsumeMessage } from 'amqplib';
import {
  DEFAULT_DELIVERY_LIMIT,
  DEFAULT_RETRY_DELAYS_MS,
  buildTopology,
  deliveryIdOf,
  type LifecycleEvent,
  type LifecycleEventType,
  type Topology,
  type WebhookDeliveryMessage,
  type WebhookDeliveryOutcome,
  type WebhookEndpointRecord,
} from '@mailer/contract';
import { declareTopology } from '@mailer/amqp';
import { Ledger, Outbox, Webhooks, createPool, migrate } from '@mailer/ledger';
import {
  AMQP_URL,
  createScratchDatabase,
  deleteTopology,
  drainQueue,
  queueDepth,
  uniquePrefix,
  until,
  type ScratchDatabase,
} from '@mailer/testkit';
import { runCaptured } from '../src/testing';

const SECRETS_KEY = randomBytes(32).toString('base64');
const DAY_MS = 86_400_000;

let db: ScratchDatabase;
let pool: ReturnType<typeof createPool>;
let ledger: Ledger;
let webhooks: Webhooks;
let outbox: Outbox;

beforeAll(async () => {
  db = await createScratchDatabase('cli_webhooks');
  pool = createPool({ url: db.url, max: 2 });
  await migrate(pool);
  ledger = new Ledger({ db: pool });
  webhooks = new Webhooks(pool, SECRETS_KEY);
  outbox = new Outbox(pool);
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

/** A client name no other test uses: the outbox and the endpoints are read per client. */
const uniqueClient = (label: string) => `${label}-${randomBytes(4).toString('hex')}`;

/** Runs `mailer webhooks ...` in-process against the scratch ledger (and `prefix` on the broker). */
const mailer = (args: string[], prefix = 'unused', person?: { interactive: boolean }) =>
  runCaptured(
    ['webhooks', ...args],
    { DATABASE_URL: db.url, WEBHOOK_SECRETS_KEY: SECRETS_KEY, AMQP_URL, AMQP_PREFIX: prefix },
    person,
  );

/** Records `count` accepted emails of `client` (each an `email.queued` event), and sends those of `sent` (`email.sent`). */
async function emails(client: string, count: number, sent: readonly number[] = []): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID());
  await ledger.recordAccepted(
    ids.map((id, n) => ({ id, client, acceptedAt: new Date(), recipients: [`person${n}@example.org`] })),
  );
  for (const n of sent) {
    const id = ids[n] ?? '';
    expect(await ledger.claimAttempt({ id, attempt: 1, provider: 'smtp' })).toEqual({ outcome: 'claimed' });
    expect(await ledger.recordSent({ id, attempt: 1, provider: 'smtp', providerMessageId: `smtp-${n}` })).toBe(
      'advanced',
    );
  }
  return ids;
}

/** Every event of `client` in the outbox since `since`, oldest first. */
async function eventsOf(client: string, since = new Date(0)): Promise<LifecycleEvent[]> {
  const { events, next } = await outbox.eventsOf(client, { since, limit: 1000 });
  expect(next).toBeNull();
  return [...events];
}

/** Records one try of `event`'s delivery to `endpoint` that ended as `outcome`. */
async function delivered(
  endpoint: WebhookEndpointRecord,
  event: LifecycleEvent,
  outcome: WebhookDeliveryOutcome,
  at = new Date(),
): Promise<void> {
  await webhooks.recordDeliveries(
    [
      {
        deliveryId: deliveryIdOf(event.id, endpoint.id),
        endpointId: endpoint.id,
        eventId: event.id,
        eventType: event.type,
        emailId: event.data.email_id,
        try: outcome === 'parked' ? 8 : 1,
        outcome,
        status: outcome === 'succeeded' ? 200 : outcome === 'skipped' ? null : 500,
        error: outcome === 'succeeded' ? null : 'mailbox of jane.doe@example.org is full',
        durationMs: 40,
        at,
      },
    ],
    { disableAfterMs: 5 * DAY_MS },
  );
}

/** The message the delivery worker parks after the last try of `event`'s delivery to `endpointId`. */
function parkedCopy(event: LifecycleEvent, endpointId: string, client: string): WebhookDeliveryMessage {
  return {
    delivery_id: deliveryIdOf(event.id, endpointId),
    endpoint_id: endpointId,
    client,
    try: 8,
    first_try_at: new Date(Date.now() - DAY_MS).toISOString(),
    event,
  };
}

/** Declares the topology and parks `bodies` in the webhooks dead queue, in order, confirmed. */
async function park(topology: Topology, bodies: readonly Buffer[]): Promise<void> {
  const model = await connect(AMQP_URL);
  try {
    await declareTopology(await model.createChannel(), topology);
    const channel = await model.createConfirmChannel();
    for (const body of bodies) channel.publish(topology.webhooksDeadExchange.name, '', body, { persistent: true });
    await channel.waitForConfirms();
    await channel.close();
  } finally {
    await model.close();
  }
}

const bodyOf = (message: ConsumeMessage): unknown => JSON.parse(message.content.toString('utf8'));

describe('mailer webhooks list', () => {
  test('when endpoints are listed, then each shows its client, types and status, and never a secret or a URL credential', async () => {
    const billing = uniqueClient('billing');
    const shop = uniqueClient('shop');
    const first = await webhooks.createEndpoint({
      client: billing,
      url: 'https://hooks.example.com/mailer?token=t0ps3cret',
      eventTypes: ['email.bounced', 'email.complained'],
      description: 'bounces to the CRM',
    });
    const second = await webhooks.createEndpoint({
      client: shop,
      url: 'https://shop.example.net/in',
      eventTypes: [],
      description: null,
    });
    await webhooks.updateEndpoint(shop, second.endpoint.id, { enabled: false });

    const all = await mailer(['list', '--json']);
    expect({ code: all.code, stderr: all.stderr }).toEqual({ code: 0, stderr: '' });
    const listed = JSON.parse(all.stdout) as Record<string, unknown>[];
    expect(listed).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          id: first.endpoint.id,
          client: billing,
          url: 'https://hooks.example.com/mailer?token=***',
          event_types: ['email.bounced', 'email.complained'],
          status: 'enabled',
          disabled_reason: null,
          failing_since: null,
        }),
        expect.objectContaining({
          id: second.endpoint.id,
          client: shop,
          event_types: [],
          status: 'disabled',
          disabled_reason: 'manual',
        }),
      ]),
    );

    const one = await mailer(['list', '--client', shop]);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain(second.endpoint.id);
    expect(one.stdout).not.toContain(first.endpoint.id);
    expect(one.stdout).toMatch(/^ID +CLIENT +URL +TYPES +STATUS +SINCE +FAILING SINCE$/m);
    expect(one.stdout).toMatch(
      new RegExp(
        `^${second.endpoint.id} +${shop} +https://shop.example.net/in +all +disabled \\(manual\\) +\\S+Z +-$`,
        'm',
      ),
    );
    expect(one.stdout).toMatch(/^1 endpoint\(s\), 1 disabled$/m);

    for (const output of [all.stdout, one.stdout, (await mailer(['list'])).stdout]) {
      expect(output).not.toContain(first.secret);
      expect(output).not.toContain(second.secret);
      expect(output).not.toContain('whsec_');
      expect(output).not.toContain('t0ps3cret');
    }
  });
});

describe('mailer webhooks deliveries', () => {
  test('when deliveries were recorded through the store, then they are listed newest first with their tries, outcome, status and masked error; filters and --limit apply', async () => {
    const client = uniqueClient('deliveries');
    const { endpoint } = await webhooks.createEndpoint({
      client,
      url: 'https://hooks.example.com/in',
      eventTypes: [],
      description: null,
    });
    await emails(client, 3, [0]);
    const events = await eventsOf(client);
    expect(events.map((e) => e.type)).toEqual(['email.queued', 'email.queued', 'email.queued', 'email.sent']);
    const base = Date.now() - 60_000;
    await delivered(endpoint, events[0] as LifecycleEvent, 'succeeded', new Date(base));
    await delivered(endpoint, events[1] as LifecycleEvent, 'parked', new Date(base + 1000));
    await delivered(endpoint, events[3] as LifecycleEvent, 'retrying', new Date(base + 2000));

    const json = await mailer(['deliveries', endpoint.id, '--json']);
    expect({ code: json.code, stderr: json.stderr }).toEqual({ code: 0, stderr: '' });
    const listed = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(listed.map((d) => [d['event_id'], d['outcome']])).toEqual([
      [events[3]?.id, 'retrying'],
      [events[1]?.id, 'parked'],
      [events[0]?.id, 'succeeded'],
    ]);
    expect(listed[1]).toMatchObject({
      id: deliveryIdOf(events[1]?.id ?? '', endpoint.id),
      event_type: 'email.queued',
      email_id: events[1]?.data.email_id,
      tries: 8,
      status: 500,
      error: 'mailbox of j***@example.org is full',
    });

    const parked = await mailer(['deliveries', endpoint.id, '--outcome', 'parked,retrying', '--event', 'email.queued']);
    expect(parked.code).toBe(0);
    expect(parked.stdout).toMatch(/^DELIVERY +EVENT +EMAIL +TRIES +OUTCOME +STATUS +ERROR +TIME$/m);
    expect(parked.stdout).toMatch(
      new RegExp(
        `^${deliveryIdOf(events[1]?.id ?? '', endpoint.id)} +email.queued +\\S+ +8 +parked +500 +mailbox of j\\*\\*\\*@example.org is full +\\S+Z$`,
        'm',
      ),
    );
    expect(parked.stdout).toContain(`1 delivery of ${endpoint.id} (client ${client})\n`);
    expect(parked.stdout).not.toContain('jane.doe');

    const limited = await mailer(['deliveries', endpoint.id, '--limit', '2', '--json']);
    expect((JSON.parse(limited.stdout) as unknown[]).length).toBe(2);
    expect(limited.stderr).toBe('mailer: more deliveries match than --limit 2\n');

    const later = await mailer(['deliveries', endpoint.id, '--since', new Date(base + 1000).toISOString(), '--json']);
    expect((JSON.parse(later.stdout) as { outcome: string }[]).map((d) => d.outcome)).toEqual(['retrying', 'parked']);

    const unknown = await mailer(['deliveries', randomUUID()]);
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toContain('no webhook endpoint');
  });
});

describe('mailer webhooks replay', () => {
  let topology: Topology;
  let prefix: string;

  beforeEach(() => {
    prefix = uniquePrefix('cli-webhooks');
    topology = buildTopology({ prefix, retryDelaysMs: DEFAULT_RETRY_DELAYS_MS, deliveryLimit: DEFAULT_DELIVERY_LIMIT });
  });

  afterEach(async () => {
    await deleteTopology(topology);
  });

  /**
   * An endpoint of a client of its own, with one early event before `since` and seven after it
   * (five queued, two sent): the first delivered, the second parked (its copy in the dead queue
   * beside another endpoint's parked delivery and a body that is no delivery), the third still
   * retrying, the fourth skipped, the other three never tried.
   */
  async function scenario(eventTypes: readonly LifecycleEventType[] = []) {
    const client = uniqueClient('replay');
    const { endpoint } = await webhooks.createEndpoint({
      client,
      url: 'https://hooks.example.com/in',
      eventTypes,
      description: null,
    });
    const other = await webhooks.createEndpoint({
      client,
      url: 'https://other.example.com/in',
      eventTypes: [],
      description: null,
    });
    await emails(client, 1);
    const [early] = await eventsOf(client);
    const since = new Date(Date.parse(early?.timestamp ?? '') + 1);
    // The timestamp is cut to the millisecond: the next events must be recorded past it.
    await until(async () => {
      const { rows } = await pool.query<{ past: boolean }>('SELECT clock_timestamp() > $1 AS past', [since]);
      return rows[0]?.past === true;
    }, "the ledger's clock passes the replay's --since");
    await emails(client, 5, [0, 1]);
    const events = await eventsOf(client, since);
    expect(events.map((e) => e.type).sort()).toEqual([
      ...Array<string>(5).fill('email.queued'),
      'email.sent',
      'email.sent',
    ]);
    const [succeeded, parked, retrying, skipped] = events as [
      LifecycleEvent,
      LifecycleEvent,
      LifecycleEvent,
      LifecycleEvent,
    ];
    await delivered(endpoint, succeeded, 'succeeded');
    await delivered(endpoint, parked, 'parked');
    await delivered(endpoint, retrying, 'retrying');
    await delivered(endpoint, skipped, 'skipped');
    const othersParked = parkedCopy(parked, other.endpoint.id, client);
    await park(topology, [
      Buffer.from(JSON.stringify(othersParked)),
      Buffer.from(JSON.stringify(parkedCopy(parked, endpoint.id, client))),
      Buffer.from('not a delivery'),
    ]);
    return { client, endpoint, since, events, succeeded, parked, othersParked };
  }

  /** The deliveries the replay published: exactly `count` of them (none is left after). */
  async function published(count: number): Promise<WebhookDeliveryMessage[]> {
    expect(await queueDepth(topology.webhookDeliveriesQueue.name)).toBe(count);
    const messages = await drainQueue(topology.webhookDeliveriesQueue.name, count);
    for (const message of messages) {
      const body = bodyOf(message) as WebhookDeliveryMessage;
      expect(message.properties.messageId).toBe(body.delivery_id);
      expect(message.properties.contentType).toBe('application/json');
    }
    return messages.map((message) => bodyOf(message) as WebhookDeliveryMessage);
  }

  test('when an endpoint is replayed, then every event since --since whose delivery did not succeed is published once, as a replayed first try with its delivery id, and its parked copy leaves the dead queue', async () => {
    const { client, endpoint, since, events, succeeded, othersParked } = await scenario();
    const started = Date.now();
    const run = await mailer(['replay', endpoint.id, '--since', since.toISOString()], prefix);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.stdout).toBe(
      `sent 6 event(s) again to ${endpoint.id} (client ${client}) of 7 read from the outbox since ${since.toISOString()} ` +
        '(3 never tried, 1 skipped, 1 parked, 1 retrying)\n' +
        'left out 1 already delivered (--all sends them too)\n' +
        'removed 1 parked copies from the webhooks dead queue\n',
    );

    const messages = await published(6);
    const expected = events.filter((e) => e.id !== succeeded.id);
    expect(messages.map((m) => m.event.id).sort()).toEqual(expected.map((e) => e.id).sort());
    for (const message of messages) {
      const event = expected.find((e) => e.id === message.event.id);
      expect(message).toEqual({
        delivery_id: deliveryIdOf(event?.id ?? '', endpoint.id),
        endpoint_id: endpoint.id,
        client,
        try: 1,
        first_try_at: expect.any(String) as string,
        replayed: true,
        event,
      });
      expect(Date.parse(message.first_try_at)).toBeGreaterThanOrEqual(started - 1000);
    }

    // The other endpoint's parked delivery and the stranger stay, in their order.
    const left = await drainQueue(topology.webhooksDeadQueue.name);
    expect(left.map((m) => m.content.toString('utf8'))).toEqual([JSON.stringify(othersParked), 'not a delivery']);
  });

  test('when --all is given, then the delivered event is published too', async () => {
    const { endpoint, since, events } = await scenario();
    const run = await mailer(['replay', endpoint.id, '--since', since.toISOString(), '--all', '--json'], prefix);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(run.stdout)).toMatchObject({
      replayed: 7,
      left_out_succeeded: 0,
      previous_outcomes: { none: 3, skipped: 1, parked: 1, retrying: 1, succeeded: 1 },
      parked_copies_removed: 1,
      since_before_outbox: false,
    });
    expect((await published(7)).map((m) => m.event.id).sort()).toEqual(events.map((e) => e.id).sort());
  });

  test('when --event is given, then only events of that type are published; a type the endpoint does not take is refused', async () => {
    const { endpoint, since, events, succeeded } = await scenario(['email.sent', 'email.queued']);
    const run = await mailer(
      ['replay', endpoint.id, '--since', since.toISOString(), '--event', 'email.sent', '--json'],
      prefix,
    );
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const sent = events.filter((e) => e.type === 'email.sent' && e.id !== succeeded.id);
    expect(JSON.parse(run.stdout)).toMatchObject({ event_types: ['email.sent'], replayed: sent.length });
    expect((await published(sent.length)).map((m) => m.event.id).sort()).toEqual(sent.map((e) => e.id).sort());

    const refused = await mailer(['replay', endpoint.id, '--since', '1h', '--event', 'email.bounced'], prefix);
    expect(refused).toMatchObject({ code: 2, stdout: '' });
    expect(refused.stderr).toContain('does not take email.bounced');
    expect(await queueDepth(topology.webhookDeliveriesQueue.name)).toBe(0);
  });

  test('when --dry-run is given, then what would be sent is listed and nothing is published, enabled or removed', async () => {
    const { client, endpoint, since, parked } = await scenario();
    await webhooks.updateEndpoint(client, endpoint.id, { enabled: false });
    const run = await mailer(['replay', endpoint.id, '--since', since.toISOString(), '--dry-run', '--enable'], prefix);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^DELIVERY +EVENT +TYPE +EMAIL +TIME +BEFORE$/m);
    expect(run.stdout).toMatch(
      new RegExp(
        `^${deliveryIdOf(parked.id, endpoint.id)} +${parked.id} +email.queued +${parked.data.email_id} +\\S+Z +parked$`,
        'm',
      ),
    );
    expect(run.stdout).toContain(`would enable webhook endpoint ${endpoint.id}\nwould send 6 event(s) again`);

    const json = await mailer(
      ['replay', endpoint.id, '--since', since.toISOString(), '--dry-run', '--enable', '--json'],
      prefix,
    );
    expect(JSON.parse(json.stdout)).toMatchObject({ dry_run: true, replayed: 6, parked_copies_removed: null });
    expect(await queueDepth(topology.webhookDeliveriesQueue.name)).toBe(0);
    expect(await queueDepth(topology.webhooksDeadQueue.name)).toBe(3);
    expect((await webhooks.endpointById(endpoint.id))?.disabledAt).not.toBeNull();
  });

  test('when the endpoint is disabled, then replay refuses without --enable, and with it enables the endpoint and publishes', async () => {
    const { client, endpoint, since } = await scenario();
    await webhooks.updateEndpoint(client, endpoint.id, { enabled: false });
    const refused = await mailer(['replay', endpoint.id, '--since', since.toISOString()], prefix);
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toContain('is disabled (manual since');
    expect(refused.stderr).toContain('--enable');
    expect(await queueDepth(topology.webhookDeliveriesQueue.name)).toBe(0);

    const run = await mailer(['replay', endpoint.id, '--since', since.toISOString(), '--enable'], prefix);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^enabled webhook endpoint ${endpoint.id}\nsent 6 event`));
    expect((await webhooks.endpointById(endpoint.id))?.disabledAt).toBeNull();
    expect(await published(6)).toHaveLength(6);
  });

  test('when --since is before the oldest event of the client left in the outbox, then the output says older ones cannot be replayed; a person sees progress on stderr', async () => {
    const { client, endpoint } = await scenario();
    const [oldest] = await eventsOf(client);
    const run = await mailer(['replay', endpoint.id, '--since', '3d'], prefix, { interactive: true });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      `note: the oldest event of client ${client} still in the outbox is from ${oldest?.timestamp}: older ones were pruned`,
    );
    expect(run.stderr).toMatch(/\r7 sent again, 8 read from the outbox\n$/);
    expect(await published(7)).toHaveLength(7);
  });

  test('when the endpoint is unknown, then exit 1 with a message and nothing on stdout', async () => {
    const run = await mailer(['replay', randomUUID(), '--since', '1h'], prefix);
    expect(run).toMatchObject({ code: 1, stdout: '' });
    expect(run.stderr).toContain('no webhook endpoint');
  });
});
