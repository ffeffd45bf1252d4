import { classify } from './errors';
import type { Queryable } from './types';

/** What an email id, a reservation token or a cursor's id looks like: checked before a statement is sent. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Runs one statement and resolves with its rows. Every failure is classified here, in one place:
 * an unreachable database becomes {@link LedgerUnavailableError}, naming what the ledger was `doing`.
 */
export async function query<R extends object>(
  db: Queryable,
  doing: string,
  text: string,
  values?: unknown[],
): Promise<R[]> {
  try {
    return (await db.query(text, values)).rows as R[];
  } catch (error) {
    throw classify(error, doing);
  }
}

/**
 * Runs one of the migrations' batch functions (`fn($1::jsonb)`, answering rows `(i, result)`) over
 * `items`, and resolves with each item's result, `shape`d, in the items' order.
 */
export async function callBatch<O>(
  db: Queryable,
  fn: string,
  items: readonly object[],
  shape: (json: unknown) => O,
): Promise<O[]> {
  const rows = await query<{ i: number; result: unknown }>(
    db,
    `running ${fn}`,
    `SELECT i, result FROM ${fn}($1::jsonb)`,
    [JSON.stringify(items.map((item, i) => ({ ...item, i })))],
  );
  return byIndex(rows, items.length).map(shape);
}

/** Rows `{ i, result }` of a batch function, in the items' order. */
function byIndex<T>(rows: { i: number; result: T }[], count: number): T[] {
  const results = new Array<T | undefined>(count).fill(undefined);
  for (const row of rows) results[row.i] = row.result;
  const missing = results.indexOf(undefined);
  if (missing !== -1) throw new Error(`the batch gave no result for request ${missing}`);
  return results as T[];
}

/** Which of `count` items a statement's rows `{ i }` name: true for those it named. */
export function flags(rows: readonly { i: number }[], count: number): boolean[] {
  const hit = new Array<boolean>(count).fill(false);
  for (const row of rows) hit[row.i] = true;
  return hit;
}

/** A recipient key's length: HMAC-SHA256. */
const KEY_BYTES = 32;

/**
 * A recipient's candidate keys (`RecipientHasher.candidates`) as the statements take them: hex,
 * in order. Checked here, so a bad list fails its own caller rather than a whole batch.
 */
export function hexKeys(hashes: readonly Buffer[]): string[] {
  if (hashes.length === 0) throw new RangeError('a recipient needs at least one key');
  return hashes.map((hash) => {
    if (!Buffer.isBuffer(hash) || hash.length !== KEY_BYTES) throw new RangeError('a recipient key is 32 bytes');
    return hash.toString('hex');
  });
}
