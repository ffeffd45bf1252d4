import {
  deliveryIdOf,
  type LifecycleEvent,
  type LifecycleEventType,
  type WebhookDeliveryMessage,
  type WebhookDeliveryOutcome,
  type WebhookDeliveryRecord,
  type WebhookEndpointRecord,
} from '@mailer/contract';
import { CliError } from '../io';
import {
  OUTBOX_PAGE,
  parkedDeliveryOf,
  replayEvents,
  replaySummary,
  replayTarget,
  type ReplayPorts,
  type ReplayRequest,
} from './webhooks-replay';

const now = new Date('2026-12-08T12:00:00.000Z');
const since = new Date('2026-12-08T00:00:00.000Z');

const endpoint: WebhookEndpointRecord = {
  id: '0193a4f0-1111-7222-8333-944455556666',
  client: 'billing',
  url: 'https://example.com/in',
  eventTypes: [],
  description: null,
  createdAt: new Date('2026-12-01T00:00:00.000Z'),
  updatedAt: new Date('2026-12-01T00:00:00.000Z'),
  disabledAt: null,
  disabledReason: null,
  failingSince: null,
  previousSecretExpiresAt: null,
};

const disabled: WebhookEndpointRecord = {
  ...endpoint,
  disabledAt: new Date('2026-12-07T00:00:00.000Z'),
  disabledReason: 'failing',
  failingSince: new Date('2026-12-02T00:00:00.000Z'),
};

/** An event of `billing`, `minutes` after `since` (the first at `since`). */
function event(n: number, type: LifecycleEventType = 'email.delivered', minutes = n - 1): LifecycleEvent {
  const hex = n.toString(16).padStart(12, '0');
  return {
    id: `01890a5d-ac96-774b-bcce-${hex}`,
    type,
    timestamp: new Date(since.getTime() + minutes * 60_000).toISOString(),
    sequence: n + 1,
    data: {
      email_id: `01890a5d-0000-774b-bcce-${hex}`,
      client: 'billing',
      state: 'delivered',
      attempt: 1,
      recipient: 'j***@example.org',
      provider: 'ses',
      provider_message_id: null,
      tags: null,
      metadata: null,
    },
  };
}

/** What the fake stores and broker saw. */
interface Seen {
  published: WebhookDeliveryMessage[];
  updates: { client: string; id: string; enabled: boolean | undefined }[];
  removed: { endpointId: string; ids: string[] }[];
  outboxTypes: (readonly LifecycleEventType[] | undefined)[];
  /** Every call in order: update, publish, remove. */
  calls: string[];
}

/**
 * Fake ports: the outbox pages `events` (oldest first, `since` and `types` applied); the store
 * pages `deliveries` (newest first); `failAfter` publishes succeed before the next one fails.
 */
