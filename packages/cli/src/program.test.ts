import { runCaptured } from './testing';

// DATABASE_URL and AMQP_URL point at a port nothing listens on: a command that started work
// would fail there (exit 1 and an error), so exit 0 with usage shows that --help did nothing else.
const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:9/none', AMQP_URL: 'amqp://guest:guest@127.0.0.1:9' };

describe('--help', () => {
  test.each([
    [[], 'Usage: mailer [options] [command]'],
    [['keys'], 'Usage: mailer keys [options] [command]'],
    [['keys', 'create'], 'Usage: mailer keys create [options] <name>'],
    [['emails'], 'Usage: mailer emails [options] [command]'],
    [['emails', 'show'], 'Usage: mailer emails show [options] <id>'],
    [['dead-letters'], 'Usage: mailer dead-letters [options] [command]'],
    [['dead-letters', 'list'], 'Usage: mailer dead-letters list [options]'],
    [['dead-letters', 'show'], 'Usage: mailer dead-letters show [options] <id>'],
    [['dead-letters', 'replay'], 'Usage: mailer dead-letters replay [options]'],
    [['dead-letters', 'purge'], 'Usage: mailer dead-letters purge [options]'],
    [['suppressions'], 'Usage: mailer suppressions [options] [command]'],
    [['suppressions', 'list'], 'Usage: mailer suppressions list [options]'],
    [['suppressions', 'check'], 'Usage: mailer suppressions check [options] <address>'],
    [['suppressions', 'add'], 'Usage: mailer suppressions add [options] <address>'],
    [['suppressions', 'remove'], 'Usage: mailer suppressions remove [options] <address>'],
    [['suppressions', 'import'], 'Usage: mailer suppressions import [options] <file>'],
    [['webhooks'], 'Usage: mailer webhooks [options] [command]'],
    [['webhooks', 'list'], 'Usage: mailer webhooks list [options]'],
    [['webhooks', 'deliveries'], 'Usage: mailer webhooks deliveries [options] <id>'],
    [['webhooks', 'replay'], 'Usage: mailer webhooks replay [options] <id>'],
    // As `pnpm replay -- --help` hands it over.
    [['dead-letters', 'replay', '--'], 'Usage: mailer dead-letters replay [options]'],
  ])(
    'when `mailer %j --help` runs, then it prints its usage on stdout, exits 0 and does nothing else',
    async (path, usage) => {
      const { code, stdout, stderr } = await runCaptured([...path, '--help'], env);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      expect(stdout).toContain(usage);
      expect(stdout).not.toMatch(/key: mk_|"id":/);
    },
  );

  test('when `emails show ID --client c --help` runs, then the ledger is not read', async () => {
    const { code, stdout, stderr } = await runCaptured(
      ['emails', 'show', '01890a5d-ac96-774b-bcce-b302099a8057', '--client', 'c', '--help'],
      env,
    );
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toContain('--client <name>');
  });

  test.each([
    [['dead-letters', 'replay', '--kind', 'transient', '--help'], '--rate <n>'],
    [['dead-letters', 'purge', '--reason', 'invalid', '--yes', '--help'], '-y, --yes'],
    [['webhooks', 'replay', 'some-id', '--since', '2h', '--help'], '--dry-run'],
  ])('when `mailer %j` runs, then it prints usage and connects to nothing', async (args, option) => {
    const { code, stdout, stderr } = await runCaptured(args, env);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toContain(option);
    expect(stdout).not.toMatch(/replayed \d|purged \d/);
  });

  test('when `keys create NAME --senders ... --help` runs, then no key is made', async () => {
    const { code, stdout } = await runCaptured(['keys', 'create', 'x', '--senders', 'a@b.com', '--help']);
    expect(code).toBe(0);
    expect(stdout).not.toContain('mk_');
  });
});

