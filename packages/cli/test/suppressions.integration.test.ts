import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RecipientHasher, maskAddress } from '@mailer/contract';
import { Ledger, createPool, migrate } from '@mailer/ledger';
import { TEST_RECIPIENT_HASH_SECRET, createScratchDatabase, type ScratchDatabase } from '@mailer/testkit';
import { IMPORT_BATCH_SIZE } from '../src/commands/suppressions';
import { runCaptured } from '../src/testing';

let db: ScratchDatabase;
let pool: ReturnType<typeof createPool>;
let ledger: Ledger;
let folder: string;
const hasher = new RecipientHasher({ current: TEST_RECIPIENT_HASH_SECRET });

beforeAll(async () => {
  db = await createScratchDatabase('cli_suppressions');
  pool = createPool({ url: db.url, max: 2 });
  await migrate(pool);
  ledger = new Ledger({ db: pool, hasher });
  folder = mkdtempSync(path.join(tmpdir(), 'mailer-cli-suppressions-'));
});

afterAll(async () => {
  rmSync(folder, { recursive: true, force: true });
  await pool.end();
  await db.drop();
});

/** Runs `mailer suppressions ...` against the scratch ledger, as operator `ops`. */
const mailer = (args: string[], extra: Record<string, string> = {}) =>
  runCaptured(['suppressions', ...args], {
    DATABASE_URL: db.url,
    RECIPIENT_HASH_SECRET: TEST_RECIPIENT_HASH_SECRET,
    USER: 'ops',
    ...extra,
  });

/** Every text the list and its history hold. */
async function storedText(): Promise<string> {
  const { rows } = await pool.query(
    `SELECT masked, note, created_by FROM suppressions UNION ALL SELECT masked, note, done_by FROM suppression_history`,
  );
  return JSON.stringify(rows);
}