function ports(
  events: readonly LifecycleEvent[],
  outcomes: Readonly<Record<string, WebhookDeliveryOutcome>> = {},
  failAfter = Number.POSITIVE_INFINITY,
  parkedIds: readonly string[] = [],
): { ports: ReplayPorts; seen: Seen } {
  const seen: Seen = { published: [], updates: [], removed: [], outboxTypes: [], calls: [] };
  const deliveries: WebhookDeliveryRecord[] = Object.entries(outcomes).map(([eventId, outcome], index) => ({
    id: deliveryIdOf(eventId, endpoint.id),
    endpointId: endpoint.id,
    eventId,
    eventType: 'email.delivered',
    emailId: null,
    tries: outcome === 'parked' ? 8 : 1,
    outcome,
    status: outcome === 'succeeded' ? 200 : 500,
    error: null,
    durationMs: 10,
    createdAt: new Date(since.getTime() + index * 1000),
    updatedAt: new Date(since.getTime() + index * 1000),
  }));
  return {
    seen,
    ports: {
      now: () => now,
      outbox: {
        eventsOf: (client, page) => {
          seen.outboxTypes.push(page.types);
          const start = page.cursor === undefined ? 0 : Number(page.cursor);
          const matching = events.filter(
            (e) =>
              e.data.client === client &&
              Date.parse(e.timestamp) >= page.since.getTime() &&
              (page.types === undefined || page.types.includes(e.type)),
          );
          const slice = matching.slice(start, start + page.limit);
          const end = start + slice.length;
          return Promise.resolve({ events: slice, next: end < matching.length ? String(end) : null });
        },
      },
      webhooks: {
        listDeliveries: (endpointId, page) => {
          const start = page.cursor === undefined ? 0 : Number(page.cursor);
          const all = [...deliveries].reverse().filter((d) => d.endpointId === endpointId);
          const slice = all.slice(start, start + page.limit);
          const end = start + slice.length;
          return Promise.resolve({ items: slice, next: end < all.length ? String(end) : null });
        },
        updateEndpoint: (client, id, patch) => {
          seen.updates.push({ client, id, enabled: patch.enabled });
          seen.calls.push('update');
          return Promise.resolve({ ...endpoint, disabledAt: null, disabledReason: null });
        },
      },
      publish: (message) => {
        if (seen.published.length >= failAfter) return Promise.reject(new Error('the broker did not confirm in time'));
        seen.published.push(message);
        seen.calls.push('publish');
        return Promise.resolve();
      },
      removeParked: (endpointId, ids) => {
        seen.removed.push({ endpointId, ids: [...ids].sort() });
        seen.calls.push('remove');
        return Promise.resolve(parkedIds.filter((id) => ids.has(id)).length);
      },
    },
  };
}

const request = (extra: Partial<ReplayRequest> = {}): ReplayRequest => ({
  since,
  all: false,
  enable: false,
  dryRun: false,
  ...extra,
});

describe('replayTarget', () => {
  const store = (found: WebhookEndpointRecord | undefined) => ({ endpointById: () => Promise.resolve(found) });

  test('when the endpoint is unknown, then the replay is refused with exit 1', async () => {
    await expect(replayTarget(store(undefined), 'nope', {})).rejects.toMatchObject({
      message: 'no webhook endpoint nope',
      exitCode: 1,
    });
  });

  test('when the endpoint is disabled and --enable is not given, then it is refused with exit 1, saying why and how', async () => {
    const refusal = replayTarget(store(disabled), disabled.id, { enable: false });
    await expect(refusal).rejects.toBeInstanceOf(CliError);
    await expect(refusal).rejects.toMatchObject({ exitCode: 1 });
    await expect(refusal).rejects.toThrow(/is disabled \(failing since 2026-12-07T00:00:00.000Z\).*--enable/);
  });

  test('when the endpoint is disabled and --enable is given, then it is the target', async () => {
    await expect(replayTarget(store(disabled), disabled.id, { enable: true })).resolves.toEqual({
      endpoint: disabled,
      types: undefined,
    });
  });

  test('when --event names a type the endpoint does not take, then it is refused with exit 2', async () => {
    const picky = { ...endpoint, eventTypes: ['email.bounced', 'email.complained'] as LifecycleEventType[] };
    await expect(replayTarget(store(picky), picky.id, { events: ['email.delivered'] })).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringContaining('does not take email.delivered (it takes email.bounced, email.complained)'),
    });
  });

  test("when no --event is given, then the endpoint's own types are replayed; when one is, only it", async () => {
    const picky = { ...endpoint, eventTypes: ['email.bounced', 'email.complained'] as LifecycleEventType[] };
    expect((await replayTarget(store(picky), picky.id, {})).types).toEqual(['email.bounced', 'email.complained']);
    expect((await replayTarget(store(picky), picky.id, { events: ['email.bounced'] })).types).toEqual([
      'email.bounced',
    ]);
    expect((await replayTarget(store(endpoint), endpoint.id, { events: ['email.sent'] })).types).toEqual([
      'email.sent',
    ]);
  });
});

