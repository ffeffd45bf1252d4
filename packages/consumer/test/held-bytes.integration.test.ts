import { randomBytes } from 'node:crypto';
import { ServerClient, Models } from 'postmark';
import { ENVELOPE_VERSION, encodeEnvelope, type EmailRequest } from '@mailer/contract';
import { queueDepth } from '@mailer/testkit';
import { PostmarkProvider } from '../src/providers/postmark/send';
import { startTestConsumer, until } from './support/consumer';
import { startFakePostmark } from './support/postmark-server';

const PREFETCH = 50;
const TOTAL = 20;
const MAX_HELD_BYTES = 1024 * 1024;

/** An email with a large attachment: each queued message is a few hundred kilobytes. */
function largeRequest(i: number): EmailRequest {
  return {
    from: { email: 'sender@example.com' },
    to: [{ email: `big${i}@example.org` }],
    subject: `large ${i}`,
    text: 'see attachment',
    attachments: [
      {
        filename: 'blob.bin',
        content: randomBytes(150 * 1024).toString('base64'),
        content_type: 'application/octet-stream',
      },
    ],
  };
}

describe('when the queued messages are large', () => {
  it('then the consumer holds no more than MAX_HELD_BYTES of them unsettled, though PREFETCH would allow more', async () => {
    const fake = await startFakePostmark();
    const client = new ServerClient(fake.token, new Models.ClientOptions.Configuration(false, fake.host));
    const consumer = await startTestConsumer('held-bytes', {
      providers: [new PostmarkProvider(client, { maxConnections: PREFETCH })],
      prefetch: PREFETCH,
      maxHeldBytes: MAX_HELD_BYTES,
      providerTimeoutMs: 30_000,
    });
    try {
      const requests = Array.from({ length: TOTAL }, (_, i) => largeRequest(i));
      // The body size as queued, to know how many fit in the bound.
      const size = encodeEnvelope({
        version: ENVELOPE_VERSION,
        id: '01a2207a-0000-7000-8000-000000000000',
        accepted_at: new Date().toISOString(),
        client: 'test',
        request: requests[0]!,
      }).length;
      const fit = Math.floor(MAX_HELD_BYTES / size);
      // A slow Postmark: nothing is answered until resumed, so what the consumer takes, it holds.
      const resume = fake.pause();
      const ids = await Promise.all(requests.map((request) => consumer.publish(request)));
      await until(() => consumer.worker.paused === 'held-bytes', 'the consumer stops taking messages');
      await until(() => fake.peakInProgress === consumer.worker.busy, 'what it took reached Postmark');

      const held = { messages: consumer.worker.busy, bytes: consumer.worker.heldBytes };
      const waiting = await queueDepth(consumer.topology.workQueue.name);
      resume();
      await Promise.all(ids.map((id) => fake.received(id)));
      await until(() => consumer.worker.busy === 0, 'every message is settled');

      process.stdout.write(
        `large messages: ${TOTAL} of ${size} bytes, PREFETCH ${PREFETCH}, MAX_HELD_BYTES ${MAX_HELD_BYTES}: ` +
          `held ${held.messages} (${held.bytes} bytes) at the bound with ${waiting} left in the queue; ` +
          `at most ${fake.peakInProgress} at Postmark at once over the run\n`,
      );
      expect(held.bytes).toBeLessThanOrEqual(MAX_HELD_BYTES);
      expect(held.messages).toBe(fit);
      expect(waiting).toBe(TOTAL - fit);
      expect(fake.peakInProgress).toBeLessThanOrEqual(fit);
      expect(ids.filter((id) => fake.acceptedCount(id) !== 1)).toEqual([]);
    } finally {
      await consumer.close();
      await fake.close();
    }
  });
});
