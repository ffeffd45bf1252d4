// Ledger writes with and without batching, same run, same database: part of `pnpm bench`
// (`pnpm bench -- --only=ledger` alone). Each mode records EMAILS accepted emails from CONCURRENCY callers
// (the producer's path), then as many keyed requests (reserve the key and record, then store the
// answer: the producer's path with an Idempotency-Key), then claims and records each accepted
// email as sent (the consumer's path), and prints
// emails per second, statements per email and the CPU PostgreSQL's processes spent per email
// (from /proc, every postgres process on the machine: other load counts too). Uses a database of its own, dropped at the end.
import { randomUUID } from 'node:crypto';
import ledgerPackage from '@mailer/ledger';
import { createBenchDatabase, postgresCpuSeconds } from '../support/postgres.mjs';

const { Ledger } = ledgerPackage;
const short = process.env.BENCH_SHORT === '1';
const EMAILS = Number(process.env.EMAILS ?? (short ? 1000 : 5000));
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 50);
const POOL = 8;

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
  const keyedIds = Array.from({ length: EMAILS }, () => randomUUID());
  const now = new Date();
  const run = async (phase, work) => {
    statements = 0;
    const cpuBefore = postgresCpuSeconds();
    const start = process.hrtime.bigint();
    await drive(EMAILS, CONCURRENCY, work);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const cpuMsPerEmail = ((postgresCpuSeconds() - cpuBefore) * 1000) / EMAILS;
    console.log(
      `${name.padEnd(12)} ${phase.padEnd(31)} ${Math.round(EMAILS / seconds)
        .toString()
        .padStart(7)} emails/s  ${(statements / EMAILS).toFixed(3)} statements/email  ` +
        `${cpuMsPerEmail.toFixed(3)} ms PostgreSQL CPU/email`,
    );
  };
  await run('recordAccepted', (k) =>
    ledger.recordAccepted([{ id: ids[k], client: 'bench', acceptedAt: now, recipients: ['a@example.com'] }]),
  );
  await run('keyed: reserve+record, complete', async (k) => {
    const email = { id: keyedIds[k], client: 'bench', acceptedAt: now, recipients: ['a@example.com'] };
    const request = {
      client: 'bench',
      key: `bench-${name}-${k}`,
      token: randomUUID(),
      requestHash: 'bench',
      ttlMs: 86_400_000,
      staleAfterMs: 60_000,
    };
    const outcome = await ledger.reserveKeyAndRecord(request, [email]);
    if (outcome.outcome !== 'new') throw new Error(`a fresh key was answered ${outcome.outcome}`);
    await ledger.completeIdempotencyKey({ reservation: outcome.reservation, status: 202, body: { id: email.id } });
  });
  await run('claim + recordSent', async (k) => {
    await ledger.claimAttempt({ id: ids[k], attempt: 1, provider: 'bench' });
    await ledger.recordSent({ id: ids[k], attempt: 1, provider: 'bench', providerMessageId: `m-${k}` });
  });
}

const database = await createBenchDatabase('ledger_bench');
const pool = ledgerPackage.createPool({ url: database.url, max: POOL });
try {
  console.log(`\nledger bench: ${EMAILS} emails, ${CONCURRENCY} concurrent callers, pool of ${POOL}`);
  await measure('unbatched', pool, { maxItems: 1, maxConcurrent: POOL });
  await measure('batched', pool, { maxItems: 100, maxConcurrent: 2 });
} finally {
  await pool.end();
  await database.drop();
}