describe('refusals', () => {
  test.each([
    [['--bogus'], "unknown option '--bogus'"],
    [['kyes'], "unknown command 'kyes'"],
    [['keys', 'crate'], "unknown command 'crate'"],
    [['keys', 'create', 'x', '--senders', 'a@b.com', '--sender', 'c@d.com'], "unknown option '--sender'"],
    [['keys', 'create', 'x', 'y', '--senders', 'a@b.com'], 'too many arguments'],
    [['keys', 'create', 'x'], "required option '--senders <list>' not specified"],
    [['emails', 'show', 'some-id', '--client', 'c', '--jsn'], "unknown option '--jsn'"],
    [['emails', 'show', 'some-id'], "required option '--client <name>' not specified"],
    [['dead-letters', 'list', '--reason', 'max-atempts'], 'unknown max-atempts; use recipient-rejected, max-attempts'],
    [
      ['dead-letters', 'list', '--kind', 'transient,down'],
      'unknown down; use recipient-rejected, provider-unavailable',
    ],
    [['dead-letters', 'list', '--provider', 'smpt'], 'unknown smpt; use ses, postmark, smtp, capture'],
    [['dead-letters', 'list', '--older-than', '2 days'], 'must be a duration such as 90s, 30m or 48h'],
    [['dead-letters', 'list', '--limit', '0'], 'must be a whole number from 1'],
    [['dead-letters', 'replay', '--rate', 'fast'], 'must be a number of emails per second'],
    [['dead-letters', 'replay', '--all'], "unknown option '--all'"],
    [['dead-letters', 'replay', 'everything'], 'too many arguments'],
    [['dead-letters', 'replay', '--', '--limit', '0'], 'must be a whole number from 1'],
    [['dead-letters', 'replay', '--limit'], "option '--limit <n>' argument missing"],
    [['dead-letters', 'show'], "missing required argument 'id'"],
    [['dead-letters', 'purge', '--reason', 'invalid'], 'give --yes, or run it in a terminal to be asked'],
    [['suppressions', 'check', 'not-an-address'], 'must be an email address'],
    [['suppressions', 'add', 'jane@example.org', '--expires', '30 days'], 'must be a duration such as 90s, 30m or 48h'],
    [['suppressions', 'add', 'jane@example.org', '--note', 'two\nlines'], 'without control characters'],
    [['suppressions', 'list', '--reason', 'bounce'], 'use one of hard-bounce, complaint'],
    [['suppressions', 'remove'], "missing required argument 'address'"],
    [['suppressions', 'import', '/nonexistent/bounces.csv'], 'is not a file that can be read'],
    [['suppressions', 'check', 'jane@example.org'], 'RECIPIENT_HASH_SECRET is required when LEDGER=on'],
    [['webhooks', 'replay', 'some-id'], "required option '--since <time>' not specified"],
    [['webhooks', 'replay', 'some-id', '--since', 'yesterday'], 'or how long ago: 90m, 48h, 3d'],
    [['webhooks', 'replay', 'some-id', '--since', '2026-12-07T10:00'], 'with its zone'],
    [['webhooks', 'replay', 'some-id', '--since', '2h', '--event', 'email.opened'], 'unknown email.opened'],
    [['webhooks', 'replay', 'some-id', '--since', '2h', '--outcome', 'parked'], "unknown option '--outcome'"],
    [['webhooks', 'replay', '--since', '2h'], "missing required argument 'id'"],
    [['webhooks', 'deliveries', 'some-id', '--outcome', 'failed'], 'unknown failed; use succeeded, retrying'],
    [['webhooks', 'deliveries', 'some-id', '--limit', '0'], 'must be a whole number from 1'],
    [['webhooks', 'list', '--client'], "option '--client <name>' argument missing"],
    [['webhooks', 'list'], 'WEBHOOK_SECRETS_KEY is empty: webhooks are off'],
  ])(
    'when `mailer %j` runs, then it is refused with exit 2 and a message, and nothing is printed on stdout',
    async (args, message) => {
      const { code, stdout, stderr } = await runCaptured(args, env);
      expect(code).toBe(2);
      expect(stderr).toContain(message);
      expect(stdout).toBe('');
    },
  );

  test('when a group is given no subcommand, then its help goes to stderr with exit 2', async () => {
    const { code, stdout, stderr } = await runCaptured(['emails'], env);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toContain('Usage: mailer emails');
  });
});
