import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { connect, type ConsumeMessage } from 'amqplib';
import {
  DeliveryHeaders,
  EMAIL_MESSAGE_TYPE,
  WORK_ROUTING_KEY,
  encodeEnvelope,
  type EmailEnvelope,
  type Topology,
} from '@mailer/contract';

const run = promisify(execFile);

/** The broker the tests use: the local one unless AMQP_URL says otherwise. */
export const AMQP_URL = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

/** A prefix no other test run uses, so runs never share a queue. */
export function uniquePrefix(label: string): string {
  return `test.${label}.${Date.now().toString(36)}.${randomBytes(3).toString('hex')}`;
}

/** Messages ready in a queue, by passive declare (management API counts lag for quorum queues). */
export async function queueDepth(queue: string): Promise<number> {
  const model = await connect(AMQP_URL);
  try {
    const channel = await model.createChannel();
    const { messageCount } = await channel.checkQueue(queue);
    return messageCount;
  } finally {
    await model.close();
  }
}

/**
 * Waits for `count` messages on a queue and takes them (acking each). Closes the channel before
 * the connection: closing the connection straight after an ack can lose the ack on a quorum
 * queue (seen on RabbitMQ 3.10), which would requeue the message.
 */
export async function takeMessages(queue: string, count: number, timeoutMs = 30_000): Promise<ConsumeMessage[]> {
  const model = await connect(AMQP_URL);
  try {
    const channel = await model.createChannel();
    const messages: ConsumeMessage[] = [];
    if (count > 0) {
      await channel.prefetch(500);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`got ${messages.length} of ${count} messages on ${queue}`)),
          timeoutMs,
        );
        void channel.consume(queue, (message) => {
          if (message === null) return;
          messages.push(message);
          channel.ack(message);
          if (messages.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    }
    await channel.close();
    return messages;
  } finally {
    await model.close();
  }
}

/** Takes every message off a queue: `expected` of them, or as many as a passive declare counts. */
export async function drainQueue(queue: string, expected?: number): Promise<ConsumeMessage[]> {
  return takeMessages(queue, expected ?? (await queueDepth(queue)));
}

/** Deletes every queue and exchange of a test topology. */
export async function deleteTopology(topology: Topology): Promise<void> {
  const model = await connect(AMQP_URL);
  try {
    const channel = await model.createChannel();
    for (const queue of [...topology.queues, topology.webhookEventsQueue]) await channel.deleteQueue(queue.name);
    for (const exchange of topology.exchanges) await channel.deleteExchange(exchange.name);
  } finally {
    await model.close();
  }
}

/** rabbitmqctl for the local broker; the /usr/sbin wrapper runs it as the broker's user. */
const rabbitmqctl = process.env['RABBITMQCTL'] ?? '/usr/sbin/rabbitmqctl';

/** Management API base (e.g. http://guest:guest@127.0.0.1:15672) where rabbitmqctl is not at hand. */
const managementUrl = process.env['RABBITMQ_MANAGEMENT_URL'];

async function closeThroughManagementApi(base: string, nameFragment: string): Promise<number> {
  const url = new URL(base);
  const auth = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  const origin = `${url.protocol}//${url.host}`;
  const response = await fetch(`${origin}/api/connections`, { headers: { authorization: auth } });
  const rows = (await response.json()) as { name: string; client_properties?: { connection_name?: string } }[];
  const names = rows
    .filter((row) => row.client_properties?.connection_name?.includes(nameFragment) === true)
    .map((row) => row.name);
  for (const name of names) {
    await fetch(`${origin}/api/connections/${encodeURIComponent(name)}`, {
      method: 'DELETE',
      headers: { authorization: auth, 'x-reason': 'closed by test' },
    });
  }
  return names.length;
}

async function closeThroughRabbitmqctl(nameFragment: string): Promise<number> {
  const { stdout } = await run(rabbitmqctl, [
    'list_connections',
    'pid',
    'client_properties',
    '-q',
    '--no-table-headers',
  ]);
  // One line per connection: "<pid>\t[{...client properties...}]".
  const pids = stdout
    .split('\n')
    .filter((line) => line.includes(`"${nameFragment}"`))
    .map((line) => line.split('\t')[0] ?? '');
  for (const pid of pids) {
    await run(rabbitmqctl, ['close_connection', pid, 'closed by test']);
  }
  return pids.length;
}

/**
 * Closes, on the broker's side, every connection whose client-provided name contains `nameFragment`,
 * as an operator would (management API, or `rabbitmqctl close_connection`). Only this test's
 * connections are hit, so tests running beside it are untouched. Returns how many were closed.
 */
