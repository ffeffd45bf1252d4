import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { InvalidArgumentError, type Command } from 'commander';
import { recipientSecretProblems, sharedKeys } from '@mailer/config';
import {
  MAX_SUPPRESSION_NOTE_LENGTH,
  MAX_SUPPRESSION_PAGE_SIZE,
  Patterns,
  RecipientHasher,
  SUPPRESSION_REASONS,
  maskAddress,
  suppressionAddressProblem,
  suppressionJson,
  type SuppressionEntry,
  type SuppressionJson,
  type SuppressionListReason,
} from '@mailer/contract';
import { Ledger, createPool, ledgerKeys, recipientHasherOf } from '@mailer/ledger';
import { CliError, EXIT, configFrom, type Io } from '../io';
import { age, count, progressBar } from './dead-letters-options';
import { isHeader, readImportLine } from './suppression-lines';

const keys = {
  ledger: ledgerKeys.ledger,
  databaseUrl: ledgerKeys.databaseUrl,
  recipientHashSecret: sharedKeys.recipientHashSecret,
  recipientHashPreviousSecrets: sharedKeys.recipientHashPreviousSecrets,
};

const environment = `
Reads LEDGER, DATABASE_URL, RECIPIENT_HASH_SECRET and RECIPIENT_HASH_PREVIOUS_SECRETS from the
environment, as the services do: the same secrets, or the keys would not meet. The list is the
deployment's, shared by every API key. A full address is never printed: the one given is echoed
masked (j***@example.org).`;

/** Addresses added in one statement by `import`. */
export const IMPORT_BATCH_SIZE = 500;

/** Line numbers of invalid lines an import names at most (it counts them all). */
const MAX_NAMED_LINES = 100;

/** The ledger with the recipient keys, opened for one command and closed after it. */
interface ListAccess {
  readonly ledger: Ledger;
  readonly hasher: RecipientHasher;
}

async function withList<T>(io: Io, work: (access: ListAccess) => Promise<T>): Promise<T> {
  const config = configFrom(keys, io);
  if (config.ledger === 'off') throw new CliError('LEDGER=off: the suppression list is kept in the ledger', EXIT.usage);
  const [secretProblem] = recipientSecretProblems(config);
  if (secretProblem !== undefined) throw new CliError(secretProblem, EXIT.usage);
  const hasher = recipientHasherOf(config);
  const pool = createPool({ url: config.databaseUrl, max: 1 });
  try {
    return await work({ ledger: new Ledger({ db: pool, hasher }), hasher });
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`the ledger could not be read or written: ${(error as Error).message}`);
  } finally {
    await pool.end();
  }
}

/** An address as given on the command line: refused (exit 2) as the API would refuse it. */
function address(raw: string): string {
  const problem = suppressionAddressProblem(raw);
  if (problem !== undefined) throw new InvalidArgumentError(`${problem}.`);
  return raw;
}

const noControl = new RegExp(Patterns.noControlCharacters);

/** A note: 1-500 characters, no control characters (it is printed in tables). */
function note(raw: string): string {
  if (raw.length === 0 || raw.length > MAX_SUPPRESSION_NOTE_LENGTH || !noControl.test(raw)) {
    throw new InvalidArgumentError(`must be 1-${MAX_SUPPRESSION_NOTE_LENGTH} characters without control characters.`);
  }
  return raw;
}

/** Who an entry or a removal is by: `cli:<USER>` when the login name is plain, else `cli`. */
function operator(io: Io): string {
  const user = io.env['USER'] ?? io.env['LOGNAME'];
  return user !== undefined && /^[A-Za-z0-9_.-]{1,60}$/.test(user) ? `cli:${user}` : 'cli';
}

/** One row of the list's table: the cells padded to their columns, the note last. */
function row(cells: readonly [string, string, string, string, string, string]): string {
  const widths = [30, 18, 24, 24, 16, 0];
  return cells
    .map((cell, column) => cell.padEnd(widths[column] ?? 0))
    .join('  ')
    .trimEnd();
}