describe('replayEvents', () => {
  const events = [event(1), event(2), event(3), event(4), event(5)];
  const id = (n: number) => events[n - 1]?.id ?? '';
  // 1 never tried, 2 parked, 3 skipped, 4 retrying, 5 succeeded.
  const outcomes = { [id(2)]: 'parked', [id(3)]: 'skipped', [id(4)]: 'retrying', [id(5)]: 'succeeded' } as const;

  test('when no option is given, then every event whose delivery did not succeed is published once as try 1, replayed, with its delivery id, and its parked copies removed after', async () => {
    const { ports: p, seen } = ports(events, outcomes, Number.POSITIVE_INFINITY, [deliveryIdOf(id(2), endpoint.id)]);
    const result = await replayEvents(p, { endpoint, types: undefined }, request());
    expect(seen.published).toEqual(
      [1, 2, 3, 4].map((n) => ({
        delivery_id: deliveryIdOf(id(n), endpoint.id),
        endpoint_id: endpoint.id,
        client: 'billing',
        try: 1,
        first_try_at: now.toISOString(),
        replayed: true,
        event: events[n - 1],
      })),
    );
    expect(seen.removed).toEqual([
      { endpointId: endpoint.id, ids: [1, 2, 3, 4].map((n) => deliveryIdOf(id(n), endpoint.id)).sort() },
    ]);
    expect(seen.calls.at(-1)).toBe('remove');
    expect(seen.updates).toEqual([]);
    expect(result).toMatchObject({
      read: 5,
      replayed: 4,
      left_out_succeeded: 1,
      previous_outcomes: { none: 1, parked: 1, skipped: 1, retrying: 1, succeeded: 0 },
      parked_copies_removed: 1,
      enabled: false,
      dry_run: false,
      since_before_outbox: false,
      outbox_oldest_at: events[0]?.timestamp,
    });
    expect(result.events.map((e) => e.event_id)).toEqual([1, 2, 3, 4].map(id));
    expect(replaySummary(result)).toBe(
      `sent 4 event(s) again to ${endpoint.id} (client billing) of 5 read from the outbox since ${since.toISOString()} ` +
        '(1 never tried, 1 skipped, 1 parked, 1 retrying)\n' +
        'left out 1 already delivered (--all sends them too)\n' +
        'removed 1 parked copies from the webhooks dead queue\n',
    );
  });

  test('when --all is given, then the succeeded one is sent again too', async () => {
    const { ports: p, seen } = ports(events, outcomes);
    const result = await replayEvents(p, { endpoint, types: undefined }, request({ all: true }));
    expect(seen.published.map((m) => m.event.id)).toEqual(events.map((e) => e.id));
    expect(result).toMatchObject({ replayed: 5, left_out_succeeded: 0 });
    expect(result.previous_outcomes.succeeded).toBe(1);
  });

  test('when --dry-run is given, then nothing is published, enabled or removed, and the events it would send are listed', async () => {
    const { ports: p, seen } = ports(events, outcomes);
    const result = await replayEvents(
      p,
      { endpoint: disabled, types: undefined },
      request({ dryRun: true, enable: true }),
    );
    expect(seen.calls).toEqual([]);
    expect(result).toMatchObject({ dry_run: true, replayed: 4, parked_copies_removed: null, enabled: true });
    expect(result.events.map((e) => [e.event_id, e.previous])).toEqual([
      [id(1), 'none'],
      [id(2), 'parked'],
      [id(3), 'skipped'],
      [id(4), 'retrying'],
    ]);
    expect(replaySummary(result)).toMatch(/^would enable webhook endpoint \S+\nwould send 4 event\(s\) again/);
  });

  test('when the endpoint is disabled (and --enable was given), then it is enabled before the first publish', async () => {
    const { ports: p, seen } = ports(events, outcomes);
    const result = await replayEvents(p, { endpoint: disabled, types: undefined }, request({ enable: true }));
    expect(seen.updates).toEqual([{ client: 'billing', id: disabled.id, enabled: true }]);
    expect(seen.calls[0]).toBe('update');
    expect(result.enabled).toBe(true);
  });

  test('when types are given, then only events of those types are read and sent', async () => {
    const mixed = [event(1, 'email.bounced'), event(2, 'email.delivered'), event(3, 'email.bounced')];
    const { ports: p, seen } = ports(mixed);
    const result = await replayEvents(p, { endpoint, types: ['email.bounced'] }, request());
    expect(seen.outboxTypes.at(-1)).toEqual(['email.bounced']);
    expect(seen.published.map((m) => m.event.id)).toEqual([mixed[0]?.id, mixed[2]?.id]);
    expect(result.event_types).toEqual(['email.bounced']);
  });

  test('when more events than a page are waiting, then all are sent, in the outbox order', async () => {
    const many = Array.from({ length: OUTBOX_PAGE * 2 + 7 }, (_, n) => event(n + 1, 'email.delivered', 1));
    const { ports: p, seen } = ports(many);
    const result = await replayEvents(p, { endpoint, types: undefined }, request());
    expect(new Set(seen.published.map((m) => m.delivery_id)).size).toBe(many.length);
    expect(result.events.map((e) => e.event_id)).toEqual(many.map((e) => e.id));
  });

  test('when a publish fails, then the replay stops with exit 1 and the parked copies of what was confirmed are still removed', async () => {
    const { ports: p, seen } = ports(events, {}, 2);
    const stopped = replayEvents(p, { endpoint, types: undefined }, request());
    await expect(stopped).rejects.toMatchObject({ exitCode: 1 });
    await expect(stopped).rejects.toThrow(/^stopped: the broker did not confirm in time; 2 event\(s\) were sent again/);
    expect(seen.removed).toEqual([{ endpointId: endpoint.id, ids: seen.published.map((m) => m.delivery_id).sort() }]);
  });

  test('when --since is before the oldest event of the client in the outbox, then the result and the summary say older ones were pruned', async () => {
    const { ports: p } = ports([event(30), event(31)]);
    const result = await replayEvents(p, { endpoint, types: undefined }, request());
    expect(result).toMatchObject({ since_before_outbox: true, outbox_oldest_at: event(30).timestamp });
    expect(replaySummary(result)).toContain(
      `note: the oldest event of client billing still in the outbox is from ${event(30).timestamp}: ` +
        'older ones were pruned (EVENTS_RETENTION) or never happened, and cannot be replayed',
    );
  });

  test('when nothing is to be sent, then the dead queue is not read', async () => {
    const { ports: p, seen } = ports(events.slice(4), outcomes);
    const result = await replayEvents(p, { endpoint, types: undefined }, request());
    expect(seen.calls).toEqual([]);
    expect(result).toMatchObject({ replayed: 0, parked_copies_removed: 0 });
  });
});