export function closeConnectionsNamed(nameFragment: string): Promise<number> {
  return managementUrl === undefined
    ? closeThroughRabbitmqctl(nameFragment)
    : closeThroughManagementApi(managementUrl, nameFragment);
}

/**
 * Consumes a queue (acking) until every id in `ids` has been seen as a `messageId`, or the
 * deadline passes. Returns every message id seen, including any not in `ids`.
 */
export async function consumeUntilSeen(
  queue: string,
  ids: ReadonlySet<string>,
  timeoutMs = 30_000,
): Promise<Set<string>> {
  const model = await connect(AMQP_URL);
  const seen = new Set<string>();
  try {
    const channel = await model.createChannel();
    await channel.prefetch(500);
    const missing = new Set(ids);
    if (missing.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        void channel.consume(queue, (message) => {
          if (message === null) return;
          const id = String(message.properties.messageId);
          seen.add(id);
          missing.delete(id);
          channel.ack(message);
          if (missing.size === 0) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    }
    await channel.close();
    return seen;
  } finally {
    await model.close();
  }
}

/** A message as the consumer parks it: an id, a body and the history headers operators read. */
export interface ParkedFixture {
  readonly id: string;
  readonly reason: string;
  readonly kind: string;
  /** `x-mailer-providers-tried`: comma-separated, in order. */
  readonly tried: string;
  readonly parkedAt: Date;
  readonly attempts?: number;
  readonly body?: Buffer;
  /** More headers (e.g. `x-mailer-replayed-at`). */
  readonly headers?: Readonly<Record<string, unknown>>;
}

/**
 * Six parked emails, oldest first: three parked while every provider was down, two rejected, one
 * invalid. `tag` names each; a test makes its id from it.
 */
export const MIXED_PARKED: readonly (Pick<ParkedFixture, 'reason' | 'kind' | 'tried'> & { readonly tag: string })[] = [
  { tag: 'down-1', reason: 'max-attempts', kind: 'provider-unavailable', tried: 'smtp' },
  { tag: 'reject-1', reason: 'recipient-rejected', kind: 'recipient-rejected', tried: 'smtp' },
  { tag: 'down-2', reason: 'max-attempts', kind: 'provider-unavailable', tried: 'ses,smtp' },
  { tag: 'invalid-1', reason: 'invalid', kind: 'invalid', tried: '' },
  { tag: 'down-3', reason: 'max-age', kind: 'transient', tried: 'ses' },
  { tag: 'reject-2', reason: 'recipient-rejected', kind: 'recipient-rejected', tried: 'ses' },
];

/** Publishes parked messages to the topology's dead-letter exchange, in order, and waits for the confirms. */
export async function publishParked(topology: Topology, messages: readonly ParkedFixture[]): Promise<void> {
  const model = await connect(AMQP_URL);
  try {
    const channel = await model.createConfirmChannel();
    for (const message of messages) {
      channel.publish(topology.deadExchange.name, '', message.body ?? Buffer.from('{}'), {
        persistent: true,
        messageId: message.id,
        headers: {
          [DeliveryHeaders.parkedReason]: message.reason,
          [DeliveryHeaders.lastFailureKind]: message.kind,
          [DeliveryHeaders.providersTried]: message.tried,
          [DeliveryHeaders.attempts]: message.attempts ?? 3,
          [DeliveryHeaders.lastAttemptAt]: message.parkedAt.toISOString(),
          ...message.headers,
        },
      });
    }
    await channel.waitForConfirms();
    await channel.close();
  } finally {
    await model.close();
  }
}

/**
 * Publishes envelopes to the topology's work exchange with the properties the producer gives them
 * (the id as `messageId`), and waits for the confirms: for a test that needs a consumer to receive
 * an email the producer would not publish now, such as a second copy of one already queued.
 */
export async function publishEnvelopes(topology: Topology, envelopes: readonly EmailEnvelope[]): Promise<void> {
  const model = await connect(AMQP_URL);
  try {
    const channel = await model.createConfirmChannel();
    for (const envelope of envelopes) {
      channel.publish(topology.workExchange.name, WORK_ROUTING_KEY, encodeEnvelope(envelope), {
        persistent: true,
        messageId: envelope.id,
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        type: EMAIL_MESSAGE_TYPE,
      });
    }
    await channel.waitForConfirms();
    await channel.close();
  } finally {
    await model.close();
  }
}
