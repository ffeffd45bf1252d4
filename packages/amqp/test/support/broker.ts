import { buildTopology, type Topology } from '@mailer/contract';
import { AMQP_URL, deleteTopology, uniquePrefix } from '@mailer/testkit';
import { BrokerConnection, ConfirmPublisher, type ConfirmPublisherOptions, type Logger } from '../../src';

/** Logs nothing unless TEST_LOGS is set. */
export const testLogger: Logger = {
  debug: (message, meta) => log('debug', message, meta),
  info: (message, meta) => log('info', message, meta),
  warn: (message, meta) => log('warn', message, meta),
  error: (message, meta) => log('error', message, meta),
};

function log(level: string, message: string, meta?: Record<string, unknown>): void {
  if (process.env['TEST_LOGS'] !== undefined) process.stdout.write(`${JSON.stringify({ level, message, ...meta })}\n`);
}

/** A connection and a confirmed publisher on a topology of their own, on the real broker. */
export interface TestBroker {
  readonly topology: Topology;
  readonly connectionName: string;
  readonly broker: BrokerConnection;
  readonly publisher: ConfirmPublisher;
  /** Closes the connection and deletes the topology. */
  close(): Promise<void>;
}

/** Connects (through `url`, default AMQP_URL) and declares a unique topology. */
export async function startTestBroker(
  label: string,
  options: { readonly url?: string } & Partial<Omit<ConfirmPublisherOptions, 'logger'>> = {},
): Promise<TestBroker> {
  const prefix = uniquePrefix(label);
  const topology = buildTopology({ prefix, retryDelaysMs: [1000], deliveryLimit: 5 });
  const connectionName = `test-amqp-${prefix}`;
  const broker = new BrokerConnection({
    url: options.url ?? AMQP_URL,
    topology,
    logger: testLogger,
    connectionName,
    reconnectDelayMs: { initial: 50, max: 500 },
  });
  const publisher = new ConfirmPublisher(broker, {
    timeoutMs: options.timeoutMs ?? 5000,
    maxInflight: options.maxInflight ?? 1000,
    logger: testLogger,
  });
  await broker.start();
  return {
    topology,
    connectionName,
    broker,
    publisher,
    close: async () => {
      await broker.close();
      await deleteTopology(topology);
    },
  };
}

/**
 * Yields to the event loop until `condition` holds; fails after `timeoutMs`. For states that have
 * no event of their own (a publish has been written and awaits its confirm).
 */
export async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
