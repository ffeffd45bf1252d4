import { randomBytes, randomUUID } from 'node:crypto';
import {
  InvalidWebhookCursorError,
  type WebhookDeliveryOutcome,
  type WebhookDeliveryReport,
  type WebhookEndpointRecord,
} from '@mailer/contract';
import { TEST_RECIPIENT_HASH_SECRET } from '@mailer/testkit';
import { openLedger, Webhooks } from '../src';
import { createTestDatabase, type TestDatabase } from './support/database';

const KEY = randomBytes(32).toString('base64');
const DAY_MS = 24 * 60 * 60 * 1000;
const DISABLE_AFTER_MS = 5 * DAY_MS;

let db: TestDatabase;
let store: Webhooks;

beforeAll(async () => {
  db = await createTestDatabase({ migrated: true });
  store = new Webhooks(db.pool, KEY);
});

afterAll(async () => {
  await db.drop();
});

async function endpoint(client = 'acme', extra: { eventTypes?: WebhookEndpointRecord['eventTypes'] } = {}) {
  return store.createEndpoint({
    client,
    url: `https://hooks.example.com/${randomUUID()}`,
    eventTypes: extra.eventTypes ?? [],
    description: 'orders service',
  });
}

function report(
  endpointId: string,
  outcome: WebhookDeliveryOutcome,
  at: Date,
  extra: Partial<WebhookDeliveryReport> = {},
): WebhookDeliveryReport {
  return {
    deliveryId: randomUUID(),
    endpointId,
    eventId: randomUUID(),
    eventType: 'email.sent',
    emailId: randomUUID(),
    try: 1,
    outcome,
    status: outcome === 'succeeded' ? 200 : 500,
    error: outcome === 'succeeded' ? null : 'HTTP 500',
    durationMs: 12,
    at,
    ...extra,
  };
}

/** Every column of an endpoint's row, as text. */
async function storedRow(id: string): Promise<Record<string, string | null>> {
  const { rows } = await db.pool.query<{ row: Record<string, unknown> }>(
    'SELECT to_jsonb(e) AS row FROM webhook_endpoints e WHERE id = $1',
    [id],
  );
  const row = rows[0]?.row ?? {};
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v === null ? null : JSON.stringify(v)]));
}

