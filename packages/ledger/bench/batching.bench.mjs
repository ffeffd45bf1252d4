// Ledger writes with and without batching, same run, same database: `pnpm --filter @mailer/ledger bench`
// (after `pnpm run build`). Each mode records EMAILS accepted emails from CONCURRENCY callers
// (the producer's path), then claims and records each as sent (the consumer's path), and prints
// emails per second, statements per email and the CPU PostgreSQL's processes spent per email
// (from /proc, every postgres process on the machine: other load counts too). Uses a database of its own, dropped at the end.
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import ledgerPackage from '../dist/index.js';

const { createPool, databaseName, ensureDatabase, migrate, withDatabase, Ledger } = ledgerPackage;
const SERVER_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const EMAILS = Number(process.env.EMAILS ?? 5000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 50);
const POOL = 8;

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds (user + system) of every process named postgres, from /proc; 0 where /proc is absent. */
function postgresCpuSeconds() {
  let ticks = 0;
  let entries = [];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return 0;
  }
  for (const pid of entries) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
      const fields = stat.slice(close + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return ticks / TICKS_PER_SECOND;
}

/** Runs `work(k)` for k in 0..count-1 from `concurrency` callers at once. */
async function drive(count, concurrency, work) {
  let next = 0;
  const caller = async () => {
    while (next < count) await work(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
}

async function measure(name, pool, batch) {
  let statements = 0;
  const db = { query: (text, values) => (statements++, pool.query(text, values)) };
  const ledger = new Ledger({ db, batch });
  const ids = Array.from({ length: EMAILS }, () => randomUUID());
  const now = new Date();
  const run = async (phase, work) => {
    statements = 0;
    const cpuBefore = postgresCpuSeconds();
    const start = process.hrtime.bigint();
    await drive(EMAILS, CONCURRENCY, work);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const cpuMsPerEmail = ((postgresCpuSeconds() - cpuBefore) * 1000) / EMAILS;
    console.log(
      `${name.padEnd(12)} ${phase.padEnd(20)} ${Math.round(EMAILS / seconds)
        .toString()
        .padStart(7)} emails/s  ${(statements / EMAILS).toFixed(3)} statements/email  ` +
        `${cpuMsPerEmail.toFixed(3)} ms PostgreSQL CPU/email`,
    );
  };
  await run('recordAccepted', (k) =>
    ledger.recordAccepted([{ id: ids[k], client: 'bench', acceptedAt: now, recipients: ['a@example.com'] }]),
  );
  await run('claim + recordSent', async (k) => {
    await ledger.claimAttempt({ id: ids[k], attempt: 1, provider: 'bench' });
    await ledger.recordSent({ id: ids[k], attempt: 1, provider: 'bench', providerMessageId: `m-${k}` });
  });
}

const url = withDatabase(SERVER_URL, `ledger_bench_${randomBytes(4).toString('hex')}`);
await ensureDatabase(url);
const pool = createPool({ url, max: POOL });
try {
  await migrate(pool);
  console.log(`${EMAILS} emails, ${CONCURRENCY} concurrent callers, pool of ${POOL}`);
  await measure('unbatched', pool, { maxItems: 1, maxConcurrent: POOL });
  await measure('batched', pool, { maxItems: 100, maxConcurrent: 2 });
} finally {
  await pool.end();
  const admin = createPool({ url: SERVER_URL, max: 1 });
  await admin.query(`DROP DATABASE IF EXISTS "${databaseName(url)}" WITH (FORCE)`);
  await admin.end();
}