/** One entry for a person: address, reason, since, until, by, note. */
export function entryLine(view: SuppressionJson): string {
  return row([
    view.address,
    view.reason,
    view.created_at,
    view.expires_at ?? 'never',
    view.created_by ?? '-',
    view.note ?? '',
  ]);
}

const tableHeader = row(['ADDRESS', 'REASON', 'SINCE', 'EXPIRES', 'BY', 'NOTE']);

/** A reason of {@link SUPPRESSION_REASONS}. */
function reasonOption(raw: string): SuppressionListReason {
  const reason = SUPPRESSION_REASONS.find((known) => known === raw);
  if (reason === undefined) throw new InvalidArgumentError(`use one of ${SUPPRESSION_REASONS.join(', ')}.`);
  return reason;
}

/** `list`: every entry (or `--limit`), newest first, page by page so a long list streams. */
async function listEntries(
  io: Io,
  options: { reason?: SuppressionListReason; limit?: number; json?: boolean },
): Promise<void> {
  await withList(io, async ({ ledger }) => {
    let shown = 0;
    let cursor: string | undefined;
    io.out(options.json === true ? '[' : `${tableHeader}\n`);
    do {
      const left = options.limit === undefined ? MAX_SUPPRESSION_PAGE_SIZE : options.limit - shown;
      if (left <= 0) break;
      const page = await ledger.listSuppressions({
        limit: Math.min(left, MAX_SUPPRESSION_PAGE_SIZE),
        ...(cursor === undefined ? {} : { cursor }),
        ...(options.reason === undefined ? {} : { reason: options.reason }),
      });
      for (const view of page.items) {
        const json = suppressionJson(view);
        io.out(options.json === true ? `${shown === 0 ? '' : ','}${JSON.stringify(json)}` : `${entryLine(json)}\n`);
        shown += 1;
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    io.out(options.json === true ? ']\n' : `${shown} entr${shown === 1 ? 'y' : 'ies'}\n`);
  });
}

/** `check`: exit 0 and the entry when the address is suppressed, exit 1 when it is not. */
async function checkAddress(io: Io, given: string, options: { json?: boolean }): Promise<void> {
  const view = await withList(io, ({ ledger, hasher }) => ledger.findSuppression(hasher.candidates(given)));
  const masked = maskAddress(given);
  if (options.json === true) {
    io.out(
      `${JSON.stringify({ address: masked, suppressed: view !== null, entry: view === null ? null : suppressionJson(view) })}\n`,
    );
  } else if (view === null) {
    io.out(`${masked}: not suppressed\n`);
  } else {
    const json = suppressionJson(view);
    io.out(
      `${masked}: suppressed (${json.reason}) since ${json.created_at}, ` +
        (json.expires_at === null ? 'until removed' : `until ${json.expires_at}`) +
        `${json.created_by === null ? '' : `, by ${json.created_by}`}${json.note === null ? '' : `: ${json.note}`}\n`,
    );
  }
  // Said on stdout already; the exit code is for scripts (`if mailer suppressions check ...`).
  if (view === null) throw new CliError('', EXIT.failed);
}

/** The entry `add` and `import` write for an address. */
function manualEntry(
  io: Io,
  hasher: RecipientHasher,
  given: string,
  options: { note?: string; expires?: number },
  now: number,
): SuppressionEntry {
  return {
    hashes: hasher.candidates(given),
    masked: maskAddress(given),
    reason: 'manual',
    createdBy: operator(io),
    ...(options.note === undefined ? {} : { note: options.note }),
    ...(options.expires === undefined ? {} : { expiresAt: new Date(now + options.expires) }),
  };
}

/** `add`: puts one address on the list (reason manual). */
async function addAddress(
  io: Io,
  given: string,
  options: { note?: string; expires?: number; json?: boolean },
): Promise<void> {
  const { added, view } = await withList(io, async ({ ledger, hasher }) => {
    const candidates = hasher.candidates(given);
    const before = await ledger.findSuppression(candidates);
    const [changed] = await ledger.addSuppressions([manualEntry(io, hasher, given, options, Date.now())]);
    return { added: before === null && changed === true, view: await ledger.findSuppression(candidates) };
  });
  const masked = maskAddress(given);
  const json = view === null ? null : suppressionJson(view);
  if (options.json === true) {
    io.out(`${JSON.stringify({ address: masked, added, entry: json })}\n`);
    return;
  }
  const until = json?.expires_at ?? null;
  io.out(
    added
      ? `added ${masked} (manual${until === null ? '' : `, until ${until}`})\n`
      : `${masked} was already suppressed (${json?.reason ?? 'manual'} since ${json?.created_at ?? '-'})` +
          `${until === null ? '' : `; it expires ${until}`}\n`,
  );
}

/** `remove`: takes one address off the list; exit 1 when it was not on it. */
async function removeAddress(io: Io, given: string, options: { note?: string; json?: boolean }): Promise<void> {
  const removed = await withList(io, ({ ledger, hasher }) =>
    ledger.removeSuppression(hasher.candidates(given), options.note, operator(io)),
  );
  const masked = maskAddress(given);
  io.out(
    options.json === true
      ? `${JSON.stringify({ address: masked, removed })}\n`
      : removed
        ? `removed ${masked}\n`
        : `${masked} was not on the suppression list\n`,
  );
  if (!removed) throw new CliError('', EXIT.failed);
}

/** Lines of a file, one at a time, without holding the file. */
function linesOf(file: string): AsyncIterable<string> {
  return createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
}

/** What an import did, as `--json` prints it. */
export interface ImportSummary {
  lines: number;
  addresses: number;
  added: number;
  already_suppressed: number;
  invalid: number;
  /** The first 100 invalid lines' numbers (from 1); never their text, which may hold an address. */
  invalid_lines: number[];
}

/** `import FILE`: every address of the file, in statements of {@link IMPORT_BATCH_SIZE}. */
async function importFile(
  io: Io,
  file: string,
  options: { note?: string; expires?: number; json?: boolean },
): Promise<void> {
  try {
    if (!statSync(file).isFile()) throw new Error('not a file');
  } catch {
    throw new CliError(`${file} is not a file that can be read`, EXIT.usage);
  }
  const summary: ImportSummary = {
    lines: 0,
    addresses: 0,
    added: 0,
    already_suppressed: 0,
    invalid: 0,
    invalid_lines: [],
  };
  // The bar needs a total: a first pass counts the lines when a person watches.
  let total = 0;
  if (io.interactive === true) for await (const _line of linesOf(file)) total += 1;
  const bar = {
    drawn: false,
    step: () => {
      if (io.interactive !== true) return;
      io.err(`\r${progressBar(summary.lines, total, 'lines')}`);
      bar.drawn = true;
    },
    end: () => {
      if (bar.drawn) io.err('\n');
      bar.drawn = false;
    },
  };
  try {
    await withList(io, async ({ ledger, hasher }) => {
      let batch: SuppressionEntry[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        const changed = await ledger.addSuppressions(batch);
        const added = changed.filter(Boolean).length;
        summary.added += added;
        summary.already_suppressed += changed.length - added;
        batch = [];
        bar.step();
      };
      let first = true;
      for await (const text of linesOf(file)) {
        summary.lines += 1;
        const line = readImportLine(text);
        if (line.kind === 'skip') continue;
        const header = first && isHeader(line);
        first = false;
        if (header) continue;
        if (line.kind === 'invalid' || suppressionAddressProblem(line.address) !== undefined) {
          summary.invalid += 1;
          if (summary.invalid_lines.length < MAX_NAMED_LINES) summary.invalid_lines.push(summary.lines);
          continue;
        }
        summary.addresses += 1;
        batch.push(manualEntry(io, hasher, line.address, options, Date.now()));
        if (batch.length >= IMPORT_BATCH_SIZE) await flush();
      }
      await flush();
    });
  } catch (error) {
    bar.end();
    if (error instanceof CliError && error.exitCode === EXIT.usage) throw error;
    throw new CliError(
      `stopped after line ${summary.lines}: ${(error as Error).message}; ${summary.added} added so far. ` +
        'Run the same import again to finish: addresses already added count as already suppressed.',
    );
  }
  bar.end();
  if (options.json === true) {
    io.out(`${JSON.stringify(summary)}\n`);
    return;
  }
  const lines =
    summary.invalid_lines.length === 0
      ? ''
      : ` (line${summary.invalid === 1 ? '' : 's'} ${summary.invalid_lines.join(', ')}` +
        `${summary.invalid > summary.invalid_lines.length ? ', ...' : ''})`;
  io.out(
    `read ${summary.addresses} address(es) from ${summary.lines} line(s): ${summary.added} added, ` +
      `${summary.already_suppressed} already suppressed, ${summary.invalid} invalid${lines}\n`,
  );
}

/** `mailer suppressions list|check|add|remove|import`. */
export function suppressionsCommand(program: Command, io: Io): void {
  const group = program
    .command('suppressions')
    .description("read and change the deployment's suppression list (in the ledger)");

  group
    .command('list')
    .description('print the entries, newest first, addresses masked')
    .option('--reason <reason>', `only this reason: ${SUPPRESSION_REASONS.join(', ')}`, reasonOption)
    .option('--limit <n>', 'at most this many', count)
    .option('--json', 'print a JSON array, one object per entry (as the API answers them)')
    .addHelpText(
      'after',
      `${environment}

Examples:
  pnpm mailer suppressions list --reason complaint
  pnpm mailer suppressions list --limit 20 --json`,
    )
    .action((options: { reason?: SuppressionListReason; limit?: number; json?: boolean }) => listEntries(io, options));

  group
    .command('check')
    .description('say whether an address is suppressed: exit 0 if it is, 1 if it is not')
    .argument('<address>', 'the full address (looked up by its keys; echoed masked)', address)
    .option('--json', 'print {"address","suppressed","entry"}')
    .addHelpText('after', environment)
    .action((given: string, options: { json?: boolean }) => checkAddress(io, given, options));

  group
    .command('add')
    .description('put an address on the list (reason manual)')
    .argument('<address>', 'the full address (stored only as its key and masked)', address)
    .option('--note <text>', 'why, kept with the entry and in its history', note)
    .option('--expires <duration>', 'remove it by itself after this long (90m, 48h, 720h); default never', age)
    .option('--json', 'print {"address","added","entry"}')
    .addHelpText(
      'after',
      `${environment}

An address already on the list keeps its reason and first source; a later expiry extends it.

Example:
  pnpm mailer suppressions add jane@example.org --note "asked to stop, ticket 42"`,
    )
    .action((given: string, options: { note?: string; expires?: number; json?: boolean }) =>
      addAddress(io, given, options),
    );

  group
    .command('remove')
    .description('take an address off the list (the history keeps the removal): exit 1 if it was not on it')
    .argument('<address>', 'the full address', address)
    .option('--note <text>', 'why, kept in the history', note)
    .option('--json', 'print {"address","removed"}')
    .addHelpText('after', environment)
    .action((given: string, options: { note?: string; json?: boolean }) => removeAddress(io, given, options));

  group
    .command('import')
    .description('put every address of a file on the list (reason manual)')
    .argument('<file>', 'one address per line, or CSV with the address in the first column')
    .option('--note <text>', 'kept with each new entry', note)
    .option('--expires <duration>', 'each new entry expires after this long (90m, 48h, 720h); default never', age)
    .option('--json', 'print the summary as one JSON object')
    .addHelpText(
      'after',
      `${environment}

Blank lines and lines starting with # are skipped, and so is a first line whose first column has
no @ (a CSV header). The first column ends at a comma, semicolon or tab; a field in double quotes
may hold them. A line whose address is malformed is counted and named by its number, never printed.
Addresses are added ${IMPORT_BATCH_SIZE} per statement; an interrupted import can simply be run
again. A progress bar is drawn on stderr when stdin and stderr are terminals.

Example:
  pnpm mailer suppressions import bounces.csv --note "from the old provider"`,
    )
    .action((file: string, options: { note?: string; expires?: number; json?: boolean }) =>
      importFile(io, file, options),
    );
}
