import { existsSync } from 'node:fs';
import path from 'node:path';
import { freePort, runService, type Service, killServices } from '@mailer/testkit';
import { testApiKeys } from './support/producer';

const main = path.resolve(__dirname, '../dist/main.js');

const apiKeysEnv = JSON.stringify(
  testApiKeys.map((key) => ({ name: key.name, key_sha256: key.keyHash.toString('hex'), senders: key.senders })),
);

const started: Service[] = [];

beforeAll(() => {
  if (!existsSync(main)) throw new Error(`${main} is missing: run "pnpm run build" first (pnpm test does)`);
});

afterEach(() => killServices(started.splice(0)));

describe('the producer process without a broker', () => {
  it('when nothing listens at AMQP_URL, then one line at start-up says what is missing and how to start it, however often it retries', async () => {
    // A port that was free a moment ago: nothing listens there.
    const brokerPort = await freePort();
    const producer = runService(main, {
      AMQP_URL: `amqp://guest:guest@127.0.0.1:${brokerPort}`,
      PORT: String(await freePort()),
      API_KEYS: apiKeysEnv,
      LOG_LEVEL: 'info',
    });
    started.push(producer);

    await producer.logged((line) => line['message'] === 'broker connection failed; retrying' && line['attempt'] === 4);
    producer.child.kill('SIGTERM');

    expect(await producer.exited).toBe(0);
    const hints = producer
      .output()
      .split('\n')
      .filter((line) => line.includes('RabbitMQ is not reachable'));
    expect(hints).toHaveLength(1);
    const hint = JSON.parse(hints[0] ?? '{}') as Record<string, unknown>;
    expect(hint).toMatchObject({ level: 'error', service: 'producer' });
    expect(hint['message']).toBe(
      `RabbitMQ is not reachable at 127.0.0.1:${brokerPort} (connection refused): POST /v1/emails answers 503 until it is; ` +
        'start it with `docker compose up rabbitmq`, or a local install with `systemctl start rabbitmq-server` ' +
        '(or `rabbitmq-server -detached`). Retrying in the background.',
    );
  });

  it('when a duration is set under its former _MS name, then it starts and warns once what to set instead', async () => {
    const producer = runService(main, {
      AMQP_URL: `amqp://guest:guest@127.0.0.1:${await freePort()}`,
      PORT: String(await freePort()),
      API_KEYS: apiKeysEnv,
      SHUTDOWN_TIMEOUT_MS: '3000',
      LOG_LEVEL: 'info',
    });
    started.push(producer);

    const warning = await producer.logged((line) => line['key'] === 'SHUTDOWN_TIMEOUT_MS');
    await producer.logged((line) => line['message'] === 'producer listening');
    producer.child.kill('SIGTERM');

    expect(warning).toMatchObject({
      level: 'warn',
      replacement: 'SHUTDOWN_TIMEOUT',
      message: 'SHUTDOWN_TIMEOUT_MS is deprecated and read for this release only; set SHUTDOWN_TIMEOUT=3s instead',
    });
    expect(await producer.exited).toBe(0);
    expect(
      producer
        .output()
        .split('\n')
        .filter((line) => line.includes('SHUTDOWN_TIMEOUT_MS')),
    ).toHaveLength(1);
  });
});
