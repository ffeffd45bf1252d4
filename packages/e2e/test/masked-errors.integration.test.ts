import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_DELIVERY_LIMIT, DeliveryHeaders, buildTopology, type Topology } from '@mailer/contract';
import { createPool, migrate } from '@mailer/ledger';
import {
  AMQP_URL,
  createScratchDatabase,
  deleteTopology,
  drainQueue,
  freePort,
  publishParked,
  runService,
  uniquePrefix,
  type ScratchDatabase,
  type Service,
  killServices,
} from '@mailer/testkit';
import { TestSmtpServer } from '../../consumer/test/support/smtp-server';

const mains = {
  producer: path.resolve(__dirname, '../../producer/dist/main.js'),
  consumer: path.resolve(__dirname, '../../consumer/dist/main.js'),
  cli: path.resolve(__dirname, '../../cli/dist/main.js'),
};
const KEY = 'masked-errors-key-0123456789';
const CLIENT = 'masking';
const RETRY_DELAYS = '200ms';

/**
 * A test's time: the sends and the checks (about 30 s on a loaded machine, most of it the SMTP
 * round trips and the ledger query), plus each run of the built CLI, a Node process that starts,
 * connects and exits (up to 5 s each when the machine is busy).
 */
const budgetFor = (cliRuns: number): number => 30_000 + cliRuns * 5_000;

/** The recipients of each email: To and Bcc, each quoted in full by the server's refusal. */
const EMAILS = {
  // RCPT refused for good (Postfix's wording, the address in brackets).
  rejected: { to: 'jane.doe@example.org', bcc: 'hidden.bcc@example.net' },
  // RCPT refused for now (greylisting), on both attempts: parked after MAX_ATTEMPTS=2.
  greylisted: { to: 'grey.listed@example.org', bcc: 'grey.bcc@example.net' },
  // DATA refused for good, the server naming both recipients without brackets.
  refusedData: { to: 'data.to@example.org', bcc: 'data.bcc@example.net' },
} as const;
const FULL_ADDRESSES = Object.values(EMAILS).flatMap(({ to, bcc }) => [to, bcc]);

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The first full address found in `text`, or undefined: what every check below asserts on. */
function fullAddressIn(text: string, addresses: readonly string[] = FULL_ADDRESSES): string | undefined {
  const lower = text.toLowerCase();
  return addresses.find((address) => lower.includes(address));
}

