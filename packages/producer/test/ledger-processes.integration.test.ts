import { existsSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_DELIVERY_LIMIT, DEFAULT_RETRY_DELAYS_MS, buildTopology } from '@mailer/contract';
import {
  AMQP_URL,
  TcpProxy,
  deleteTopology,
  drainQueue,
  freePort,
  queueDepth,
  runService,
  uniquePrefix,
  type Service,
  killServices,
} from '@mailer/testkit';
import { useScratchLedger } from './support/ledger';
import { TEST_KEY, testApiKeys, validEmail } from './support/producer';

const main = path.resolve(__dirname, '../dist/main.js');

const apiKeysEnv = JSON.stringify(
  testApiKeys.map((key) => ({ name: key.name, key_sha256: key.keyHash.toString('hex'), senders: key.senders })),
);

const scratch = useScratchLedger('processes');
const started: Service[] = [];
const proxies: TcpProxy[] = [];
const prefixes: string[] = [];

beforeAll(() => {
  if (!existsSync(main)) throw new Error(`${main} is missing: run "pnpm run build" first (pnpm test does)`);
});

afterEach(async () => {
  await killServices(started.splice(0));
  for (const proxy of proxies.splice(0)) await proxy.stop();
  for (const prefix of prefixes.splice(0)) {
    await deleteTopology(
      buildTopology({ prefix, retryDelaysMs: DEFAULT_RETRY_DELAYS_MS, deliveryLimit: DEFAULT_DELIVERY_LIMIT }),
    );
  }
});

/** A proxy in front of the shared broker, so a test can hold back one producer's confirms. */
async function brokerProxy(): Promise<{ proxy: TcpProxy; url: string }> {
  const target = new URL(AMQP_URL);
  const proxy = new TcpProxy(target.hostname, Number(target.port || 5672));
  proxies.push(proxy);
  target.port = String(await proxy.start());
  return { proxy, url: target.toString() };
}

interface Producer {
  readonly service: Service;
  readonly url: string;
}

/** Runs the built producer as a process on the file's ledger and the test's prefix; resolves once it can publish. */
async function startProducer(prefix: string, env: Record<string, string>): Promise<Producer> {
  const port = await freePort();
  const service = runService(main, {
    AMQP_URL,
    AMQP_PREFIX: prefix,
    PORT: String(port),
    HOST: '127.0.0.1',
    API_KEYS: apiKeysEnv,
    DATABASE_URL: scratch.current().database.url,
    LOG_LEVEL: 'info',
    ...env,
  });
  started.push(service);
  await service.logged((line) => line['message'] === 'broker connected');
  await service.logged((line) => line['message'] === 'producer listening');
  return { service, url: `http://127.0.0.1:${port}` };
}

function postKeyed(producer: Producer, key: string, body: unknown): Promise<Response> {
  return fetch(`${producer.url}/v1/emails`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify(body),
  });
}

/** Polls `check` until it is true, within `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The state of `key` in the ledger (`in-flight`, `done`), or undefined before it is reserved. */
async function keyState(key: string): Promise<string | undefined> {
  const rows = await scratch
    .current()
    .rows<{ state: string }>('SELECT state FROM idempotency_keys WHERE key = $1', [key]);
  return rows[0]?.state;
}

/** The ids recorded under `key`: once there are some, the holder recorded and is publishing. */
async function idsUnder(key: string): Promise<string[]> {
  const rows = await scratch
    .current()
    .rows<{ email_ids: string[] }>('SELECT email_ids FROM idempotency_keys WHERE key = $1', [key]);
  return rows[0]?.email_ids ?? [];
}

