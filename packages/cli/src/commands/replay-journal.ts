import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { CliError, EXIT } from '../io';

/**
 * A replay's journal: the ids whose copy is confirmed, one per line, after a first line with
 * the time the replay started. Re-running with the same journal acks those without a second
 * copy (unless a copy was parked again since); a replay that completes removes it.
 */
export interface Journal {
  readonly ids: string[];
  readonly since: Date;
  add(id: string): void;
  remove(): void;
}

const JOURNAL_HEADER = '# mailer dead-letters replay journal, started ';

/** Opens the journal at `path`, or starts one there; a file that is not a journal is a usage error. */
export function openJournal(path: string): Journal {
  let since = new Date();
  let ids: string[] = [];
  if (existsSync(path)) {
    const [first = '', ...rest] = readFileSync(path, 'utf8').split('\n');
    const started = first.startsWith(JOURNAL_HEADER) ? new Date(first.slice(JOURNAL_HEADER.length)) : undefined;
    if (started === undefined || Number.isNaN(started.getTime())) {
      throw new CliError(
        `${path} is not a replay journal (its first line must be "${JOURNAL_HEADER}<time>")`,
        EXIT.usage,
      );
    }
    since = started;
    ids = rest.filter((line) => line !== '');
  } else {
    writeFileSync(path, `${JOURNAL_HEADER}${since.toISOString()}\n`, { flag: 'wx' });
  }
  return {
    ids,
    since,
    // Written (synchronously) after the copy is confirmed and before the parked one is acked.
    add: (id) => appendFileSync(path, `${id}\n`),
    remove: () => rmSync(path, { force: true }),
  };
}
