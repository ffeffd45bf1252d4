import {
  deliveryIdOf,
  type LifecycleEvent,
  type LifecycleEventType,
  type OutboxStore,
  type WebhookDeliveryMessage,
  type WebhookDeliveryOutcome,
  type WebhookEndpointRecord,
  type WebhookStore,
} from '@mailer/contract';
import { CliError, EXIT } from '../io';

/**
 * `mailer webhooks replay`: an endpoint's events read again from the ledger's outbox and sent
 * to it once more, as fresh deliveries (docs/events.md, "Operating webhooks"). The stores and the
 * broker come in as ports, so the choice of what is sent is tested without either.
 */

/** What the command line asks for. */
export interface ReplayRequest {
  readonly since: Date;
  /** `--event`: only these types (each must be one the endpoint takes). */
  readonly events?: readonly LifecycleEventType[];
  /** `--all`: also events whose delivery succeeded. */
  readonly all: boolean;
  /** `--enable`: a disabled endpoint is enabled first, instead of refused. */
  readonly enable: boolean;
  readonly dryRun: boolean;
}

/** The endpoint and the types to replay (undefined: every type). */
export interface ReplayTarget {
  readonly endpoint: WebhookEndpointRecord;
  readonly types: readonly LifecycleEventType[] | undefined;
}

/**
 * The endpoint a replay is for, and its types; refused before anything is read or sent: an
 * unknown endpoint (exit 1), a disabled one without `--enable` (exit 1: its deliveries would be
 * skipped), an `--event` the endpoint does not take (exit 2).
 */
export async function replayTarget(
  webhooks: Pick<WebhookStore, 'endpointById'>,
  id: string,
  request: Partial<Pick<ReplayRequest, 'events' | 'enable'>>,
): Promise<ReplayTarget> {
  const endpoint = await webhooks.endpointById(id);
  if (endpoint === undefined) throw new CliError(`no webhook endpoint ${id}`);
  if (endpoint.disabledAt !== null && request.enable !== true) {
    throw new CliError(
      `webhook endpoint ${id} is disabled (${endpoint.disabledReason ?? 'unknown'} since ` +
        `${endpoint.disabledAt.toISOString()}): its deliveries would be skipped, so nothing was replayed. ` +
        'Give --enable to enable it and replay.',
    );
  }
  const takes = endpoint.eventTypes.length === 0 ? undefined : endpoint.eventTypes;
  if (request.events === undefined) return { endpoint, types: takes };
  const refused = takes === undefined ? [] : request.events.filter((type) => !takes.includes(type));
  if (refused.length > 0) {
    throw new CliError(
      `webhook endpoint ${id} does not take ${refused.join(', ')} (it takes ${takes?.join(', ') ?? 'every type'})`,
      EXIT.usage,
    );
  }
  return { endpoint, types: request.events };
}

/** What a delivery of an event to the endpoint had come to before the replay; `none`: no record. */
export type PreviousOutcome = WebhookDeliveryOutcome | 'none';

const PREVIOUS_OUTCOMES: readonly PreviousOutcome[] = ['none', 'skipped', 'parked', 'retrying', 'succeeded'];

/** One event sent again (or, with `--dry-run`, that would be). */
export interface ReplayedEvent {
  readonly delivery_id: string;
  readonly event_id: string;
  readonly event_type: LifecycleEventType;
  readonly email_id: string;
  readonly timestamp: string;
  readonly previous: PreviousOutcome;
}

/** What a replay did, as `--json` prints it. */
export interface ReplayResult {
  readonly endpoint_id: string;
  readonly client: string;
  readonly since: string;
  /** null: every type. */
  readonly event_types: readonly LifecycleEventType[] | null;
  readonly dry_run: boolean;
  /** The endpoint was disabled and this replay enabled it (with `--dry-run`: would). */
  readonly enabled: boolean;
  /** Events of the client read from the outbox (types and time applied). */
  readonly read: number;
  /** Events sent again (with `--dry-run`: that would be). */
  readonly replayed: number;
  /** The replayed ones by what their delivery had come to. */
  readonly previous_outcomes: Readonly<Record<PreviousOutcome, number>>;
  /** Events left out because their delivery succeeded (0 with `--all`). */
  readonly left_out_succeeded: number;
  /**
   * Events left out because they happened before the endpoint was registered and no delivery of
   * them to it was made: they were never meant for it.
   */
  readonly left_out_before_endpoint: number;
  /** Parked copies of replayed deliveries acked in the webhooks dead queue; null with `--dry-run`. */
  readonly parked_copies_removed: number | null;
  /** The oldest event of the client still in the outbox; null when it holds none. */
  readonly outbox_oldest_at: string | null;
  /** `--since` is before that (or there is none): older events, if any, were pruned and cannot be replayed. */
  readonly since_before_outbox: boolean;
  readonly events: readonly ReplayedEvent[];
}

