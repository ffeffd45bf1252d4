import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The management API the tests read, e.g. http://guest:guest@127.0.0.1:15672. */
const base = new URL(process.env['RABBITMQ_MANAGEMENT_URL'] ?? 'http://guest:guest@127.0.0.1:15672');
const origin = `${base.protocol}//${base.host}`;
const authorization = `Basic ${Buffer.from(`${decodeURIComponent(base.username)}:${decodeURIComponent(base.password)}`).toString('base64')}`;

async function reachable(): Promise<boolean> {
  try {
    return (await fetch(`${origin}/api/overview`, { headers: { authorization } })).ok;
  } catch {
    return false;
  }
}

/**
 * Makes sure the management API answers: on the local broker it enables the plugin when it is
 * off (as an operator would, `rabbitmq-plugins enable rabbitmq_management`) and waits for the
 * listener, up to 30 s.
 */
export async function ensureManagementApi(): Promise<void> {
  if (await reachable()) return;
  if (process.env['RABBITMQ_MANAGEMENT_URL'] === undefined) {
    await run(process.env['RABBITMQ_PLUGINS'] ?? '/usr/sbin/rabbitmq-plugins', ['enable', 'rabbitmq_management']);
  }
  const deadline = Date.now() + 30_000;
  while (!(await reachable())) {
    if (Date.now() > deadline) throw new Error(`the RabbitMQ management API at ${origin} does not answer`);
    await sleep(250);
  }
}

/** A message as the management UI's "Get messages" shows it. */
export interface ManagementMessage {
  readonly payload: string;
  readonly properties: { readonly message_id?: string; readonly headers?: Record<string, unknown> };
}

/**
 * Reads up to `count` messages of a queue as an operator does in the management UI ("Get
 * messages", requeue on). On a quorum queue that counts as a delivery, so use it on queues without
 * a delivery limit, such as the dead-letter queue.
 */
export async function getMessages(queue: string, count: number): Promise<ManagementMessage[]> {
  const response = await fetch(`${origin}/api/queues/%2F/${encodeURIComponent(queue)}/get`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify({ count, ackmode: 'ack_requeue_true', encoding: 'auto', truncate: 50_000 }),
  });
  if (!response.ok) throw new Error(`management API: ${response.status} ${await response.text()}`);
  return (await response.json()) as ManagementMessage[];
}
