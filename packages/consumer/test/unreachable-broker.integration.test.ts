import { existsSync } from 'node:fs';
import path from 'node:path';
import { freePort, runService, type Service } from '@mailer/testkit';

const main = path.resolve(__dirname, '../dist/main.js');

let consumer: Service | undefined;

beforeAll(() => {
  if (!existsSync(main)) throw new Error(`${main} is missing: run "pnpm run build" first (pnpm test does)`);
});

afterEach(() => {
  if (consumer !== undefined && consumer.child.exitCode === null && consumer.child.signalCode === null) {
    consumer.child.kill('SIGKILL');
  }
});

describe('the consumer process without a broker', () => {
  it('when nothing listens at AMQP_URL, then one line at start-up says what is missing and how to start it, however often it retries', async () => {
    const brokerPort = await freePort();
    consumer = runService(main, { AMQP_URL: `amqp://guest:guest@127.0.0.1:${brokerPort}`, LOG_LEVEL: 'info' });

    await consumer.logged((line) => line['message'] === 'broker connection failed; retrying' && line['attempt'] === 4);
    consumer.child.kill('SIGTERM');

    expect(await consumer.exited).toBe(0);
    const hints = consumer
      .output()
      .split('\n')
      .filter((line) => line.includes('RabbitMQ is not reachable'));
    expect(hints).toHaveLength(1);
    expect(JSON.parse(hints[0] ?? '{}')).toMatchObject({
      level: 'error',
      service: 'consumer',
      message: expect.stringMatching(
        new RegExp(
          `^RabbitMQ is not reachable at 127\\.0\\.0\\.1:${brokerPort} \\(connection refused\\): no email is sent until it is; start it with \`docker compose up rabbitmq\``,
        ),
      ),
    });
  });
});
