import type { LifecycleEvent, OutboxStore } from '@mailer/contract';
import { PublishError } from '@mailer/contract';
import { createLogger } from '@mailer/service';
import { EventsRelay } from './relay';

const logger = createLogger({ service: 'test', level: 'error', silent: true });

function event(n: number): LifecycleEvent {
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    type: 'email.queued',
    timestamp: new Date(0).toISOString(),
    sequence: n,
    data: {
      email_id: '00000000-0000-4000-8000-00000000aaaa',
      client: 'acme',
      state: 'queued',
      attempt: 0,
      recipients: ['j***@example.com'],
      provider: null,
      provider_message_id: null,
      tags: null,
      metadata: null,
    },
  };
}

/** An outbox in memory that behaves as the ledger's: a batch is marked only when publish resolves. */
class MemoryOutbox implements Pick<OutboxStore, 'publishBatch'> {
  readonly waiting: LifecycleEvent[] = [];
  reads = 0;
  readonly readListeners: (() => void)[] = [];

  async publishBatch(limit: number, publish: (events: readonly LifecycleEvent[]) => Promise<void>): Promise<number> {
    this.reads++;
    for (const listener of this.readListeners.splice(0)) listener();
    const batch = this.waiting.slice(0, limit);
    if (batch.length === 0) return 0;
    await publish(batch);
    this.waiting.splice(0, batch.length);
    return batch.length;
  }

  /** Resolves at the next read. */
  nextRead(): Promise<void> {
    return new Promise((resolve) => this.readListeners.push(resolve));
  }
}

function relay(
  outbox: MemoryOutbox,
  publish: (routingKey: string, messageId: string) => Promise<void>,
  options: { pollMs?: number; backoffMs?: { initial: number; max: number } } = {},
) {
  let notify: () => void = () => undefined;
  const published: LifecycleEvent[] = [];
  const relay = new EventsRelay({
    outbox: outbox as unknown as OutboxStore,
    publisher: { publish: (message) => publish(message.routingKey, message.messageId) },
    exchange: 'test.events',
    batch: 2,
    databaseUrl: 'postgres://unused/db',
    logger,
    pollMs: options.pollMs ?? 600_000,
    ...(options.backoffMs === undefined ? {} : { backoffMs: options.backoffMs }),
    listen: (onNotify) => {
      notify = onNotify;
      return { close: () => Promise.resolve() };
    },
    onPublished: (events) => published.push(...events),
  });
  return { relay, published, notify: () => notify() };
}

describe('EventsRelay', () => {
  it('when the broker refuses a publish, then the batch stays and is published whole after the back-off', async () => {
    const outbox = new MemoryOutbox();
    outbox.waiting.push(event(1), event(2), event(3));
    let refuse = true;
    const sent: string[] = [];
    const { relay: r, published } = relay(
      outbox,
      (routingKey, messageId) => {
        if (refuse && messageId.endsWith('2')) {
          refuse = false;
          return Promise.reject(new PublishError('nacked', 'no'));
        }
        sent.push(`${routingKey} ${messageId.slice(-1)}`);
        return Promise.resolve();
      },
      { backoffMs: { initial: 1, max: 1 } },
    );
    r.start();
    while (outbox.waiting.length > 0) await outbox.nextRead();
    await r.stop();

    // Event 1 went out in the failed batch and again with its batch: at least once, never lost.
    expect(sent).toEqual(['email.queued 1', 'email.queued 1', 'email.queued 2', 'email.queued 3']);
    expect(published.map((e) => e.sequence)).toEqual([1, 2, 3]);
  });

  it('when a notification comes while it idles, then it reads at once rather than at the poll', async () => {
    const outbox = new MemoryOutbox();
    const { relay: r, published, notify } = relay(outbox, () => Promise.resolve());
    const firstRead = outbox.nextRead();
    r.start();
    await firstRead;
    const idle = outbox.reads;
    outbox.waiting.push(event(7));
    const woken = outbox.nextRead();
    notify();
    await woken;
    await outbox.nextRead();
    await r.stop();

    expect(outbox.reads).toBeGreaterThan(idle);
    expect(published.map((e) => e.sequence)).toEqual([7]);
  });

  it('when stopped during a long back-off, then stop resolves without waiting for it to end', async () => {
    const outbox = new MemoryOutbox();
    outbox.waiting.push(event(1));
    const { relay: r } = relay(outbox, () => Promise.reject(new PublishError('not-connected', 'down')), {
      backoffMs: { initial: 600_000, max: 600_000 },
    });
    const failed = outbox.nextRead();
    r.start();
    await failed;
    const started = Date.now();
    await r.stop(600_000);

    expect(Date.now() - started).toBeLessThan(5_000);
    expect(outbox.waiting).toHaveLength(1);
  });
});
