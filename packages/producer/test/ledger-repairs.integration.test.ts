import request from 'supertest';
import { Ledger, createPool } from '@mailer/ledger';
import { createLogger } from '@mailer/service';
import { TcpProxy, drainQueue, queueDepth, until } from '@mailer/testkit';
import type { AcceptedRecord, EmailLedger, KeyOutcome, KeyedRequest } from '../src/domain/email-ledger';
import { LedgerAdapter } from '../src/ledger/ledger-adapter';
import { LedgerRepairs } from '../src/ledger/ledger-repairs';
import { testKeyTimes, useScratchLedger } from './support/ledger';
import { TEST_KEY, startTestProducer, validEmail, type TestProducer } from './support/producer';

// The producer reaches PostgreSQL through a proxy that can hold the server's answers back: a
// statement then commits while its caller times out, as when PostgreSQL crashes after a commit.
const scratch = useScratchLedger('repairs');
let proxy: TcpProxy;
let pool: ReturnType<typeof createPool>;
let repairs: LedgerRepairs;
let producer: TestProducer;
let loseNextRecordAnswer = false;

/** The producer's ledger, which holds back the answer to the next record (keyed or not) when told to. */
class LosingAnswers implements EmailLedger {
  constructor(private readonly inner: LedgerAdapter) {}
  reserveKeyAndRecord(request: KeyedRequest, emails: readonly AcceptedRecord[]): Promise<KeyOutcome> {
    this.loseIfTold();
    return this.inner.reserveKeyAndRecord(request, emails);
  }
  recordAccepted: EmailLedger['recordAccepted'] = (emails) => {
    this.loseIfTold();
    return this.inner.recordAccepted(emails);
  };
  private loseIfTold(): void {
    if (loseNextRecordAnswer) {
      loseNextRecordAnswer = false;
      proxy.silence();
    }
  }
  completeKey: EmailLedger['completeKey'] = (...args) => this.inner.completeKey(...args);
  releaseKey: EmailLedger['releaseKey'] = (reservation) => this.inner.releaseKey(reservation);
  discardUnpublished: EmailLedger['discardUnpublished'] = (ids) => this.inner.discardUnpublished(ids);
  getEmail: EmailLedger['getEmail'] = (client, id) => this.inner.getEmail(client, id);
  listEmails: EmailLedger['listEmails'] = (client, filter) => this.inner.listEmails(client, filter);
  readiness = () => this.inner.readiness();
}

beforeAll(async () => {
  const target = new URL(scratch.current().database.url);
  proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  target.port = String(await proxy.start());
  // A short statement bound: a held-back answer fails the call after about 2 s.
  pool = createPool({ url: target.toString(), max: 4, statementTimeoutMs: 1000 });
  const adapter = new LedgerAdapter(new Ledger({ db: pool }), testKeyTimes);
  const logger = createLogger({ service: 'producer', level: 'error', silent: process.env['TEST_LOGS'] === undefined });
  repairs = new LedgerRepairs({ ledger: adapter, logger, firstDelayMs: 50, maxDelayMs: 500 });
  producer = await startTestProducer('ledger-repairs', { ledger: new LosingAnswers(adapter), repairs });
});

afterAll(async () => {
  await repairs.stop();
  await producer.close();
  await pool.end();
  await proxy.stop();
});

const postKeyed = (key: string, body: object) =>
  request(producer.app)
    .post('/v1/emails')
    .set('authorization', `Bearer ${TEST_KEY}`)
    .set('idempotency-key', key)
    .send(body);

const stateOfKey = async (key: string) =>
  (await scratch.current().rows<{ state: string }>('SELECT state FROM idempotency_keys WHERE key = $1', [key]))[0]
    ?.state;

describe('when a request is answered 503 although the ledger committed its record (the answer was lost)', () => {
  it('then once the ledger answers again the record is forgotten and the key released, and a retry with the key is taken over at once', async () => {
    const key = `lost-answer-${process.pid}`;
    const body = validEmail({ subject: 'recorded, then refused' });

    // A connection open already, so the record reaches PostgreSQL and only its answer is held back
    // (a keyed request's first statement is its record: a handshake held back would commit nothing).
    await pool.query('SELECT 1');
    loseNextRecordAnswer = true;
    const refused = await postKeyed(key, body);
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ reason: 'ledger-unavailable' });
    // The commit happened: the row is there, queued, and nothing was published.
    const recorded = await scratch
      .current()
      .rows<{ id: string; state: string }>("SELECT id, state FROM emails WHERE client = 'test'");
    expect(recorded).toEqual([{ id: expect.any(String), state: 'queued' }]);
    expect(await stateOfKey(key)).toBe('in-flight');
    expect(await queueDepth(producer.topology.workQueue.name)).toBe(0);
    expect(repairs.size).toBe(1);

    proxy.resume();
    await until(() => repairs.size === 0, 'the repair was applied');

    const [{ id } = { id: '' }] = recorded;
    expect(await scratch.current().rows('SELECT 1 FROM emails WHERE id = $1', [id])).toEqual([]);
    // Released: the retry takes it over now, not after IDEMPOTENCY_STALE_AFTER (a minute here).
    const retried = await postKeyed(key, body);
    expect(retried.status).toBe(202);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(retried.body.id).toBe(id);
    const shown = await request(producer.app).get(`/v1/emails/${id}`).set('authorization', `Bearer ${TEST_KEY}`);
    expect(shown.body.status).toBe('queued');
    const [message] = await drainQueue(producer.topology.workQueue.name, 1);
    expect(message?.properties.messageId).toBe(id);
  });
});
