import type { Command } from 'commander';
import type { Channel, GetMessage } from 'amqplib';
import { sharedKeys } from '@mailer/config';
import {
  LIFECYCLE_EVENT_TYPES,
  MAX_WEBHOOK_PAGE_LIMIT,
  WEBHOOK_DELIVERY_ROUTING_KEY,
  WEBHOOK_TEST_EVENT_TYPE,
  type LifecycleEventType,
  type OutboxStore,
  type WebhookDeliveryOutcome,
  type WebhookDeliveryRecord,
  type WebhookEndpointRecord,
  type WebhookStore,
} from '@mailer/contract';
import { Outbox, Webhooks, createPool, ledgerKeys } from '@mailer/ledger';
import { CliError, EXIT, configFrom, type Io } from '../io';
import { withBroker } from './broker-session';
import { count, listOf } from './dead-letters-options';
import {
  DELIVERY_HEADER,
  DELIVERY_OUTCOMES,
  ENDPOINT_HEADER,
  deliveryJson,
  deliveryRow,
  endpointJson,
  endpointRow,
  since,
} from './webhooks-options';
import { columns } from './table';
import {
  REPLAY_INFLIGHT,
  parkedDeliveryOf,
  replayEvents,
  replaySummary,
  replayTarget,
  replayedRows,
  type ReplayPorts,
  type ReplayRequest,
  type ReplayResult,
} from './webhooks-replay';

const ledgerAccess = {
  ledger: ledgerKeys.ledger,
  databaseUrl: ledgerKeys.databaseUrl,
  webhookSecretsKey: sharedKeys.webhookSecretsKey,
};
const replayKeys = {
  ...ledgerAccess,
  amqpUrl: sharedKeys.amqpUrl,
  amqpPrefix: sharedKeys.amqpPrefix,
  retryDelaysMs: sharedKeys.retryDelaysMs,
  webhookRetryDelaysMs: sharedKeys.webhookRetryDelaysMs,
  deliveryLimit: sharedKeys.deliveryLimit,
};

const environment = `
Reads LEDGER, DATABASE_URL and WEBHOOK_SECRETS_KEY from the environment, as the services do (the
key opens the webhook store; no secret is ever printed). Endpoint URLs are printed with any user,
password and query values as ***.`;

/** The ledger's webhook and outbox stores, opened for one command and closed after it. */
interface Stores {
  readonly webhooks: WebhookStore;
  readonly outbox: OutboxStore;
}

async function withStores<T>(
  config: { readonly ledger: 'on' | 'off'; readonly databaseUrl: string; readonly webhookSecretsKey: string },
  work: (stores: Stores) => Promise<T>,
): Promise<T> {
  if (config.ledger === 'off') throw new CliError('LEDGER=off: webhooks are kept in the ledger', EXIT.usage);
  if (config.webhookSecretsKey === '') {
    throw new CliError('WEBHOOK_SECRETS_KEY is empty: webhooks are off (set it as the services have it)', EXIT.usage);
  }
  const pool = createPool({ url: config.databaseUrl, max: 2 });
  try {
    return await work({ webhooks: new Webhooks(pool, config.webhookSecretsKey), outbox: new Outbox(pool) });
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`the ledger could not be read or written: ${(error as Error).message}`);
  } finally {
    await pool.end();
  }
}

/** Every page of a store list, in order. */
async function allPages<T>(
  read: (cursor: string | undefined) => Promise<{ readonly items: readonly T[]; readonly next: string | null }>,
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await read(cursor);
    items.push(...page.items);
    cursor = page.next ?? undefined;
  } while (cursor !== undefined);
  return items;
}

/** `list`: every endpoint, or one client's. */
async function listEndpoints(io: Io, options: { client?: string; json?: boolean }): Promise<void> {
  const config = configFrom(ledgerAccess, io);
  const endpoints = await withStores(config, ({ webhooks }) =>
    allPages<WebhookEndpointRecord>((cursor) => {
      const page = { limit: MAX_WEBHOOK_PAGE_LIMIT, ...(cursor === undefined ? {} : { cursor }) };
      return options.client === undefined
        ? webhooks.listAllEndpoints(page)
        : webhooks.listEndpoints(options.client, page);
    }),
  );
  if (options.json === true) {
    io.out(`${JSON.stringify(endpoints.map(endpointJson))}\n`);
    return;
  }
  const disabled = endpoints.filter((endpoint) => endpoint.disabledAt !== null).length;
  io.out(
    (endpoints.length === 0 ? '' : `${columns([[...ENDPOINT_HEADER], ...endpoints.map(endpointRow)])}\n`) +
      `${endpoints.length} endpoint(s)${disabled === 0 ? '' : `, ${disabled} disabled`}\n`,
  );
}

interface DeliveriesOptions {
  since?: Date;
  event?: string[];
  outcome?: WebhookDeliveryOutcome[];
  limit: number;
  json?: boolean;
}

