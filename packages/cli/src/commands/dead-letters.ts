import type { Command } from 'commander';
import { sharedKeys, type Values } from '@mailer/config';
import type { ConfirmPublisher } from '@mailer/amqp';
import { DeadLetters, type DeadLetterFilter } from '@mailer/dead-letters';
import { Ledger, createPool, ledgerKeys } from '@mailer/ledger';
import { CliError, EXIT, configFrom, type Io } from '../io';
import {
  filterOf,
  parkedJson,
  parkedTable,
  progressBar,
  rate,
  withFilters,
  type FilterOptions,
} from './dead-letters-options';
import { openJournal } from './replay-journal';
import { withBroker } from './broker-session';

const keys = {
  amqpUrl: sharedKeys.amqpUrl,
  amqpPrefix: sharedKeys.amqpPrefix,
  retryDelaysMs: sharedKeys.retryDelaysMs,
  webhookRetryDelaysMs: sharedKeys.webhookRetryDelaysMs,
  deliveryLimit: sharedKeys.deliveryLimit,
  ledger: ledgerKeys.ledger,
  databaseUrl: ledgerKeys.databaseUrl,
};
type Config = Values<typeof keys>;

const environment = `
Reads AMQP_URL, AMQP_PREFIX, RETRY_DELAYS, WEBHOOK_RETRY_DELAYS and DELIVERY_LIMIT from the environment, as the services
do (replay also LEDGER and DATABASE_URL). Filters combine with AND; a list matches any of its values.`;

/**
 * Runs `work` with the dead-letter queue on one confirm channel of its own (the topology declared,
 * as the services do). What `work` throws other than a refusal stops the command, and what it did
 * not ack is still parked.
 */
async function withDeadLetters<T>(
  io: Io,
  config: Config,
  work: (letters: DeadLetters, publisher: ConfirmPublisher) => Promise<T>,
): Promise<T> {
  return withBroker(io, config, async ({ channel, publisher, topology }) => {
    try {
      return await work(new DeadLetters(channel, topology), publisher);
    } catch (error) {
      if (error instanceof CliError) throw error;
      // The engine gives back whatever it did not ack: nothing is out of the queue uncopied.
      throw new CliError(`stopped: ${(error as Error).message}; what was not done is still parked`);
    }
  });
}

/** Draws a progress bar on stderr when a person watches; a script sees only the result. */
function progress(io: Io, verb: string) {
  let drawn = false;
  return {
    step: (done: number, total: number) => {
      if (io.interactive !== true) return;
      io.err(`\r${progressBar(done, total, verb)}`);
      drawn = true;
    },
    end: () => {
      if (drawn) io.err('\n');
      drawn = false;
    },
  };
}

async function ask(io: Io, question: string): Promise<boolean> {
  if (io.ask === undefined) return false;
  const answer = (await io.ask(question)).trim().toLowerCase();
  return answer === 'y' || answer === 'yes';
}

/** `list`: the parked emails that match, as a table or JSON. */
async function listParked(io: Io, options: FilterOptions & { json?: boolean }): Promise<void> {
  const config = configFrom(keys, io);
  const views = await withDeadLetters(io, config, (letters) => letters.list(filterOf(options)));
  if (options.json === true) io.out(`${JSON.stringify(views.map(parkedJson))}\n`);
  else io.out(`${views.length === 0 ? '' : `${parkedTable(views)}\n`}${views.length} parked email(s) match\n`);
}

/** `show`: one parked email, field by field or as JSON. */
async function showParked(io: Io, id: string, options: { json?: boolean }): Promise<void> {
  const config = configFrom(keys, io);
  const view = await withDeadLetters(io, config, (letters) => letters.show(id));
  if (view === undefined) throw new CliError(`no parked email ${id}`);
  const shown = parkedJson(view);
  io.out(
    options.json === true
      ? `${JSON.stringify(shown)}\n`
      : Object.entries(shown)
          .map(
            ([name, value]) =>
              `${`${name}:`.padEnd(17)}${Array.isArray(value) ? value.join(', ') : String(value ?? '-')}`,
          )
          .join('\n') + '\n',
  );
}

/** `replay`: the matching parked emails back to the work queue, rate-capped and resumable. */
async function replayParked(
  io: Io,
  options: FilterOptions & { rate: number; journal?: string; json?: boolean },
): Promise<void> {
  const config = configFrom(keys, io);
  const journal = options.journal === undefined ? undefined : openJournal(options.journal);
  const pool = config.ledger === 'on' ? createPool({ url: config.databaseUrl, max: 1 }) : undefined;
  const ledger = pool === undefined ? undefined : new Ledger({ db: pool });
  const bar = progress(io, 'replayed');
  try {
    const result = await withDeadLetters(io, config, (letters, publisher) =>
      letters.replay(publisher, filterOf(options), {
        ratePerSecond: options.rate,
        ...(journal === undefined ? {} : { resume: journal.ids, resumeSince: journal.since }),
        ...(ledger === undefined ? {} : { ledgerAttempt: (client, id) => ledger.attemptOf(client, id) }),
        onProgress: ({ done, matched, id }) => {
          if (id !== undefined) journal?.add(id);
          bar.step(done, matched);
        },
      }),
    );
    bar.end();
    journal?.remove();
    io.out(
      options.json === true
        ? `${JSON.stringify({ replayed: result.replayed, skipped_without_id: result.skipped, kept: result.kept })}\n`
        : `replayed ${result.replayed.length} parked email(s); ${result.kept} left parked` +
            `${result.skipped === 0 ? '' : ` (${result.skipped} matching but without an id)`}\n`,
    );
  } finally {
    bar.end();
    await pool?.end();
  }
}