describe('webhook endpoints', () => {
  it('when an endpoint is registered, then it gets a whsec_ secret of 32 random bytes and its record says enabled', async () => {
    const { endpoint: record, secret } = await store.createEndpoint({
      client: 'acme',
      url: 'https://hooks.example.com/a',
      eventTypes: ['email.bounced', 'email.delivered', 'email.bounced'],
      description: 'bounces',
    });

    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(record).toMatchObject({
      client: 'acme',
      url: 'https://hooks.example.com/a',
      eventTypes: ['email.bounced', 'email.delivered'],
      description: 'bounces',
      disabledAt: null,
      disabledReason: null,
      failingSince: null,
      previousSecretExpiresAt: null,
    });
    expect(await store.getEndpoint('acme', record.id)).toEqual(record);
  });

  it('when the stored row is read column by column, then no column holds the secret or any part of it in clear', async () => {
    const { endpoint: record, secret } = await endpoint();
    await store.rotateSecret('acme', record.id, DAY_MS);
    const signing = await store.signingEndpoint(record.id);
    const secrets = signing?.secrets ?? [];
    expect(secrets).toHaveLength(2);
    expect(secrets).toContain(secret);

    const row = await storedRow(record.id);
    expect(Object.keys(row)).toEqual(
      expect.arrayContaining(['secret_encrypted', 'previous_secret_encrypted', 'url', 'description']),
    );
    const { rows: raw } = await db.pool.query<{ a: Buffer; b: Buffer }>(
      'SELECT secret_encrypted AS a, previous_secret_encrypted AS b FROM webhook_endpoints WHERE id = $1',
      [record.id],
    );
    for (const s of secrets) {
      const bytes = Buffer.from(s.slice('whsec_'.length), 'base64');
      for (const value of Object.values(row)) {
        expect(value ?? '').not.toContain(s.slice('whsec_'.length, 20));
        expect(value ?? '').not.toContain(bytes.toString('hex').slice(0, 16));
      }
      for (const stored of [raw[0]?.a, raw[0]?.b]) {
        expect(stored).toBeInstanceOf(Buffer);
        expect((stored ?? Buffer.alloc(0)).includes(bytes.subarray(0, 8))).toBe(false);
        expect((stored ?? Buffer.alloc(0)).includes(Buffer.from(s.slice(0, 16)))).toBe(false);
      }
    }
  });

  it('when a ciphertext is read under another key or moved onto another endpoint, then it does not decrypt', async () => {
    // A client of its own: the fan-out of a client with an endpoint that does not decrypt fails.
    const client = `tampered-${randomUUID()}`;
    const { endpoint: a } = await endpoint(client);
    const { endpoint: b } = await endpoint(client);
    const otherKey = new Webhooks(db.pool, randomBytes(32).toString('base64'));
    await expect(otherKey.signingEndpoint(a.id)).rejects.toThrow(/does not decrypt/);

    await db.pool.query(
      'UPDATE webhook_endpoints SET secret_encrypted = (SELECT secret_encrypted FROM webhook_endpoints WHERE id = $1) WHERE id = $2',
      [a.id, b.id],
    );
    await expect(store.signingEndpoint(b.id)).rejects.toThrow(/does not decrypt/);
    await expect(store.endpointsFor(client, 'email.sent')).rejects.toThrow(/does not decrypt/);
  });

  it('when a secret is rotated, then the new and the old one both sign until the overlap ends, then only the new one', async () => {
    const { endpoint: record, secret: first } = await endpoint();
    const before = Date.now();
    const rotated = await store.rotateSecret('acme', record.id, DAY_MS);
    if (rotated === undefined) throw new Error('not rotated');

    expect(rotated.secret).not.toBe(first);
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.endpoint.previousSecretExpiresAt?.getTime()).toBeGreaterThanOrEqual(before + DAY_MS - 1000);
    expect((await store.signingEndpoint(record.id))?.secrets).toEqual([rotated.secret, first]);
    expect((await store.endpointsFor('acme', 'email.sent')).find((s) => s.endpoint.id === record.id)?.secrets).toEqual([
      rotated.secret,
      first,
    ]);

    // The overlap ends: its expiry moves into the past, as a day passing would.
    await db.pool.query(
      "UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second' WHERE id = $1",
      [record.id],
    );
    expect((await store.signingEndpoint(record.id))?.secrets).toEqual([rotated.secret]);
    expect((await store.getEndpoint('acme', record.id))?.previousSecretExpiresAt).toBeNull();
  });

  it('when a secret is rotated twice, then the secret of the first rotation stops signing: two at most', async () => {
    const { endpoint: record } = await endpoint();
    const second = await store.rotateSecret('acme', record.id, DAY_MS);
    const third = await store.rotateSecret('acme', record.id, DAY_MS);
    expect((await store.signingEndpoint(record.id))?.secrets).toEqual([third?.secret, second?.secret]);
  });

  it('when another client asks for, changes, rotates or deletes an endpoint, then it is not found and nothing changes', async () => {
    const { endpoint: record, secret } = await endpoint('acme');

    expect(await store.getEndpoint('globex', record.id)).toBeUndefined();
    expect(await store.updateEndpoint('globex', record.id, { url: 'https://evil.example.com/' })).toBeUndefined();
    expect(await store.rotateSecret('globex', record.id, DAY_MS)).toBeUndefined();
    expect(await store.deleteEndpoint('globex', record.id)).toBe(false);
    expect((await store.listEndpoints('globex', { limit: 100 })).items.map((e) => e.id)).not.toContain(record.id);
    expect(await store.endpointsFor('globex', 'email.sent')).toEqual([]);

    expect(await store.getEndpoint('acme', record.id)).toEqual(record);
    expect((await store.signingEndpoint(record.id))?.secrets).toEqual([secret]);
  });

  it('when an id is not a UUID, then it is simply not found', async () => {
    expect(await store.getEndpoint('acme', 'nope')).toBeUndefined();
    expect(await store.endpointById("1' OR '1'='1")).toBeUndefined();
    expect(await store.deleteEndpoint('acme', 'nope')).toBe(false);
  });

  it('when an endpoint is patched, then only the given fields change; enabled:false disables it as manual, enabled:true clears the disable and the failure run', async () => {
    const { endpoint: record } = await endpoint('acme', { eventTypes: ['email.sent'] });

    const described = await store.updateEndpoint('acme', record.id, { description: null });
    expect(described).toMatchObject({ url: record.url, eventTypes: ['email.sent'], description: null });

    const moved = await store.updateEndpoint('acme', record.id, { url: 'https://hooks.example.com/b', eventTypes: [] });
    expect(moved).toMatchObject({ url: 'https://hooks.example.com/b', eventTypes: [], description: null });
    expect(moved?.disabledAt).toBeNull();

    const off = await store.updateEndpoint('acme', record.id, { enabled: false });
    expect(off).toMatchObject({ disabledReason: 'manual' });
    expect(off?.disabledAt).toBeInstanceOf(Date);
    expect((await store.endpointsFor('acme', 'email.sent')).map((s) => s.endpoint.id)).not.toContain(record.id);

    await store.recordDeliveries([report(record.id, 'parked', new Date())], { disableAfterMs: DISABLE_AFTER_MS });
    expect((await store.getEndpoint('acme', record.id))?.failingSince).toBeInstanceOf(Date);

    const on = await store.updateEndpoint('acme', record.id, { enabled: true });
    expect(on).toMatchObject({ disabledAt: null, disabledReason: null, failingSince: null });
    expect((await store.endpointsFor('acme', 'email.sent')).map((s) => s.endpoint.id)).toContain(record.id);
  });

  it('when an endpoint is deleted, then its deliveries go with it', async () => {
    const { endpoint: record } = await endpoint();
    await store.recordDeliveries([report(record.id, 'succeeded', new Date())], { disableAfterMs: DISABLE_AFTER_MS });
    expect((await store.listDeliveries(record.id, { limit: 10 })).items).toHaveLength(1);

    expect(await store.deleteEndpoint('acme', record.id)).toBe(true);
    expect(await store.getEndpoint('acme', record.id)).toBeUndefined();
    expect(await store.signingEndpoint(record.id)).toBeUndefined();
    const { rows } = await db.pool.query('SELECT 1 FROM webhook_deliveries WHERE endpoint_id = $1', [record.id]);
    expect(rows).toEqual([]);
  });

  it('when the fan-out asks for an event type, then it gets the enabled endpoints of that client that want it (empty types: all)', async () => {
    const client = `fanout-${randomUUID()}`;
    const all = await endpoint(client);
    const bounces = await endpoint(client, { eventTypes: ['email.bounced'] });
    const off = await endpoint(client);
    await store.updateEndpoint(client, off.endpoint.id, { enabled: false });

    const forSent = await store.endpointsFor(client, 'email.sent');
    const forBounced = await store.endpointsFor(client, 'email.bounced');

    expect(forSent.map((s) => s.endpoint.id)).toEqual([all.endpoint.id]);
    expect(forBounced.map((s) => s.endpoint.id)).toEqual([all.endpoint.id, bounces.endpoint.id]);
    expect(forBounced.map((s) => s.secrets)).toEqual([[all.secret], [bounces.secret]]);
  });

  it('when endpoints are listed, then pages run newest first by cursor, per client or across clients', async () => {
    const client = `pages-${randomUUID()}`;
    const made: string[] = [];
    for (let k = 0; k < 5; k++) made.push((await endpoint(client)).endpoint.id);

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.listEndpoints(client, { limit: 2, ...(cursor === undefined ? {} : { cursor }) });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((e) => e.id));
      cursor = page.next ?? undefined;
    } while (cursor !== undefined);

    expect(seen).toEqual([...made].reverse());
    const everyone = await store.listAllEndpoints({ limit: 100 });
    expect(everyone.items.map((e) => e.id)).toEqual(expect.arrayContaining(made));
    expect(new Set(everyone.items.map((e) => e.client)).size).toBeGreaterThan(1);
    await expect(store.listEndpoints(client, { limit: 2, cursor: 'bm90LWEtY3Vyc29y' })).rejects.toThrow(
      InvalidWebhookCursorError,
    );
    await expect(store.listEndpoints(client, { limit: 0 })).rejects.toThrow(RangeError);
    await expect(store.listEndpoints(client, { limit: 101 })).rejects.toThrow(RangeError);
  });

  it('when endpoints are counted, then enabled and disabled ones are told apart', async () => {
    const before = await store.endpointCounts();
    const { endpoint: record } = await endpoint();
    await endpoint();
    await store.updateEndpoint('acme', record.id, { enabled: false });

    expect(await store.endpointCounts()).toEqual({ enabled: before.enabled + 1, disabled: before.disabled + 1 });
  });

  it('when fields are out of bounds, then the store refuses them before any statement', async () => {
    await expect(
      store.createEndpoint({
        client: 'acme',
        url: `https://h.example.com/${'a'.repeat(2048)}`,
        eventTypes: [],
        description: null,
      }),
    ).rejects.toThrow(RangeError);
    await expect(
      store.createEndpoint({
        client: 'acme',
        url: 'https://h.example.com/',
        eventTypes: [],
        description: 'd'.repeat(201),
      }),
    ).rejects.toThrow(RangeError);
  });
});