/** `deliveries ID`: the endpoint's deliveries, newest first, up to `--limit`. */
async function listDeliveries(io: Io, id: string, options: DeliveriesOptions): Promise<void> {
  const config = configFrom(ledgerAccess, io);
  const { endpoint, deliveries, more } = await withStores(config, async ({ webhooks }) => {
    const found = await webhooks.endpointById(id);
    if (found === undefined) throw new CliError(`no webhook endpoint ${id}`);
    const items: WebhookDeliveryRecord[] = [];
    let cursor: string | undefined;
    let next: string | null = null;
    do {
      const page = await webhooks.listDeliveries(id, {
        limit: Math.min(MAX_WEBHOOK_PAGE_LIMIT, options.limit - items.length),
        ...(cursor === undefined ? {} : { cursor }),
        ...(options.since === undefined ? {} : { since: options.since }),
        ...(options.event === undefined ? {} : { eventTypes: options.event }),
        ...(options.outcome === undefined ? {} : { outcomes: options.outcome }),
      });
      items.push(...page.items);
      next = page.next;
      cursor = next ?? undefined;
    } while (cursor !== undefined && items.length < options.limit);
    return { endpoint: found, deliveries: items, more: next !== null };
  });
  if (options.json === true) {
    io.out(`${JSON.stringify(deliveries.map(deliveryJson))}\n`);
  } else {
    io.out(
      (deliveries.length === 0 ? '' : `${columns([[...DELIVERY_HEADER], ...deliveries.map(deliveryRow)])}\n`) +
        `${deliveries.length} deliver${deliveries.length === 1 ? 'y' : 'ies'} of ${endpoint.id} (client ${endpoint.client})` +
        `${more ? `; more match (--limit ${options.limit})` : ''}\n`,
    );
  }
  // A script reading the JSON learns of the cut on stderr.
  if (more && options.json === true) io.err(`mailer: more deliveries match than --limit ${options.limit}\n`);
}

/**
 * Acks the parked copies of `deliveryIds` (to `endpointId`) in the webhooks dead queue and gives
 * every other message back, in its order, as the dead-letter engine does: one pass holding what
 * it gets unacked until the queue has nothing ready. Run after the replayed copies are confirmed,
 * so a delivery is never in neither queue.
 */
async function removeParkedCopies(
  channel: Channel,
  queue: string,
  endpointId: string,
  deliveryIds: ReadonlySet<string>,
): Promise<number> {
  const held: Pick<GetMessage, 'fields'>[] = [];
  let removed = 0;
  try {
    for (;;) {
      const got = await channel.get(queue, { noAck: false });
      if (got === false) break;
      const parked = parkedDeliveryOf(got.content);
      if (parked !== undefined && parked.endpointId === endpointId && deliveryIds.has(parked.deliveryId)) {
        channel.ack(got);
        removed += 1;
      } else {
        held.push({ fields: got.fields });
      }
    }
  } finally {
    try {
      for (const message of held) channel.nack(message as GetMessage, false, true);
    } catch {
      // The channel closed (the broker went): the broker gives back whatever it held unacked.
    }
  }
  return removed;
}

