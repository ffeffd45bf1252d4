import { existsSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_DELIVERY_LIMIT, DEFAULT_RETRY_DELAYS_MS, buildTopology } from '@mailer/contract';
import { AMQP_URL, deleteTopology, runService, uniquePrefix, until, type Service, killServices } from '@mailer/testkit';
import { recordAndPublish, testLedger } from './support/consumer';
import { startFakePostmark, type FakePostmark } from './support/postmark-server';
import { TestSmtpServer } from './support/smtp-server';

const main = path.resolve(__dirname, '../dist/main.js');

/** Emails per run: the default PREFETCH (300), so that through 5 connections most sends wait for one. */
const EMAILS = 300;

/**
 * The built consumer as a process against a provider that is healthy but slow, every delivery
 * setting at its default unless the case names one: every email goes out once, and no try is
 * marked ambiguous, however long the sends wait for one of the provider's connections.
 */
describe('when a healthy provider is slow, then every email is sent once and no try is ambiguous', () => {
  const services: Service[] = [];
  const prefixes: string[] = [];
  let smtp: TestSmtpServer;
  let postmark: FakePostmark;

  beforeAll(async () => {
    if (!existsSync(main)) throw new Error(`${main} is missing: run "pnpm run build" first (pnpm test does)`);
    smtp = await TestSmtpServer.start();
    postmark = await startFakePostmark();
  });

  afterEach(() => killServices(services.splice(0)));

  afterAll(async () => {
    await smtp.close();
    await postmark.close();
    for (const prefix of prefixes) {
      await deleteTopology(
        buildTopology({ prefix, retryDelaysMs: DEFAULT_RETRY_DELAYS_MS, deliveryLimit: DEFAULT_DELIVERY_LIMIT }),
      ).catch(() => undefined);
    }
  });

  /** Records `count` emails as the producer does and publishes them; returns their ids. */
  function publish(prefix: string, count: number): Promise<string[]> {
    const topology = buildTopology({
      prefix,
      retryDelaysMs: DEFAULT_RETRY_DELAYS_MS,
      deliveryLimit: DEFAULT_DELIVERY_LIMIT,
    });
    const requests = Array.from({ length: count }, (_, i) => ({
      from: { email: 'sender@example.com' },
      to: [{ email: 'jane@example.org' }],
      subject: `Slow ${i}`,
      text: 'Hi',
    }));
    return recordAndPublish(topology, requests);
  }

  /** Of `ids`: how many the ledger has as sent, and how many tries it marked ambiguous. */
  async function ledgerCounts(ids: readonly string[]): Promise<{ sent: number; ambiguous: number; tries: number }> {
    const { pool } = await testLedger();
    const { rows } = await pool.query<{ sent: number; ambiguous: number; tries: number }>(
      `SELECT (SELECT count(*)::integer FROM emails WHERE id = ANY($1::uuid[]) AND state = 'sent') AS sent,
              (SELECT count(*)::integer FROM attempts WHERE email_id = ANY($1::uuid[]) AND ambiguous) AS ambiguous,
              (SELECT count(*)::integer FROM attempts WHERE email_id = ANY($1::uuid[])) AS tries`,
      [ids],
    );
    const [counts] = rows;
    if (counts === undefined) throw new Error('no counts');
    return counts;
  }

  /** What a run counts on the provider's side. */
  interface Server {
    timesAccepted(id: string): number;
    readonly duplicates: number;
  }

  /**
   * Starts the consumer on a topology of its own with `env` over the defaults, publishes
   * {@link EMAILS} emails and waits until the server has each and the ledger has them all sent.
   * `budgetMs`: from what the run does (emails x delay / connections), with room for a busy
   * machine. Prints what it counted, also when it did not finish.
   */
  async function run(what: string, env: Record<string, string>, server: Server, budgetMs: number) {
    const prefix = uniquePrefix('slow');
    prefixes.push(prefix);
    const { url } = await testLedger();
    const consumer = runService(main, { AMQP_URL, AMQP_PREFIX: prefix, DATABASE_URL: url, ...env });
    services.push(consumer);
    await consumer.logged((line) => line['message'] === 'consuming');
    const started = Date.now();
    const ids = await publish(prefix, EMAILS);
    try {
      // The server's count is in this process: cheap to look at often. The ledger is asked once it is full.
      await until(() => ids.every((id) => server.timesAccepted(id) > 0), 'the server has every email', budgetMs);
      await until(async () => (await ledgerCounts(ids)).sent === ids.length, 'the ledger has every email sent');
    } finally {
      const counts = await ledgerCounts(ids);
      const reached = ids.filter((id) => server.timesAccepted(id) > 0).length;
      process.stdout.write(
        `${what}: ${reached} of ${EMAILS} emails at the server after ${((Date.now() - started) / 1000).toFixed(1)} s, ` +
          `${server.duplicates} of them sent twice or more; ledger: ${counts.sent} sent, ${counts.tries} tries, ` +
          `${counts.ambiguous} ambiguous\n`,
      );
    }
    consumer.child.kill('SIGTERM');
    expect(await consumer.exited).toBe(0);
    return { ids, counts: await ledgerCounts(ids) };
  }

  /** The fake Postmark's counts, in the shape a run reads. */
  const postmarkServer = (): Server => ({
    timesAccepted: (id) => postmark.acceptedCount(id),
    get duplicates() {
      return postmark.duplicates;
    },
  });

  /** The promise: each email at the server exactly once, one try each in the ledger, none ambiguous. */
  function expectSentOnce(server: Server, outcome: Awaited<ReturnType<typeof run>>): void {
    expect(outcome.ids.filter((id) => server.timesAccepted(id) === 1)).toHaveLength(EMAILS);
    expect(server.duplicates).toBe(0);
    expect(outcome.counts).toEqual({ sent: EMAILS, ambiguous: 0, tries: EMAILS });
  }

  it('when an SMTP server takes 1.6 s per message and every setting is at its default, then 300 emails go out once each', async () => {
    smtp.slowDown(1600);
    const env = { PROVIDERS: 'smtp', SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port) };
    // 300 x 1.6 s over 5 connections is 96 s; each of the 100 taken at once waits up to 32 s,
    // past SMTP_TIMEOUT (30 s).
    expectSentOnce(smtp, await run('SMTP at 1.6 s/message, defaults', env, smtp, 240_000));
  }, 300_000);

  it('when an SMTP server takes 200 ms per message with SMTP_TIMEOUT=3s, then 300 emails go out once each', async () => {
    smtp.slowDown(200);
    const env = { PROVIDERS: 'smtp', SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port), SMTP_TIMEOUT: '3s' };
    // 300 x 200 ms over 5 connections is 12 s; the 100 taken at once wait up to 4 s, past the timeout.
    expectSentOnce(smtp, await run('SMTP at 200 ms/message, SMTP_TIMEOUT=3s', env, smtp, 120_000));
  }, 180_000);

  it('when Postmark takes 200 ms per email with POSTMARK_TIMEOUT=3s and 5 connections, then 300 emails go out once each', async () => {
    // At its defaults Postmark has as many connections as PREFETCH, so no send waits for one: five
    // connections make sends wait as SMTP's do.
    postmark.slowDown(200);
    const env = {
      PROVIDERS: 'postmark',
      POSTMARK_SERVER_TOKEN: postmark.token,
      POSTMARK_API_HOST: postmark.host,
      POSTMARK_TIMEOUT: '3s',
      POSTMARK_MAX_CONNECTIONS: '5',
    };
    const server = postmarkServer();
    expectSentOnce(
      server,
      await run('Postmark at 200 ms/email, POSTMARK_TIMEOUT=3s, 5 connections', env, server, 120_000),
    );
  }, 180_000);

  it('when Postmark takes 1.6 s per email and every setting is at its default, then 300 emails go out once each', async () => {
    postmark.slowDown(1600);
    const env = { PROVIDERS: 'postmark', POSTMARK_SERVER_TOKEN: postmark.token, POSTMARK_API_HOST: postmark.host };
    const server = postmarkServer();
    // 300 at once over 300 connections (PREFETCH and POSTMARK_MAX_CONNECTIONS 300): about 1.6 s.
    expectSentOnce(server, await run('Postmark at 1.6 s/email, defaults', env, server, 120_000));
  }, 180_000);
});