describe('webhook deliveries', () => {
  it('when a delivery is reported try after try, then the ledger keeps its latest try, and a late report of an earlier try changes nothing', async () => {
    const { endpoint: record } = await endpoint();
    const t0 = new Date(Date.now() - 60_000);
    const first = report(record.id, 'retrying', t0);
    const second = {
      ...first,
      try: 2,
      outcome: 'succeeded' as const,
      status: 204,
      error: null,
      at: new Date(t0.getTime() + 5000),
    };

    await store.recordDeliveries([second, first], { disableAfterMs: DISABLE_AFTER_MS });
    await store.recordDeliveries([first], { disableAfterMs: DISABLE_AFTER_MS });

    const { items } = await store.listDeliveries(record.id, { limit: 10 });
    expect(items).toEqual([
      {
        id: first.deliveryId,
        endpointId: record.id,
        eventId: first.eventId,
        eventType: 'email.sent',
        emailId: first.emailId,
        tries: 2,
        outcome: 'succeeded',
        status: 204,
        error: null,
        durationMs: 12,
        createdAt: t0,
        updatedAt: second.at,
      },
    ]);
  });

  it('when a try fails, then the endpoint starts a failure run; a success ends it', async () => {
    const { endpoint: record } = await endpoint();
    const t0 = new Date(Date.now() - 60 * 60_000);

    const none = await store.recordDeliveries([report(record.id, 'retrying', t0)], {
      disableAfterMs: DISABLE_AFTER_MS,
    });
    expect(none).toEqual([]);
    expect((await store.getEndpoint('acme', record.id))?.failingSince).toEqual(t0);

    await store.recordDeliveries([report(record.id, 'retrying', new Date(t0.getTime() + 60_000))], {
      disableAfterMs: DISABLE_AFTER_MS,
    });
    expect((await store.getEndpoint('acme', record.id))?.failingSince).toEqual(t0);

    await store.recordDeliveries([report(record.id, 'succeeded', new Date(t0.getTime() + 120_000))], {
      disableAfterMs: DISABLE_AFTER_MS,
    });
    expect((await store.getEndpoint('acme', record.id))?.failingSince).toBeNull();
  });

  it('when a parked delivery is replayed (its schedule starts again at try 1) and succeeds, then the record says succeeded and counts the replayed try on from the others', async () => {
    const { endpoint: record } = await endpoint();
    const t0 = new Date(Date.now() - 60_000);
    const first = report(record.id, 'retrying', t0);
    const parked = { ...first, try: 3, outcome: 'parked' as const, status: 500, at: new Date(t0.getTime() + 5000) };
    const replayed = {
      ...first,
      try: 1,
      outcome: 'succeeded' as const,
      status: 204,
      error: null,
      at: new Date(t0.getTime() + 30_000),
    };

    await store.recordDeliveries([first, parked], { disableAfterMs: DISABLE_AFTER_MS });
    await store.recordDeliveries([replayed], { disableAfterMs: DISABLE_AFTER_MS });

    const { items } = await store.listDeliveries(record.id, { limit: 10 });
    expect(items.map(({ tries, outcome, status }) => ({ tries, outcome, status }))).toEqual([
      { tries: 4, outcome: 'succeeded', status: 204 },
    ]);
  });

  it('when a success and later failures come in one call, then the run starts at the first failure after the success', async () => {
    const { endpoint: record } = await endpoint();
    const t0 = new Date(Date.now() - 60 * 60_000);
    const at = (s: number) => new Date(t0.getTime() + s * 1000);

    await store.recordDeliveries([report(record.id, 'retrying', at(0))], { disableAfterMs: DISABLE_AFTER_MS });
    await store.recordDeliveries(
      [
        report(record.id, 'retrying', at(30)),
        report(record.id, 'succeeded', at(10)),
        report(record.id, 'parked', at(20)),
      ],
      { disableAfterMs: DISABLE_AFTER_MS },
    );

    expect((await store.getEndpoint('acme', record.id))?.failingSince).toEqual(at(20));
  });

  it('when a success is older than the recorded failure run, then the run goes on', async () => {
    const { endpoint: record } = await endpoint();
    const t0 = new Date(Date.now() - 60 * 60_000);
    await store.recordDeliveries([report(record.id, 'retrying', t0)], { disableAfterMs: DISABLE_AFTER_MS });
    await store.recordDeliveries([report(record.id, 'succeeded', new Date(t0.getTime() - 1000))], {
      disableAfterMs: DISABLE_AFTER_MS,
    });
    expect((await store.getEndpoint('acme', record.id))?.failingSince).toEqual(t0);
  });

  it('when a failure comes later than disableAfterMs after the run began, then the endpoint is disabled as failing, once', async () => {
    const { endpoint: record } = await endpoint();
    const t0 = new Date(Date.now() - 6 * DAY_MS);

    await store.recordDeliveries([report(record.id, 'retrying', t0)], { disableAfterMs: DISABLE_AFTER_MS });
    const early = await store.recordDeliveries(
      [report(record.id, 'retrying', new Date(t0.getTime() + DISABLE_AFTER_MS))],
      {
        disableAfterMs: DISABLE_AFTER_MS,
      },
    );
    expect(early).toEqual([]);
    expect((await store.getEndpoint('acme', record.id))?.disabledAt).toBeNull();

    const late = await store.recordDeliveries(
      [report(record.id, 'parked', new Date(t0.getTime() + DISABLE_AFTER_MS + 1))],
      { disableAfterMs: DISABLE_AFTER_MS },
    );
    expect(late).toEqual([{ endpointId: record.id, reason: 'failing' }]);
    const disabled = await store.getEndpoint('acme', record.id);
    expect(disabled).toMatchObject({ disabledReason: 'failing', failingSince: t0 });
    expect(disabled?.disabledAt).toBeInstanceOf(Date);
    expect((await store.endpointsFor('acme', 'email.sent')).map((s) => s.endpoint.id)).not.toContain(record.id);

    const again = await store.recordDeliveries([report(record.id, 'parked', new Date())], {
      disableAfterMs: DISABLE_AFTER_MS,
    });
    expect(again).toEqual([]);
  });

  it('when several workers record tries of the same endpoints at once, then every try is kept and none waits on another forever', async () => {
    const a = (await endpoint()).endpoint.id;
    const b = (await endpoint()).endpoint.id;
    const t0 = Date.now() - 60_000;
    // Each call names both endpoints, in opposite orders: endpoints are locked in id order.
    const calls = Array.from({ length: 12 }, (_, k) => {
      const pair = [report(a, 'retrying', new Date(t0 + k)), report(b, 'retrying', new Date(t0 + k))];
      return k % 2 === 0 ? pair : pair.reverse();
    });

    await Promise.all(calls.map((reports) => store.recordDeliveries(reports, { disableAfterMs: DISABLE_AFTER_MS })));

    for (const id of [a, b]) {
      expect((await store.listDeliveries(id, { limit: 100 })).items).toHaveLength(12);
      expect((await store.getEndpoint('acme', id))?.failingSince).toEqual(new Date(t0));
    }
  });

  it('when an endpoint answers 410, then it is disabled as gone at once', async () => {
    const { endpoint: record } = await endpoint();
    const other = await endpoint();

    const disabled = await store.recordDeliveries(
      [
        report(record.id, 'parked', new Date(), { status: 410, error: 'HTTP 410' }),
        report(other.endpoint.id, 'succeeded', new Date()),
      ],
      { disableAfterMs: DISABLE_AFTER_MS },
    );

    expect(disabled).toEqual([{ endpointId: record.id, reason: 'gone' }]);
    expect(await store.getEndpoint('acme', record.id)).toMatchObject({ disabledReason: 'gone' });
    expect(await store.getEndpoint('acme', other.endpoint.id)).toMatchObject({ disabledAt: null });
  });

  it('when an endpoint disabled by hand answers 410, then it keeps its manual reason and is not reported again', async () => {
    const { endpoint: record } = await endpoint();
    await store.updateEndpoint('acme', record.id, { enabled: false });
    const disabled = await store.recordDeliveries([report(record.id, 'skipped', new Date(), { status: 410 })], {
      disableAfterMs: DISABLE_AFTER_MS,
    });
    expect(disabled).toEqual([]);
    expect(await store.getEndpoint('acme', record.id)).toMatchObject({ disabledReason: 'manual' });
  });

  it('when an error names an address or a secret, then the ledger keeps it masked and bounded', async () => {
    const { endpoint: record, secret } = await endpoint();
    const r = report(record.id, 'retrying', new Date(), {
      error: `rejected ${secret} for annabel.quartermaine@example.com ${'x'.repeat(1000)}`,
    });
    await store.recordDeliveries([r], { disableAfterMs: DISABLE_AFTER_MS });

    const [kept] = (await store.listDeliveries(record.id, { limit: 1 })).items;
    expect(kept?.error?.length).toBeLessThanOrEqual(300);
    expect(kept?.error).not.toContain(secret.slice(6, 20));
    expect(kept?.error).not.toContain('annabel.quartermaine@');
    expect(kept?.error).toContain('whsec_***');
  });

  it('when reports name a deleted endpoint or ids that are not UUIDs, then they are dropped and the rest recorded', async () => {
    const { endpoint: record } = await endpoint();
    const kept = report(record.id, 'succeeded', new Date());
    const disabled = await store.recordDeliveries(
      [
        report(randomUUID(), 'parked', new Date(), { status: 410 }),
        report(record.id, 'parked', new Date(), { status: 410, eventId: 'not-a-uuid' }),
        kept,
      ],
      { disableAfterMs: DISABLE_AFTER_MS },
    );
    expect(disabled).toEqual([]);
    expect((await store.listDeliveries(record.id, { limit: 10 })).items.map((d) => d.id)).toEqual([kept.deliveryId]);
  });

  it('when deliveries are listed, then they come newest first by cursor and filter by since, event type and outcome', async () => {
    const { endpoint: record } = await endpoint();
    const t0 = Date.now() - 60 * 60_000;
    const reports = [
      report(record.id, 'succeeded', new Date(t0), { eventType: 'email.sent' }),
      report(record.id, 'retrying', new Date(t0 + 1000), { eventType: 'email.bounced' }),
      report(record.id, 'parked', new Date(t0 + 2000), { eventType: 'email.sent' }),
      report(record.id, 'succeeded', new Date(t0 + 3000), { eventType: 'email.delivered' }),
      report(record.id, 'succeeded', new Date(t0 + 4000), { eventType: 'email.sent', emailId: null }),
    ];
    await store.recordDeliveries(reports, { disableAfterMs: DISABLE_AFTER_MS });
    const newestFirst = reports.map((r) => r.deliveryId).reverse();

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.listDeliveries(record.id, { limit: 2, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...page.items.map((d) => d.id));
      cursor = page.next ?? undefined;
    } while (cursor !== undefined);
    expect(seen).toEqual(newestFirst);

    const since = await store.listDeliveries(record.id, { limit: 10, since: new Date(t0 + 2000) });
    expect(since.items.map((d) => d.id)).toEqual(newestFirst.slice(0, 3));
    const sent = await store.listDeliveries(record.id, { limit: 10, eventTypes: ['email.sent'] });
    expect(sent.items.map((d) => d.id)).toEqual([reports[4], reports[2], reports[0]].map((r) => r?.deliveryId));
    const failed = await store.listDeliveries(record.id, { limit: 10, outcomes: ['retrying', 'parked'] });
    expect(failed.items.map((d) => d.id)).toEqual([reports[2], reports[1]].map((r) => r?.deliveryId));
    const sentSince = await store.listDeliveries(record.id, {
      limit: 1,
      since: new Date(t0 + 1),
      eventTypes: ['email.sent'],
    });
    expect(sentSince.items.map((d) => d.id)).toEqual([reports[4]?.deliveryId]);
    expect(sentSince.next).not.toBeNull();

    await expect(store.listDeliveries(record.id, { limit: 2, cursor: 'garbage' })).rejects.toThrow(
      InvalidWebhookCursorError,
    );
    expect(await store.listDeliveries(randomUUID(), { limit: 10 })).toEqual({ items: [], next: null });
  });
});

describe('openLedger', () => {
  it('when WEBHOOK_SECRETS_KEY is set, then the opened ledger has the webhook store; when empty, it has none', async () => {
    const logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
    const lifecycle = { fail: () => Promise.resolve() };
    const config = {
      ledger: 'on' as const,
      migrateOnStart: false,
      databaseUrl: db.url,
      databasePoolSize: 1,
      recipientHashSecret: TEST_RECIPIENT_HASH_SECRET,
      recipientHashPreviousSecrets: [],
    };
    const on = await openLedger({ ...config, webhookSecretsKey: KEY }, logger, lifecycle);
    const off = await openLedger({ ...config, webhookSecretsKey: '' }, logger, lifecycle);
    try {
      if (typeof on !== 'object' || typeof off !== 'object') throw new Error('not opened');
      const { endpoint: record, secret } = await endpoint();
      expect((await on.webhooks?.signingEndpoint(record.id))?.secrets).toEqual([secret]);
      expect(off.webhooks).toBeUndefined();
    } finally {
      if (typeof on === 'object') await on.pool.end();
      if (typeof off === 'object') await off.pool.end();
    }
  });
});