interface ReplayOptions {
  since: Date;
  event?: LifecycleEventType[];
  all?: boolean;
  enable?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

/** Progress on stderr when a person watches: events sent so far of those read. */
function progress(io: Io, verb: string) {
  let drawn = false;
  return {
    step: ({ read, replayed }: { read: number; replayed: number }) => {
      if (io.interactive !== true) return;
      io.err(`\r${replayed} ${verb}, ${read} read from the outbox`);
      drawn = true;
    },
    end: () => {
      if (drawn) io.err('\n');
      drawn = false;
    },
  };
}

/** `replay ID --since TIME`: the endpoint's events sent again from the outbox. */
async function replay(io: Io, id: string, options: ReplayOptions): Promise<void> {
  const config = configFrom(replayKeys, io);
  const request: ReplayRequest = {
    since: options.since,
    ...(options.event === undefined ? {} : { events: options.event }),
    all: options.all === true,
    enable: options.enable === true,
    dryRun: options.dryRun === true,
  };
  const bar = progress(io, request.dryRun ? 'to send' : 'sent again');
  let result: ReplayResult;
  try {
    result = await withStores(config, async ({ webhooks, outbox }) => {
      const target = await replayTarget(webhooks, id, request);
      const stores = { webhooks, outbox, now: () => new Date() };
      if (request.dryRun) {
        const refuse = () => Promise.reject(new Error('a dry run sends nothing'));
        return replayEvents({ ...stores, publish: refuse, removeParked: refuse }, target, request, bar.step);
      }
      return withBroker(
        io,
        config,
        ({ channel, publisher, topology }) => {
          const ports: ReplayPorts = {
            ...stores,
            publish: (message) =>
              publisher.publish({
                exchange: topology.webhooksExchange.name,
                routingKey: WEBHOOK_DELIVERY_ROUTING_KEY,
                body: Buffer.from(JSON.stringify(message)),
                messageId: message.delivery_id,
                properties: { contentType: 'application/json', type: message.event.type },
              }),
            removeParked: (endpointId, ids) =>
              removeParkedCopies(channel, topology.webhooksDeadQueue.name, endpointId, ids),
          };
          return replayEvents(ports, target, request, bar.step);
        },
        REPLAY_INFLIGHT,
      );
    });
  } finally {
    bar.end();
  }
  if (options.json === true) {
    io.out(`${JSON.stringify(result)}\n`);
    return;
  }
  const table = request.dryRun && result.events.length > 0 ? `${columns(replayedRows(result.events))}\n` : '';
  io.out(`${table}${replaySummary(result)}`);
}

/** `mailer webhooks list|deliveries|replay`. */
export function webhooksCommand(program: Command, io: Io): void {
  const group = program
    .command('webhooks')
    .description("read callers' webhook endpoints and their deliveries, and send events to an endpoint again");

  group
    .command('list')
    .description("print every endpoint (or one client's): URL, types, status and since when, failing since")
    .option('--client <name>', 'only the endpoints of this API key name')
    .option('--json', 'print a JSON array, one object per endpoint')
    .addHelpText(
      'after',
      `${environment}

Examples:
  pnpm mailer webhooks list
  pnpm mailer webhooks list --client billing --json`,
    )
    .action((options: { client?: string; json?: boolean }) => listEndpoints(io, options));

  group
    .command('deliveries')
    .description("print an endpoint's deliveries, newest first: tries, outcome, last status and error")
    .argument('<id>', 'the endpoint id')
    .option(
      '--since <time>',
      'only deliveries since then: ISO 8601 with its zone, or how long ago (90m, 48h, 3d)',
      since,
    )
    .option(
      '--event <types>',
      'only these event types (comma-separated; may repeat)',
      listOf([...LIFECYCLE_EVENT_TYPES, WEBHOOK_TEST_EVENT_TYPE]),
    )
    .option('--outcome <list>', `only these outcomes: ${DELIVERY_OUTCOMES.join(', ')}`, listOf(DELIVERY_OUTCOMES))
    .option('--limit <n>', 'at most this many (default 100)', count, 100)
    .option('--json', 'print a JSON array, one object per delivery')
    .addHelpText(
      'after',
      `${environment}

Examples:
  pnpm mailer webhooks deliveries 0193a4f0-1111-7222-8333-944455556666 --outcome parked
  pnpm mailer webhooks deliveries 0193a4f0-1111-7222-8333-944455556666 --since 2h --event email.bounced --json`,
    )
    .action((id: string, options: DeliveriesOptions) => listDeliveries(io, id, options));

  group
    .command('replay')
    .description("send an endpoint's events since a time again, from the ledger's outbox")
    .argument('<id>', 'the endpoint id')
    .requiredOption(
      '--since <time>',
      'events since then: ISO 8601 with its zone, or how long ago (90m, 48h, 3d)',
      since,
    )
    .option('--event <types>', 'only these event types (comma-separated; may repeat)', listOf(LIFECYCLE_EVENT_TYPES))
    .option('--all', 'also events whose delivery succeeded (a receiver that lost its data)')
    .option('--enable', 'enable a disabled endpoint first (without it a disabled endpoint is refused)')
    .option('--dry-run', 'list what would be sent; send, enable and remove nothing')
    .option('--json', 'print the result as one JSON object')
    .addHelpText(
      'after',
      `
Reads LEDGER, DATABASE_URL, WEBHOOK_SECRETS_KEY, AMQP_URL, AMQP_PREFIX, RETRY_DELAYS,
WEBHOOK_RETRY_DELAYS and DELIVERY_LIMIT from the environment, as the services do.

Reads the client's events of the endpoint's types (and --event) from the outbox, oldest first, and
sends each again as a new delivery (try 1, the same delivery id and webhook-id as before, so a
receiver can drop a repeat): by default only those whose delivery did not succeed (never tried,
skipped, parked or still retrying). Each is confirmed by the broker; then their parked copies are
removed from the webhooks dead queue. Events older than the outbox keeps (EVENTS_RETENTION) are
gone: the output says so when --since is before the oldest one left.

Examples:
  pnpm mailer webhooks replay 0193a4f0-1111-7222-8333-944455556666 --since 2d --dry-run
  pnpm mailer webhooks replay 0193a4f0-1111-7222-8333-944455556666 --since 2026-12-07T10:00Z --enable
  pnpm mailer webhooks replay 0193a4f0-1111-7222-8333-944455556666 --since 6h --event email.bounced --all`,
    )
    .action((id: string, options: ReplayOptions) => replay(io, id, options));
}
