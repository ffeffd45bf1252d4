import type { Command } from 'commander';
import { emailJson, maskAddressesIn } from '@mailer/contract';
import { Ledger, createPool, ledgerKeys, type EmailRecord, type RecipientRecord } from '@mailer/ledger';
import { CliError, EXIT, configFrom, type Io } from '../io';

/** One recipient's line: masked address, status, a bounce's kind and type, its diagnostic (addresses masked). */
function recipientLine(recipient: RecipientRecord): string {
  const { bounce } = recipient;
  const parts =
    bounce === undefined
      ? []
      : [bounce.kind, [bounce.type, bounce.subtype].filter((part) => part !== null).join('/')].filter(
          (part): part is string => part !== null && part !== '',
        );
  const detail = parts.length === 0 ? '' : ` (${parts.join(', ')})`;
  const diagnostic =
    bounce === undefined || bounce.diagnostic === null ? '' : `: ${maskAddressesIn(bounce.diagnostic)}`;
  return `  ${recipient.address} ${recipient.status}${detail}${diagnostic}`;
}

/**
 * The same record for a person: one line per field, one per recipient with its outcome, one per
 * try; addresses in error texts masked, as emailJson does.
 */
export function emailText(email: EmailRecord): string {
  const lines = [
    `id:          ${email.id}`,
    `status:      ${email.state}${email.inDoubt ? ' (in doubt)' : ''}`,
    `accepted:    ${email.acceptedAt.toISOString()}`,
    `updated:     ${email.updatedAt.toISOString()}`,
    `recipients:  ${email.recipientCount}`,
    ...email.recipientOutcomes.map(recipientLine),
    `provider:    ${email.provider ?? '-'}${email.providerMessageId === null ? '' : ` (${email.providerMessageId})`}`,
    `tries:       ${email.attempts.length}`,
    ...email.attempts.map(
      (a) =>
        `  #${a.attempt} ${a.startedAt.toISOString()} ${a.provider ?? '-'} ${a.outcome ?? 'under way'}` +
        `${a.ambiguous ? ' (ambiguous)' : ''}${a.error === null ? '' : `: ${maskAddressesIn(a.error)}`}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

const keys = { ledger: ledgerKeys.ledger, databaseUrl: ledgerKeys.databaseUrl };

/** `mailer emails show ID --client NAME`. */
export function emailsCommand(program: Command, io: Io): void {
  const emails = program.command('emails').description('read emails from the ledger');
  emails
    .command('show')
    .description("print one email's record and every try, as GET /v1/emails/{id} shows it")
    .argument('<id>', 'the email id the producer answered with')
    .requiredOption('--client <name>', 'the API key name that sent it (the ledger keeps each caller apart)')
    .option('--json', 'print the record as the API does: one JSON object')
    .addHelpText(
      'after',
      `
Reads LEDGER and DATABASE_URL from the environment, as the services do.

Example:
  pnpm mailer emails show 01890a5d-ac96-774b-bcce-b302099a8057 --client billing --json`,
    )
    .action(async (id: string, options: { client: string; json?: boolean }) => {
      const config = configFrom(keys, io);
      if (config.ledger === 'off') throw new CliError('LEDGER=off: there is no ledger to read', EXIT.usage);
      const pool = createPool({ url: config.databaseUrl, max: 1 });
      try {
        let email;
        try {
          email = await new Ledger({ db: pool }).getEmail(options.client, id);
        } catch (error) {
          throw new CliError(`the ledger could not be read: ${(error as Error).message}`);
        }
        if (email === null) throw new CliError(`no email ${id} of client ${options.client}`);
        io.out(options.json === true ? `${JSON.stringify(emailJson(email))}\n` : emailText(email));
      } finally {
        await pool.end();
      }
    });
}
