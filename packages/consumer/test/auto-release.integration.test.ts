import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ConfirmChannel } from 'amqplib';
import { connect } from 'amqplib';
import {
  DEFAULT_DELIVERY_LIMIT,
  WORK_ROUTING_KEY,
  buildTopology,
  encodeEnvelope,
  type Topology,
} from '@mailer/contract';
import {
  AMQP_URL,
  deleteTopology,
  freePort,
  queueDepth,
  runService,
  uniquePrefix,
  until,
  type Service,
} from '@mailer/testkit';
import { DeadLetters } from '@mailer/dead-letters';
import { TEST_CLIENT, acceptedOf, envelopeOf, testLedger } from './support/consumer';
import { TestSmtpServer } from './support/smtp-server';

const main = path.resolve(__dirname, '../dist/main.js');
const DOWN = 4;

/**
 * The built consumer with AUTO_RELEASE=true, the ledger on, and two providers, Postmark then SMTP,
 * each on a port of the test's: "down" is nothing listening there (connection refused), "healed"
 * a server started on it. Postmark stays down throughout; SMTP heals.
 */
describe('automatic release (AUTO_RELEASE=true), the built consumer on the broker', () => {
  const prefix = uniquePrefix('auto-release');
  const topology: Topology = buildTopology({ prefix, retryDelaysMs: [200], deliveryLimit: DEFAULT_DELIVERY_LIMIT });
  let consumer: Service | undefined;
  let smtp: TestSmtpServer | undefined;
  let operator: Awaited<ReturnType<typeof connect>>;
  let channel: ConfirmChannel;
  let finished = false;

  beforeAll(async () => {
    if (!existsSync(main)) throw new Error(`${main} is missing: run "pnpm run build" first (pnpm test does)`);
    operator = await connect(AMQP_URL);
    channel = await operator.createConfirmChannel();
  });

  afterAll(async () => {
    // A test that did not get to its end (an assertion, or jest's timeout) shows what the consumer logged.
    if (!finished && consumer !== undefined) process.stdout.write(consumer.output());
    if (consumer?.child.pid !== undefined && consumer.child.exitCode === null) {
      process.kill(consumer.child.pid, 'SIGTERM');
      await consumer.exited;
    }
    await smtp?.close();
    await operator.close();
    await deleteTopology(topology);
  });

  async function publish(to: string): Promise<string> {
    const envelope = envelopeOf({
      from: { email: 'sender@example.com' },
      to: [{ email: to }],
      subject: to,
      text: 'Hi',
    });
    await (await testLedger()).ledger.recordAccepted([acceptedOf(envelope)]);
    channel.publish(`${prefix}.work`, WORK_ROUTING_KEY, encodeEnvelope(envelope), {
      persistent: true,
      messageId: envelope.id,
    });
    await channel.waitForConfirms();
    return envelope.id;
  }

  const deadDepth = async () => (await channel.checkQueue(topology.deadQueue.name)).messageCount;
  const parked = async () =>
    (await new DeadLetters(channel, topology).list()).map(({ id, reason }) => ({ id, reason }));

  it('when every provider was down until emails parked and one heals, then those are delivered by themselves, once each, and a rejected recipient stays parked', async () => {
    const { url, ledger } = await testLedger();
    const port = await freePort();
    const postmarkPort = await freePort();
    consumer = runService(main, {
      AMQP_URL,
      AMQP_PREFIX: prefix,
      RETRY_DELAYS: '200ms',
      PROVIDERS: 'postmark,smtp',
      POSTMARK_SERVER_TOKEN: 'test-token',
      POSTMARK_API_HOST: `127.0.0.1:${postmarkPort}`,
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(port),
      MAX_ATTEMPTS: '2',
      CIRCUIT_FAILURE_THRESHOLD: '1',
      CIRCUIT_COOL_DOWN: '300ms',
      LEDGER: 'on',
      DATABASE_URL: url,
      LOG_LEVEL: 'info',
      AUTO_RELEASE: 'true',
      AUTO_RELEASE_INTERVAL: '1s',
      AUTO_RELEASE_RATE: '50',
    });
    const service = consumer;
    await service.logged((line) => line['message'] === 'consuming');

    // While SMTP is up, one recipient is refused for good (Postmark down, SMTP says 550): parked at once.
    smtp = await TestSmtpServer.start(port);
    smtp.refuseRecipient('gone@example.org', { code: 550, text: '5.1.1 No such user' });
    const rejected = await publish('gone@example.org');
    await until(async () => (await deadDepth()) === 1, 'the rejected email is parked');
    await smtp.close();
    smtp = undefined;

    // Every provider down: these use up their attempts and park.
    const down: string[] = [];
    for (let i = 0; i < DOWN; i += 1) down.push(await publish(`user${i}@example.org`));
    // Watched through the queue's count and the ledger, not by reading the dead queue: a pass of
    // the test's own would hide what it holds from the consumer's release looks, and a probe that
    // finds nothing releasable stops looking until the next park (docs/delivery.md).
    await until(
      async () =>
        (await deadDepth()) === DOWN + 1 &&
        (await Promise.all(down.map((id) => ledger.getEmail(TEST_CLIENT, id)))).every(
          (email) => email?.state === 'parked',
        ),
      `all ${DOWN + 1} emails are parked`,
    );

    // SMTP comes back (Postmark does not); nobody posts anything or touches the dead letters.
    const healedAt = Date.now();
    const healed = await TestSmtpServer.start(port);
    smtp = healed;
    const delivered = await Promise.all(down.map((id) => healed.message(id)));
    const tookMs = Date.now() - healedAt;

    expect(delivered.map(({ id }) => id).sort()).toEqual([...down].sort());
    await until(async () => (await queueDepth(topology.workQueue.name)) === 0, 'the work queue is empty');
    expect(down.map((id) => healed.timesAccepted(id))).toEqual(down.map(() => 1));
    expect(healed.hasMessage(rejected)).toBe(false);
    expect(await parked()).toEqual([{ id: rejected, reason: 'recipient-rejected' }]);
    for (const id of down) expect((await ledger.getEmail(TEST_CLIENT, id))?.state).toBe('sent');
    // Nothing was sent after the emails parked, so the first release can only have been a probe.
    const released = await service.logged((line) => line['message'] === 'released parked emails');
    expect(released).toMatchObject({ trigger: 'probe', count: 1 });
    // SIGTERM stops the release loop and its connection with the rest: a clean exit.
    process.kill(service.child.pid as number, 'SIGTERM');
    expect(await service.exited).toBe(0);
    expect(await service.logged((line) => line['message'] === 'stopped')).toMatchObject({ unsettled: 0 });
    finished = true;
    if (process.env['TEST_LOGS'] === '1') process.stdout.write(service.output());
    process.stdout.write(
      `automatic release: ${DOWN} parked while Postmark and SMTP were down (+1 rejected), all ${DOWN} delivered through SMTP ${tookMs} ms after it healed, each once; the rejected one still parked\n`,
    );
  });
});
