import request from 'supertest';
import { drainQueue, queueDepth, startPrivatePostgres, type PrivatePostgres } from '@mailer/testkit';
import { createScratchLedger, testKeyTimes, type ScratchLedger } from './support/ledger';
import { TEST_KEY, startTestProducer, validEmail, type TestProducer } from './support/producer';

// A PostgreSQL of this file's own, so that stopping it leaves the machine's server alone.
let postgres: PrivatePostgres;
let scratch: ScratchLedger;
let producer: TestProducer;

beforeAll(async () => {
  postgres = await startPrivatePostgres();
  scratch = await createScratchLedger('outage', testKeyTimes, postgres.url);
  producer = await startTestProducer('ledger-outage', { ledger: scratch.adapter });
}, 120_000);

afterAll(async () => {
  await producer.close();
  await scratch.pool.end();
  await postgres.remove();
});

const auth = { authorization: `Bearer ${TEST_KEY}` };
const post = () => request(producer.app).post('/v1/emails').set(auth);

/** Polls `/readyz` until it answers 200, within `timeoutMs`. */
async function readyAgain(timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let polls = 0;
  for (;;) {
    polls += 1;
    if ((await request(producer.app).get('/readyz')).status === 200) return polls;
    if (Date.now() > deadline) throw new Error('the producer did not become ready again');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('when the ledger crashes and comes back', () => {
  it('then requests get 503 ledger-unavailable and /readyz says why, nothing is queued, and both recover with no restart', async () => {
    const before = await post().send(validEmail());
    expect(before.status).toBe(202);
    await drainQueue(producer.topology.workQueue.name, 1);

    await postgres.stop('immediate');

    const refused = await post().send(validEmail());
    const keyed = await post().set('idempotency-key', 'during-outage').send(validEmail());
    const batch = await request(producer.app)
      .post('/v1/emails/batch')
      .set(auth)
      .send({ emails: [validEmail()] });
    for (const response of [refused, keyed, batch]) {
      expect(response.status).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect(response.body).toMatchObject({ type: '/problems/ledger-unavailable', reason: 'ledger-unavailable' });
    }
    const status = await request(producer.app)
      .get(`/v1/emails/${String(before.body.id)}`)
      .set(auth);
    expect(status.status).toBe(503);
    expect(status.body.reason).toBe('ledger-unavailable');
    const readyz = await request(producer.app).get('/readyz');
    expect(readyz.status).toBe(503);
    expect(readyz.body).toEqual({ status: 'not-ready', reason: 'ledger-unavailable' });
    expect(await queueDepth(producer.topology.workQueue.name)).toBe(0);

    await postgres.start();
    const polls = await readyAgain(30_000);

    const after = await post().send(validEmail());
    expect(after.status).toBe(202);
    const shown = await request(producer.app)
      .get(`/v1/emails/${String(after.body.id)}`)
      .set(auth);
    expect(shown.body.status).toBe('queued');
    const [message] = await drainQueue(producer.topology.workQueue.name, 1);
    expect(message?.properties.messageId).toBe(after.body.id);
    process.stdout.write(`ledger outage: ready again after ${polls} poll(s) of /readyz\n`);
  });
});