describe('replayEvents, events from before the endpoint', () => {
  test('when an event happened before the endpoint was registered and was never delivered to it, then it is left out, even with --all; one that was delivered is not', async () => {
    const late = { ...endpoint, createdAt: new Date(since.getTime() + 90_000) };
    const events = [event(1), event(2), event(3), event(4)];
    const { ports: p, seen } = ports(events, { [events[1]?.id ?? '']: 'parked' });
    const result = await replayEvents(p, { endpoint: late, types: undefined }, request({ all: true }));
    expect(seen.published.map((m) => m.event.id)).toEqual([events[1]?.id, events[2]?.id, events[3]?.id]);
    expect(result).toMatchObject({ replayed: 3, left_out_before_endpoint: 1 });
    expect(replaySummary(result)).toContain('left out 1 from before the endpoint was registered\n');
  });
});

describe('parkedDeliveryOf', () => {
  test('when the body is a delivery message, then its delivery and endpoint ids are read', () => {
    const body = Buffer.from(JSON.stringify({ delivery_id: 'd', endpoint_id: 'e', try: 8, event: {} }));
    expect(parkedDeliveryOf(body)).toEqual({ deliveryId: 'd', endpointId: 'e' });
  });

  test.each([
    ['not json'],
    ['null'],
    ['{"id":"an event","type":"email.sent"}'],
    ['{"delivery_id":1,"endpoint_id":"e"}'],
  ])('when the body is %s, then it is no delivery', (text) => {
    expect(parkedDeliveryOf(Buffer.from(text))).toBeUndefined();
  });
});