/** What a replay reads from, writes to and sends through. */
export interface ReplayPorts {
  readonly webhooks: Pick<WebhookStore, 'listDeliveries' | 'updateEndpoint'>;
  readonly outbox: Pick<OutboxStore, 'eventsOf'>;
  /** Publishes one delivery to the webhooks exchange; resolves on the broker's confirm. Unused with `--dry-run`. */
  readonly publish: (message: WebhookDeliveryMessage) => Promise<void>;
  /**
   * Acks the parked copies, in the webhooks dead queue, of these deliveries to the endpoint (their
   * replayed copies are confirmed); gives the rest back. Resolves with how many it acked.
   */
  readonly removeParked: (endpointId: string, deliveryIds: ReadonlySet<string>) => Promise<number>;
  readonly now: () => Date;
}

export interface ReplayProgress {
  readonly read: number;
  readonly replayed: number;
}

/** Events read from the outbox per call, and delivery records per call (the store's page cap). */
export const OUTBOX_PAGE = 200;
export const DELIVERIES_PAGE = 100;
/** Publishes awaiting a confirm at once. */
export const REPLAY_INFLIGHT = 16;

/**
 * Delivery records are searched from this long before `--since`: a record is written after its
 * event, but by another host, whose clock may be a little behind the ledger's.
 */
const CLOCK_MARGIN_MS = 3_600_000;

/** Runs `work` on each item, at most `limit` at once; the first failure is thrown once all started have ended. */
async function eachInParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next] as T;
      next += 1;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure !== undefined) throw failure.error;
}

/** What each of the endpoint's deliveries since `since` had come to, by event id. */
async function previousOutcomes(
  webhooks: ReplayPorts['webhooks'],
  target: ReplayTarget,
  since: Date,
): Promise<Map<string, WebhookDeliveryOutcome>> {
  const outcomes = new Map<string, WebhookDeliveryOutcome>();
  let cursor: string | undefined;
  do {
    const page = await webhooks.listDeliveries(target.endpoint.id, {
      limit: DELIVERIES_PAGE,
      since: new Date(since.getTime() - CLOCK_MARGIN_MS),
      ...(target.types === undefined ? {} : { eventTypes: target.types }),
      ...(cursor === undefined ? {} : { cursor }),
    });
    for (const record of page.items) if (!outcomes.has(record.eventId)) outcomes.set(record.eventId, record.outcome);
    cursor = page.next ?? undefined;
  } while (cursor !== undefined);
  return outcomes;
}

/** The message that sends `event` to the endpoint again: try 1, its schedule from now, the original's delivery id. */
export function replayMessage(
  event: LifecycleEvent,
  endpoint: WebhookEndpointRecord,
  now: Date,
): WebhookDeliveryMessage {
  return {
    delivery_id: deliveryIdOf(event.id, endpoint.id),
    endpoint_id: endpoint.id,
    client: endpoint.client,
    try: 1,
    first_try_at: now.toISOString(),
    replayed: true,
    event,
  };
}

/**
 * Sends the endpoint's events since `request.since` again: read from the outbox (the client's,
 * of the target's types), by default only those whose delivery has not succeeded (no record, or
 * its last try skipped, parked or still retrying), never one from before the endpoint was
 * registered that was not delivered to it, each as a fresh delivery confirmed by the
 * broker; then the parked copies of those deliveries are removed from the dead queue. A disabled
 * endpoint is enabled first (the target checked `--enable`). With `--dry-run` nothing is changed
 * or sent. A publish that fails stops the replay with exit 1; the parked copies of what was
 * confirmed before it are still removed.
 */
