// What both benches share to read their settings, print figures and end cleanly.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/** The workspace root (the benches run the built services from `packages/*\/dist`). */
export const root = resolve(import.meta.dirname, '../../..');

/** Where logs, JSON figures and CPU profiles go (git-ignored). */
export const resultsDir = join(root, 'bench-results');

/** `BENCH_SHORT=1` (`pnpm bench -- --short`): runs of a few seconds, to check the bench, not to take figures. */
export const short = process.env.BENCH_SHORT === '1';

/** A numeric knob: the environment variable `name` if set, else the short or the full default. */
export function knob(name, full, shortValue = full) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return short ? shortValue : full;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, not ${JSON.stringify(raw)}`);
  return value;
}

export const fmt = {
  int: (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-'),
  ms: (n) => (Number.isFinite(n) ? (Math.abs(n) >= 100 ? String(Math.round(n)) : n.toFixed(1)) : '-'),
  us: (n) => (Number.isFinite(n) ? `${Math.round(n)} µs` : '-'),
  pct: (n) => (Number.isFinite(n) ? `${Math.round(n)}%` : '-'),
  ratio: (n) => (Number.isFinite(n) ? n.toFixed(2) : '-'),
  mb: (n) => (Number.isFinite(n) ? `${Math.round(n)}` : '-'),
};

export const verdict = (ok) => (ok ? 'MET' : 'MISSED');

/** The q-quantile (0..1) of `values` by the nearest-rank method; NaN when empty. */
export function quantile(values, q) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Prints rows under a header, the first column left-aligned and the others right-aligned. */
export function printTable(head, rows) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(`\n${line(head)}`);
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

/** Writes `report` as JSON to `bench-results/<name>` and says where. */
export function writeReport(name, report) {
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, name);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nfigures written to ${relative(process.cwd(), file) || file}`);
}

/**
 * Runs a bench's `main`, then always `cleanUp` (unless a signal already did, which also exits 130);
 * a failure or an incomplete clean-up sets exit code 1. With a report, `finish(report)` prints and
 * saves it and returns false if the figures show a fault (lost or duplicated emails...), which
 * also sets exit code 1. Missed targets are not faults.
 */
export async function runBench({ main, cleanUp, finish }) {
  let interrupted = false;
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      interrupted = true;
      console.error(`\n${signal}: stopping the servers and removing the bench topology`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
  let report;
  let failure;
  try {
    report = await main();
  } catch (error) {
    failure = error;
  } finally {
    if (!interrupted) {
      const cleaned = await cleanUp().catch((error) => {
        console.error(`clean-up failed: ${error.message}`);
        return false;
      });
      if (!cleaned) process.exitCode = 1;
    }
  }
  if (failure !== undefined) {
    console.error(`bench failed: ${failure.stack ?? failure.message}`);
    process.exitCode = 1;
  } else if (report !== undefined && !finish(report)) {
    process.exitCode = 1;
  }
}