describe('an SMTP server that quotes full recipient addresses in its refusals (a private topology and ledger)', () => {
  const prefix = uniquePrefix('masked-errors');
  const topology: Topology = buildTopology({
    prefix,
    retryDelaysMs: [200],
    deliveryLimit: DEFAULT_DELIVERY_LIMIT,
  });
  const services: Service[] = [];
  let smtp: TestSmtpServer;
  let database: ScratchDatabase;
  let producer: Service;
  let consumer: Service;
  let port: number;
  let cliEnv: Record<string, string>;
  const ids: Partial<Record<keyof typeof EMAILS, string>> = {};

  /** Runs the built `mailer` as its own process, as an operator runs it. */
  function mailer(args: readonly string[]): Promise<Ran> {
    return new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [mains.cli, ...args],
        { env: { PATH: process.env['PATH'] ?? '', ...cliEnv } },
        (error, stdout, stderr) => resolve({ code: error === null ? 0 : (child.exitCode ?? null), stdout, stderr }),
      );
      child.stdin?.end();
    });
  }

  const api = async (pathname: string): Promise<{ status: number; text: string }> => {
    const response = await fetch(`http://127.0.0.1:${port}${pathname}`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    return { status: response.status, text: await response.text() };
  };

  beforeAll(async () => {
    for (const main of Object.values(mains)) {
      if (!existsSync(main)) throw new Error(`${main} is missing: run "pnpm run build" first (pnpm test does)`);
    }
    smtp = await TestSmtpServer.start();
    database = await createScratchDatabase('masked_errors');
    const pool = createPool({ url: database.url, max: 1 });
    try {
      await migrate(pool);
    } finally {
      await pool.end();
    }
    port = await freePort();
    const common = {
      AMQP_URL,
      AMQP_PREFIX: prefix,
      RETRY_DELAYS,
      LEDGER: 'on',
      DATABASE_URL: database.url,
    };
    cliEnv = common;
    const apiKeys = JSON.stringify([
      { name: CLIENT, key_sha256: createHash('sha256').update(KEY).digest('hex'), senders: ['example.com'] },
    ]);
    producer = runService(mains.producer, { ...common, LOG_LEVEL: 'debug', PORT: String(port), API_KEYS: apiKeys });
    consumer = runService(mains.consumer, {
      ...common,
      LOG_LEVEL: 'debug',
      PROVIDERS: 'smtp',
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      MAX_ATTEMPTS: '2',
    });
    services.push(producer, consumer);
    await producer.logged((line) => line['message'] === 'broker connected');
    await consumer.logged((line) => line['message'] === 'consuming');
  });

  afterAll(async () => {
    await killServices(services);
    await smtp.close();
    await database.drop();
    await deleteTopology(topology);
  });

  it(
    'when it refuses To and Bcc, for good and for now, then no full address is in the ledger, the API, the CLI, the dead-letter headers or the logs',
    async () => {
      // RCPT: each address refused with a reply quoting it, as Postfix words it.
      smtp.refuseRecipient(EMAILS.rejected.to, {
        code: 550,
        text: `5.1.1 <${EMAILS.rejected.to}>: Recipient address rejected: User unknown in virtual mailbox table`,
      });
      smtp.refuseRecipient(EMAILS.rejected.bcc, {
        code: 550,
        text: `5.1.1 <${EMAILS.rejected.bcc}>: Recipient address rejected: User unknown in virtual mailbox table`,
      });
      for (const address of [EMAILS.greylisted.to, EMAILS.greylisted.bcc]) {
        smtp.refuseRecipient(address, {
          code: 450,
          text: `4.2.0 <${address}>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.org.html`,
        });
      }
      // DATA: only this email reaches it (the others stop at RCPT).
      smtp.next('DATA', {
        code: 554,
        text: `5.0.0 Transaction failed: ${EMAILS.refusedData.to}, ${EMAILS.refusedData.bcc} refused by local policy`,
      });

      const parked = new Map<string, Promise<unknown>>();
      for (const [name, { to, bcc }] of Object.entries(EMAILS) as [
        keyof typeof EMAILS,
        { to: string; bcc: string },
      ][]) {
        const response = await fetch(`http://127.0.0.1:${port}/v1/emails`, {
          method: 'POST',
          // With a key, so the idempotency table (its stored answer) is among the columns searched.
          headers: {
            authorization: `Bearer ${KEY}`,
            'content-type': 'application/json',
            'idempotency-key': `${prefix}-${name}`,
          },
          body: JSON.stringify({
            from: { email: 'alerts@example.com' },
            to: [{ email: to }],
            bcc: [{ email: bcc }],
            subject: `Refused: ${name}`,
            text: 'Hello',
          }),
        });
        expect(response.status).toBe(202);
        const { id } = (await response.json()) as { id: string };
        ids[name] = id;
        parked.set(
          id,
          consumer.logged((line) => line['message'] === 'email parked' && line['email_id'] === id),
        );
      }
      await Promise.all(parked.values());
      const parkedIds = [...parked.keys()];

      // 1. The ledger: every text, varchar, json and jsonb column (arrays of them too) of every table.
      const pool = createPool({ url: database.url, max: 1 });
      const found: string[] = [];
      let maskedErrors: string[] = [];
      let columnsRead: string[] = [];
      try {
        const columns = await pool.query<{ table_name: string; column_name: string }>(
          `SELECT table_name, column_name FROM information_schema.columns
          WHERE table_schema = current_schema()
            AND (data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')
                 OR (data_type = 'ARRAY' AND udt_name IN ('_text', '_varchar', '_json', '_jsonb')))`,
        );
        columnsRead = columns.rows.map((c) => `${c.table_name}.${c.column_name}`);
        for (const { table_name: table, column_name: column } of columns.rows) {
          const hits = await pool.query<{ value: string }>(
            `SELECT t.${quoteIdent(column)}::text AS value FROM ${quoteIdent(table)} t
            WHERE t.${quoteIdent(column)} IS NOT NULL
              AND EXISTS (SELECT 1 FROM unnest($1::text[]) AS a WHERE strpos(lower(t.${quoteIdent(column)}::text), a) > 0)`,
            [FULL_ADDRESSES],
          );
          found.push(...hits.rows.map((row) => `${table}.${column}: ${row.value}`));
        }
        const errors = await pool.query<{ error: string }>(
          'SELECT error FROM attempts WHERE email_id = ANY($1::uuid[]) AND error IS NOT NULL ORDER BY seq',
          [parkedIds],
        );
        maskedErrors = errors.rows.map((row) => row.error);
      } finally {
        await pool.end();
      }
      expect(columnsRead).toEqual(
        expect.arrayContaining(['attempts.error', 'emails.recipients', 'idempotency_keys.response_body']),
      );
      expect(found).toEqual([]);
      // The texts are there, masked (not dropped): one per try, 1 + 2 + 1.
      expect(maskedErrors).toHaveLength(4);
      expect(maskedErrors.join('\n')).toEqual(
        expect.stringContaining('h***@example.net>: Recipient address rejected: User unknown'),
      );
      expect(maskedErrors.join('\n')).toEqual(expect.stringContaining('g***@example.'));
      expect(maskedErrors.join('\n')).toEqual(expect.stringContaining('d***@example.org, d***@example.net refused'));

      // 2. The API: each email's record, and the list.
      for (const id of parkedIds) {
        const { status, text } = await api(`/v1/emails/${id}`);
        expect({ status, full: fullAddressIn(text) }).toEqual({ status: 200, full: undefined });
        expect(text).toContain('***@example.');
      }
      const list = await api('/v1/emails?status=parked');
      expect({ status: list.status, full: fullAddressIn(list.text) }).toEqual({ status: 200, full: undefined });

      // 3. The CLI, built, as an operator runs it.
      // One at a time: a reader of the dead-letter queue holds what it reads until it is done.
      const commands = [
        ['dead-letters', 'list'],
        ['dead-letters', 'list', '--json'],
        ...parkedIds.flatMap((id) => [
          ['dead-letters', 'show', id],
          ['dead-letters', 'show', id, '--json'],
          ['emails', 'show', id, '--client', CLIENT],
          ['emails', 'show', id, '--client', CLIENT, '--json'],
        ]),
      ];
      const runs: Ran[] = [];
      for (const command of commands) runs.push(await mailer(command));
      expect(runs.map((run) => run.code)).toEqual(runs.map(() => 0));
      expect(runs.map((run) => fullAddressIn(run.stdout + run.stderr)).filter(Boolean)).toEqual([]);
      const listed = JSON.parse(runs[1]?.stdout ?? '[]') as { id: string; last_failure: string | null }[];
      expect(listed.map((view) => view.id).sort()).toEqual([...parkedIds].sort());
      expect(listed.every((view) => view.last_failure?.includes('***@example.') === true)).toBe(true);

      // 4. The dead-letter messages' own headers, as the broker holds them (taken off the queue).
      const headers = (await drainQueue(topology.deadQueue.name, parkedIds.length)).map(headersOf);
      expect(headers).toHaveLength(parkedIds.length);
      expect(headers.map((h) => fullAddressIn(JSON.stringify(h))).filter(Boolean)).toEqual([]);
      expect(headers.every((h) => String(h[DeliveryHeaders.lastFailure]).includes('***@example.'))).toBe(true);

      // 5. The services' logs (debug level: every line they write).
      expect(fullAddressIn(consumer.output())).toBeUndefined();
      expect(fullAddressIn(producer.output())).toBeUndefined();
    },
    budgetFor(2 + 4 * 3),
  );

  it(
    'when a try and a parked message were written before texts were masked, then the API and the CLI show them masked',
    async () => {
      const legacy = { to: 'old.row@example.org', header: 'old.header@example.net' };
      const id = ids.rejected;
      if (id === undefined) throw new Error('the first test parks this email');
      // A row as the ledger stored it before this change: the server's reply as it came.
      const pool = createPool({ url: database.url, max: 1 });
      try {
        const updated = await pool.query(`UPDATE attempts SET error = $2 WHERE email_id = $1 AND attempt = 1`, [
          id,
          `smtp: RCPT TO: 550 5.1.1 <${legacy.to}>: Recipient address rejected`,
        ]);
        expect(updated.rowCount).toBe(1);
      } finally {
        await pool.end();
      }
      // A message parked before this change: its header quotes the address.
      const parkedId = `${prefix}.legacy`;
      await publishParked(topology, [
        {
          id: parkedId,
          reason: 'recipient-rejected',
          kind: 'recipient-rejected',
          tried: 'smtp',
          parkedAt: new Date(),
          headers: { [DeliveryHeaders.lastFailure]: `smtp: 550 5.1.1 <${legacy.header}>: unknown` },
        },
      ]);
      const addresses = [legacy.to, legacy.header];

      const shown = await api(`/v1/emails/${id}`);
      expect(shown.status).toBe(200);
      expect(fullAddressIn(shown.text, addresses)).toBeUndefined();
      expect(shown.text).toContain('<o***@example.org>: Recipient address rejected');

      const runs = [
        await mailer(['emails', 'show', id, '--client', CLIENT]),
        await mailer(['emails', 'show', id, '--client', CLIENT, '--json']),
        await mailer(['dead-letters', 'show', parkedId]),
        await mailer(['dead-letters', 'show', parkedId, '--json']),
        await mailer(['dead-letters', 'list', '--json']),
      ];
      expect(runs.map((run) => run.code)).toEqual(runs.map(() => 0));
      expect(runs.map((run) => fullAddressIn(run.stdout + run.stderr, addresses)).filter(Boolean)).toEqual([]);
      expect(runs[0]?.stdout).toContain('<o***@example.org>');
      expect(runs[2]?.stdout).toContain('<o***@example.net>');
    },
    budgetFor(5),
  );
});

/** A PostgreSQL identifier, quoted (names come from information_schema). */
function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A message's headers with their byte values (how amqplib reads long strings) as text. */
function headersOf(message: Awaited<ReturnType<typeof drainQueue>>[number]): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(message.properties.headers ?? {}).map(([name, value]) => [
      name,
      Buffer.isBuffer(value) ? value.toString('utf8') : (value as unknown),
    ]),
  );
}