export async function replayEvents(
  ports: ReplayPorts,
  target: ReplayTarget,
  request: ReplayRequest,
  onProgress: (progress: ReplayProgress) => void = () => undefined,
): Promise<ReplayResult> {
  const { endpoint } = target;
  const [oldest] = (await ports.outbox.eventsOf(endpoint.client, { since: new Date(0), limit: 1 })).events;
  const outcomes = await previousOutcomes(ports.webhooks, target, request.since);

  const enabled = endpoint.disabledAt !== null;
  if (enabled && !request.dryRun) {
    const updated = await ports.webhooks.updateEndpoint(endpoint.client, endpoint.id, { enabled: true });
    if (updated === undefined) throw new CliError(`webhook endpoint ${endpoint.id} was deleted meanwhile`);
  }

  const counts = Object.fromEntries(PREVIOUS_OUTCOMES.map((outcome) => [outcome, 0])) as Record<
    PreviousOutcome,
    number
  >;
  const events: ReplayedEvent[] = [];
  const confirmed = new Set<string>();
  let read = 0;
  let leftOut = 0;
  let beforeEndpoint = 0;
  const registered = endpoint.createdAt.getTime();
  let failure: { error: unknown } | undefined;
  try {
    let cursor: string | undefined;
    do {
      const page = await ports.outbox.eventsOf(endpoint.client, {
        since: request.since,
        limit: OUTBOX_PAGE,
        ...(target.types === undefined ? {} : { types: target.types }),
        ...(cursor === undefined ? {} : { cursor }),
      });
      read += page.events.length;
      const now = ports.now();
      const chosen = page.events.flatMap((event) => {
        const previous: PreviousOutcome = outcomes.get(event.id) ?? 'none';
        if (previous === 'succeeded' && !request.all) {
          leftOut += 1;
          return [];
        }
        if (previous === 'none' && Date.parse(event.timestamp) < registered) {
          beforeEndpoint += 1;
          return [];
        }
        return [{ event, previous, message: replayMessage(event, endpoint, now) }];
      });
      try {
        await eachInParallel(chosen, REPLAY_INFLIGHT, async ({ message }) => {
          if (!request.dryRun) await ports.publish(message);
          confirmed.add(message.delivery_id);
          onProgress({ read, replayed: confirmed.size });
        });
      } finally {
        // Listed in the outbox's order, whatever order the confirms came in.
        for (const { event, previous, message } of chosen) {
          if (!confirmed.has(message.delivery_id)) continue;
          counts[previous] += 1;
          events.push({
            delivery_id: message.delivery_id,
            event_id: event.id,
            event_type: event.type,
            email_id: event.data.email_id,
            timestamp: event.timestamp,
            previous,
          });
        }
      }
      onProgress({ read, replayed: confirmed.size });
      cursor = page.next ?? undefined;
    } while (cursor !== undefined);
  } catch (error) {
    failure = { error };
  }

  let removed: number | null = null;
  if (!request.dryRun && confirmed.size > 0) {
    try {
      removed = await ports.removeParked(endpoint.id, confirmed);
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure !== undefined) {
    const why = failure.error instanceof Error ? failure.error.message : String(failure.error);
    throw new CliError(
      `stopped: ${why}; ${confirmed.size} event(s) were sent again before it` +
        `${removed === null ? '' : ` and ${removed} parked copies removed`}. ` +
        'Run the same replay again to finish (what succeeded meanwhile is left out).',
    );
  }
  const oldestAt = oldest === undefined ? null : oldest.timestamp;
  return {
    endpoint_id: endpoint.id,
    client: endpoint.client,
    since: request.since.toISOString(),
    event_types: target.types ?? null,
    dry_run: request.dryRun,
    enabled,
    read,
    replayed: events.length,
    previous_outcomes: counts,
    left_out_succeeded: leftOut,
    left_out_before_endpoint: beforeEndpoint,
    parked_copies_removed: request.dryRun ? null : (removed ?? 0),
    outbox_oldest_at: oldestAt,
    since_before_outbox: oldestAt === null || request.since.getTime() < Date.parse(oldestAt),
    events,
  };
}

/** The summary for a person: what was sent again and why the rest was not. */
export function replaySummary(result: ReplayResult): string {
  const verb = result.dry_run ? 'would send' : 'sent';
  const previous = PREVIOUS_OUTCOMES.filter((outcome) => result.previous_outcomes[outcome] > 0)
    .map((outcome) => `${result.previous_outcomes[outcome]} ${outcome === 'none' ? 'never tried' : outcome}`)
    .join(', ');
  const lines = [
    ...(result.enabled
      ? [`${result.dry_run ? 'would enable' : 'enabled'} webhook endpoint ${result.endpoint_id}`]
      : []),
    `${verb} ${result.replayed} event(s) again to ${result.endpoint_id} (client ${result.client}) of ${result.read} ` +
      `read from the outbox since ${result.since}${previous === '' ? '' : ` (${previous})`}`,
    ...(result.left_out_succeeded > 0
      ? [`left out ${result.left_out_succeeded} already delivered (--all sends them too)`]
      : []),
    ...(result.left_out_before_endpoint > 0
      ? [`left out ${result.left_out_before_endpoint} from before the endpoint was registered`]
      : []),
    ...(result.parked_copies_removed === null
      ? []
      : [`removed ${result.parked_copies_removed} parked copies from the webhooks dead queue`]),
    ...(result.since_before_outbox
      ? [
          result.outbox_oldest_at === null
            ? `note: the outbox holds no event of client ${result.client}: events are pruned after ` +
              'EVENTS_RETENTION, and pruned ones cannot be replayed'
            : `note: the oldest event of client ${result.client} still in the outbox is from ` +
              `${result.outbox_oldest_at}: older ones were pruned (EVENTS_RETENTION) or never happened, and cannot be replayed`,
        ]
      : []),
  ];
  return `${lines.join('\n')}\n`;
}

/** The events a dry run would send, as a table's rows (header first). */
export function replayedRows(events: readonly ReplayedEvent[]): string[][] {
  return [
    ['DELIVERY', 'EVENT', 'TYPE', 'EMAIL', 'TIME', 'BEFORE'],
    ...events.map((event) => [
      event.delivery_id,
      event.event_id,
      event.event_type,
      event.email_id,
      event.timestamp,
      event.previous === 'none' ? 'never tried' : event.previous,
    ]),
  ];
}

/**
 * The delivery a message of the webhooks dead queue is a parked copy of, from its body; undefined
 * for anything else parked there (an event the fan-out could not handle, a body that is not JSON).
 */
export function parkedDeliveryOf(body: Buffer): { deliveryId: string; endpointId: string } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { delivery_id: deliveryId, endpoint_id: endpointId } = parsed as Record<string, unknown>;
  return typeof deliveryId === 'string' && typeof endpointId === 'string' ? { deliveryId, endpointId } : undefined;
}