describe('two producer processes on one ledger and one broker', () => {
  it('when the second gets a key the first is still publishing, then 409 with Retry-After, and later the first answer, one message', async () => {
    const prefix = uniquePrefix('ledger-409');
    prefixes.push(prefix);
    const { proxy, url } = await brokerProxy();
    const first = await startProducer(prefix, { AMQP_URL: url, PUBLISH_TIMEOUT: '30s' });
    const second = await startProducer(prefix, {});
    const key = `409-${process.pid}`;
    const body = validEmail({ subject: 'raced' });

    proxy.silence();
    const stalled = postKeyed(first, key, body);
    await until('the first producer recorded the email under the key', async () => (await idsUnder(key)).length > 0);

    const conflict = await postKeyed(second, key, body);
    expect(conflict.status).toBe(409);
    expect(['1', '2']).toContain(conflict.headers.get('retry-after'));
    expect(await conflict.json()).toMatchObject({ type: '/problems/idempotency-key-in-flight', status: 409 });

    proxy.resume();
    const accepted = await stalled;
    expect(accepted.status).toBe(202);
    const { id } = (await accepted.json()) as { id: string };
    // The first stores its answer while the 202 goes out (docs/api.md): another producer replays it
    // once it is stored, and answers 409 in flight for the few milliseconds before.
    await until('the first producer stored its answer', async () => (await keyState(key)) === 'done');
    const replay = await postKeyed(second, key, body);
    expect(replay.status).toBe(202);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(((await replay.json()) as { id: string }).id).toBe(id);

    const [message] = await drainQueue(`${prefix}.work`, 1);
    expect(message?.properties.messageId).toBe(id);
    expect(await queueDepth(`${prefix}.work`)).toBe(0);
  });

  it('when the holder is killed after recording and before its confirm, then a retry at another producer after the stale bound gets 202 with the same id, published again', async () => {
    const prefix = uniquePrefix('ledger-takeover');
    prefixes.push(prefix);
    const { proxy, url } = await brokerProxy();
    const doomed = await startProducer(prefix, { AMQP_URL: url, PUBLISH_TIMEOUT: '30s' });
    const survivor = await startProducer(prefix, { PUBLISH_TIMEOUT: '1s', IDEMPOTENCY_STALE_AFTER: '2s' });
    const key = `takeover-${process.pid}`;
    const body = validEmail({ subject: 'survives a crash' });

    proxy.silence();
    // The holder dies with this request open: its answer never comes.
    postKeyed(doomed, key, body).catch(() => undefined);
    await until('the holder recorded the email under the key', async () => (await idsUnder(key)).length > 0);
    await until(
      'its publish reached the broker (the confirm is held back)',
      async () => (await queueDepth(`${prefix}.work`)) === 1,
    );
    const [recorded] = await idsUnder(key);
    const pid = doomed.service.child.pid;
    if (pid === undefined) throw new Error('no pid');
    process.kill(pid, 'SIGKILL');
    await doomed.service.exited;

    // Until the holder is stale the key answers 409; the caller retries after Retry-After.
    const statuses: number[] = [];
    let retried: Response | undefined;
    const deadline = Date.now() + 20_000;
    while (retried === undefined) {
      const response = await postKeyed(survivor, key, body);
      statuses.push(response.status);
      if (response.status !== 409) {
        retried = response;
        break;
      }
      if (Date.now() > deadline) throw new Error(`still 409 after the stale bound: ${statuses.join(',')}`);
      await new Promise((resolve) => setTimeout(resolve, Number(response.headers.get('retry-after')) * 1000));
    }

    expect(retried.status).toBe(202);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    expect(((await retried.json()) as { id: string }).id).toBe(recorded);
    // The dead holder's copy and the retry's: the same id twice (the consumer's claim sends it once).
    const messages = await drainQueue(`${prefix}.work`, 2);
    expect(messages.map((m) => m.properties.messageId)).toEqual([recorded, recorded]);
    const replay = await postKeyed(survivor, key, body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(((await replay.json()) as { id: string }).id).toBe(recorded);
    process.stdout.write(`takeover: answers before the takeover ${statuses.join(', ')}\n`);
  });
});
