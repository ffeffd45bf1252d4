import { createHash, randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { CliError, EXIT, type Io } from '../io';

/** One `API_KEYS` entry, exactly as the producer parses it (packages/producer/src/domain/api-keys.ts). */
export interface ApiKeysEntry {
  readonly name: string;
  readonly key_sha256: string;
  /** Absent for a key that cannot send. */
  readonly senders?: readonly string[];
  /** Absent: the producer's default, `send` and `read`. */
  readonly scopes?: readonly string[];
}

/** The scopes the producer knows (`API_KEYS` `scopes`), in its order. */
export const SCOPES = ['send', 'read', 'suppressions'] as const;

/** Reads `--scopes`: comma-separated, each known, each once, in the producer's order. */
export function parseScopes(raw: string): string[] {
  const given = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const unknown = given.filter((scope) => !(SCOPES as readonly string[]).includes(scope));
  if (given.length === 0 || unknown.length > 0) {
    throw new CliError(`--scopes must list some of ${SCOPES.join(', ')}`, EXIT.usage);
  }
  return SCOPES.filter((scope) => given.includes(scope));
}

const namePattern = /^[A-Za-z0-9_.-]{1,64}$/;
const domainPattern = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/;

/**
 * Reads `--senders`: addresses and domains, comma-separated. `*@example.org` is the producer's
 * domain entry `example.org` (the producer matches a domain entry against every address there;
 * a literal `*@` entry would match nothing).
 */
export function parseSenders(raw: string): string[] {
  const senders = raw
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '')
    .map((s) => (s.startsWith('*@') ? s.slice(2) : s));
  if (senders.length === 0) throw new CliError('--senders must list at least one address or domain', EXIT.usage);
  for (const sender of senders) {
    const at = sender.lastIndexOf('@');
    const local = at >= 0 ? sender.slice(0, at) : '';
    const domain = at >= 0 ? sender.slice(at + 1) : sender;
    if ((at >= 0 && !/^[^\s@*]+$/.test(local)) || !domainPattern.test(domain)) {
      throw new CliError(
        `--senders: "${sender}" is not an address (a@example.com) or a domain (example.com, *@example.com)`,
        EXIT.usage,
      );
    }
  }
  return [...new Set(senders)];
}

/** A new key (256 random bits) and its entry; only the SHA-256 goes into `API_KEYS`. */
export function createKey(
  name: string,
  senders: readonly string[] | undefined,
  scopes?: readonly string[],
): { key: string; entry: ApiKeysEntry } {
  if (!namePattern.test(name)) throw new CliError('NAME must be 1-64 of A-Z a-z 0-9 _ . -', EXIT.usage);
  const key = `mk_${randomBytes(32).toString('base64url')}`;
  const keySha256 = createHash('sha256').update(key, 'utf8').digest('hex');
  return {
    key,
    entry: {
      name,
      key_sha256: keySha256,
      ...(senders === undefined ? {} : { senders }),
      ...(scopes === undefined ? {} : { scopes }),
    },
  };
}

/** `mailer keys create NAME --senders ...`. */
export function keysCommand(program: Command, io: Io): void {
  const keys = program.command('keys').description('make API keys for the producer');
  keys
    .command('create')
    .description('print a new random API key and its API_KEYS entry (only the SHA-256 of the key is in the entry)')
    .argument('<name>', "the caller's name, shown in logs: 1-64 of A-Z a-z 0-9 _ . -")
    .option(
      '--senders <list>',
      'comma-separated addresses and domains it may send from: a@x.com,*@example.org (required with the send scope)',
    )
    .option(
      '--scopes <list>',
      `what it may do, comma-separated: ${SCOPES.join(', ')}; default send,read (suppressions only when named)`,
    )
    .option('--json', 'print {"name","key","api_keys_entry"} as one JSON object')
    .addHelpText(
      'after',
      `
The key is printed once, on stdout, and nowhere else; give it to the caller. Add the entry to
the JSON list in the producer's API_KEYS and restart the producer.

Examples:
  pnpm mailer keys create billing --senders billing@example.com,*@example.org
  pnpm mailer keys create support-desk --scopes suppressions`,
    )
    .action((name: string, options: { senders?: string; scopes?: string; json?: boolean }) => {
      const scopes = options.scopes === undefined ? undefined : parseScopes(options.scopes);
      const sends = scopes === undefined || scopes.includes('send');
      if (sends && options.senders === undefined) {
        throw new CliError(
          "required option '--senders <list>' not specified (a key that may send needs it)",
          EXIT.usage,
        );
      }
      const { key, entry } = createKey(
        name,
        options.senders === undefined ? undefined : parseSenders(options.senders),
        scopes,
      );
      if (options.json === true) {
        io.out(`${JSON.stringify({ name, key, api_keys_entry: entry })}\n`);
        return;
      }
      io.out(`key: ${key}\nAPI_KEYS entry: ${JSON.stringify(entry)}\n`);
    });
}