describe('add, check and remove', () => {
  test('when an address is added, checked, added again and removed, then each says so, masked, and the exit codes follow', async () => {
    const added = await mailer(['add', 'Jane.Doe@Example.org', '--note', 'asked by phone']);
    expect(added).toEqual({ code: 0, stdout: 'added J***@Example.org (manual)\n', stderr: '' });

    const checked = await mailer(['check', 'jane.doe@example.org']);
    expect(checked.code).toBe(0);
    expect(checked.stdout).toMatch(
      /^j\*\*\*@example\.org: suppressed \(manual\) since \S+, until removed, by cli:ops: asked by phone\n$/,
    );

    const again = await mailer(['add', 'jane.doe@example.org', '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({
      address: 'j***@example.org',
      added: false,
      entry: { reason: 'manual', note: 'asked by phone', created_by: 'cli:ops', source: null },
    });

    const removed = await mailer(['remove', 'jane.doe@example.org', '--note', 'ticket 42']);
    expect(removed).toEqual({ code: 0, stdout: 'removed j***@example.org\n', stderr: '' });
    const gone = await mailer(['check', 'jane.doe@example.org', '--json']);
    expect(gone.code).toBe(1);
    expect(JSON.parse(gone.stdout)).toEqual({ address: 'j***@example.org', suppressed: false, entry: null });
    expect(gone.stderr).toBe('');
    const twice = await mailer(['remove', 'jane.doe@example.org']);
    expect(twice).toEqual({ code: 1, stdout: 'j***@example.org was not on the suppression list\n', stderr: '' });

    const { rows } = await pool.query<{ action: string; note: string; done_by: string }>(
      `SELECT action, note, done_by FROM suppression_history WHERE masked = 'J***@Example.org' ORDER BY seq`,
    );
    expect(rows).toEqual([
      { action: 'add', note: 'asked by phone', done_by: 'cli:ops' },
      { action: 'remove', note: 'ticket 42', done_by: 'cli:ops' },
    ]);
    expect((await storedText()).toLowerCase()).not.toContain('jane.doe');
  });

  test('when an address is added with --expires, then the entry expires that long from now', async () => {
    const before = Date.now();
    const added = await mailer(['add', 'temp@example.org', '--expires', '48h', '--json']);
    expect(added.code).toBe(0);
    const expires = Date.parse(String(JSON.parse(added.stdout).entry.expires_at));
    expect(expires).toBeGreaterThanOrEqual(before + 48 * 3_600_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 48 * 3_600_000);
  });

  test('when LEDGER=off, then exit 2 before connecting', async () => {
    const off = await mailer(['check', 'a@example.org'], { LEDGER: 'off' });
    expect(off.code).toBe(2);
    expect(off.stderr).toContain('LEDGER=off');
  });

  test('when the ledger cannot be reached, then exit 1 with a message and nothing on stdout', async () => {
    const down = await mailer(['check', 'a@example.org'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:9/none' });
    expect(down.code).toBe(1);
    expect(down.stdout).toBe('');
    expect(down.stderr).toContain('the ledger could not be read or written');
  });
});

describe('import and list', () => {
  test('when a CSV with a header, comments, repeats and bad lines is imported, then the summary counts each and names bad lines by number only', async () => {
    const file = path.join(folder, 'bounces.csv');
    writeFileSync(
      file,
      [
        'email,reason',
        '# exported from the old provider',
        'one@example.com,hard bounce',
        '"two@example.com","complaint, then more"',
        '',
        'not an address,x',
        'ONE@example.com,repeat',
        'three@example.com',
        ',missing',
      ].join('\n'),
    );
    const result = await mailer(['import', file, '--json', '--note', 'old provider']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      lines: 9,
      addresses: 4,
      added: 3,
      already_suppressed: 1,
      invalid: 2,
      invalid_lines: [6, 9],
    });
    expect(result.stdout).not.toContain('not an address');
    for (const address of ['one@example.com', 'two@example.com', 'three@example.com']) {
      expect(await ledger.findSuppression(hasher.candidates(address))).toMatchObject({
        reason: 'manual',
        note: 'old provider',
        createdBy: 'cli:ops',
      });
    }

    const again = await mailer(['import', file]);
    expect(again).toEqual({
      code: 0,
      stdout: 'read 4 address(es) from 9 line(s): 0 added, 4 already suppressed, 2 invalid (lines 6, 9)\n',
      stderr: '',
    });
  });

  test('when a file longer than one statement is imported with a person watching, then every address is added and a bar is drawn', async () => {
    const count = IMPORT_BATCH_SIZE + 7;
    const file = path.join(folder, 'many.txt');
    writeFileSync(file, Array.from({ length: count }, (_, i) => `bulk-${i}@example.net`).join('\n'));
    const result = await runCaptured(
      ['suppressions', 'import', file],
      { DATABASE_URL: db.url, RECIPIENT_HASH_SECRET: TEST_RECIPIENT_HASH_SECRET },
      { interactive: true },
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      `read ${count} address(es) from ${count} line(s): ${count} added, 0 already suppressed, 0 invalid\n`,
    );
    expect(result.stderr).toContain(`] ${count}/${count} lines`);
    expect(await ledger.findSuppression(hasher.candidates(`bulk-${count - 1}@example.net`))).not.toBeNull();
  });

  test('when the list is printed, then it is newest first, masked, filtered by reason and limited', async () => {
    await ledger.addSuppressions([
      {
        hashes: hasher.candidates('bounced@example.org'),
        masked: maskAddress('bounced@example.org'),
        reason: 'hard-bounce',
        createdBy: 'provider',
        source: { provider: 'ses' },
      },
    ]);
    const bounces = await mailer(['list', '--reason', 'hard-bounce', '--json']);
    expect(bounces.code).toBe(0);
    expect(JSON.parse(bounces.stdout)).toEqual([
      {
        address: 'b***@example.org',
        reason: 'hard-bounce',
        created_at: expect.any(String),
        expires_at: null,
        note: null,
        created_by: 'provider',
        source: { email_id: null, provider: 'ses' },
      },
    ]);

    const all = await mailer(['list', '--json']);
    const entries = JSON.parse(all.stdout) as { address: string; created_at: string }[];
    const total = (
      await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM suppressions WHERE expires_at IS NULL OR expires_at > now()`,
      )
    ).rows[0]?.n;
    expect(entries.length).toBe(total);
    expect(entries.length).toBeGreaterThan(IMPORT_BATCH_SIZE);
    expect(entries.map((e) => e.created_at)).toEqual(
      entries
        .map((e) => e.created_at)
        .sort()
        .reverse(),
    );
    expect(all.stdout).not.toMatch(/bulk-\d+@/);

    const table = await mailer(['list', '--limit', '3']);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ADDRESS +REASON +SINCE +EXPIRES +BY +NOTE$/);
    expect(lines).toHaveLength(5);
    expect(lines[4]).toBe('3 entries');
  });
});