/** `purge`: the matching parked emails deleted for good, after asking. */
async function purgeParked(io: Io, options: FilterOptions & { yes?: boolean; json?: boolean }): Promise<void> {
  if (options.yes !== true && io.interactive !== true) {
    throw new CliError(
      'purge deletes parked emails for good: give --yes, or run it in a terminal to be asked',
      EXIT.usage,
    );
  }
  const config = configFrom(keys, io);
  const bar = progress(io, 'purged');
  try {
    const result = await withDeadLetters(io, config, async (letters) => {
      const filter = filterOf(options);
      const matching = await letters.list(filter);
      const ids = matching.flatMap((view) => (view.id === undefined ? [] : [view.id]));
      const withoutId = matching.length - ids.length;
      if (withoutId > 0)
        io.err(
          `mailer: ${withoutId} matching parked email(s) have no id and are left; delete them in the management UI\n`,
        );
      if (ids.length === 0) return { purged: [], kept: undefined };
      if (options.yes !== true) {
        io.err(`${parkedTable(matching.filter((view) => view.id !== undefined))}\n`);
        if (!(await ask(io, `Delete these ${ids.length} parked email(s) for good? [y/N] `))) {
          throw new CliError('purge cancelled: nothing was deleted');
        }
      }
      const exact: DeadLetterFilter = { ...filter, ids };
      return letters.purge(exact, ({ done, matched }) => bar.step(done, matched));
    });
    bar.end();
    io.out(
      options.json === true
        ? `${JSON.stringify({ purged: result.purged, kept: result.kept ?? null })}\n`
        : `purged ${result.purged.length} parked email(s)\n`,
    );
  } finally {
    bar.end();
  }
}

/** `mailer dead-letters list|show|replay|purge`. */
export function deadLettersCommand(program: Command, io: Io): void {
  const group = program
    .command('dead-letters')
    .description('read, replay and purge parked emails (the dead-letter queue)');

  withFilters(group.command('list'))
    .description('print the parked emails that match, oldest first; the queue is left as it was')
    .option('--json', 'print a JSON array, one object per parked email')
    .addHelpText(
      'after',
      `${environment}

Examples:
  pnpm mailer dead-letters list --kind provider-unavailable,transient
  pnpm mailer dead-letters list --reason recipient-rejected --older-than 48h --json`,
    )
    .action((options: FilterOptions & { json?: boolean }) => listParked(io, options));

  group
    .command('show')
    .description('print one parked email: why it was parked, each provider tried, its last failure')
    .argument('<id>', 'the email id')
    .option('--json', 'print one JSON object')
    .addHelpText('after', environment)
    .action((id: string, options: { json?: boolean }) => showParked(io, id, options));

  withFilters(group.command('replay'))
    .description('send the matching parked emails back to the work queue, each with a fresh delivery history')
    .option('--rate <n>', 'at most this many emails per second', rate, 10)
    .option('--journal <file>', 'record each confirmed copy in this file; re-run with it to resume')
    .option('--json', 'print the result as one JSON object')
    .addHelpText(
      'after',
      `${environment}

Each copy is confirmed by the broker before its parked original is acked: an email is never in
neither queue. Interrupted, a re-run continues with what is still parked; with --journal it also
skips a second copy of the email whose copy was confirmed just before the interruption. A replay
that completes removes its journal.

Examples:
  pnpm mailer dead-letters replay --kind provider-unavailable --rate 20
  pnpm mailer dead-letters replay --id 01890a5d-ac96-774b-bcce-b302099a8057
  pnpm mailer dead-letters replay --reason max-attempts --journal /tmp/replay.journal`,
    )
    .action((options: FilterOptions & { rate: number; journal?: string; json?: boolean }) => replayParked(io, options));

  withFilters(group.command('purge'))
    .description('delete the matching parked emails for good, after asking (or with --yes)')
    .option('-y, --yes', 'do not ask; needed when stdin is not a terminal')
    .option('--json', 'print the result as one JSON object')
    .addHelpText(
      'after',
      `${environment}

Lists what matches and asks before deleting; exactly the emails listed are deleted (one parked
after the question is not). Without a terminal it refuses unless --yes is given.

Examples:
  pnpm mailer dead-letters purge --reason recipient-rejected --older-than 7d
  pnpm mailer dead-letters purge --id 01890a5d-ac96-774b-bcce-b302099a8057 --yes`,
    )
    .action((options: FilterOptions & { yes?: boolean; json?: boolean }) => purgeParked(io, options));
}
