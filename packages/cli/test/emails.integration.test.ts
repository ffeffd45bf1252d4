import { randomUUID } from 'node:crypto';
import { Ledger, createPool, migrate } from '@mailer/ledger';
import { createScratchDatabase, type ScratchDatabase } from '@mailer/testkit';
import { runCaptured } from '../src/testing';

let db: ScratchDatabase;
let pool: ReturnType<typeof createPool>;
let ledger: Ledger;

beforeAll(async () => {
  db = await createScratchDatabase('cli_emails');
  pool = createPool({ url: db.url, max: 2 });
  await migrate(pool);
  ledger = new Ledger({ db: pool });
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

describe('emails show', () => {
  test('when an email with a try is shown, then --json is the API view: masked recipients with their status and every try', async () => {
    const id = randomUUID();
    await ledger.recordAccepted([
      { id, client: 'acme', acceptedAt: new Date('2026-01-02T03:04:05.678Z'), recipients: ['jane.doe@example.com'] },
    ]);
    const claim = await ledger.claimAttempt({ id, attempt: 1, provider: 'smtp' });
    expect(claim).toBeDefined();
    const { code, stdout, stderr } = await runCaptured(['emails', 'show', id, '--client', 'acme', '--json'], {
      DATABASE_URL: db.url,
    });
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const shown = JSON.parse(stdout);
    expect(shown).toMatchObject({
      id,
      status: 'sending',
      accepted_at: '2026-01-02T03:04:05.678Z',
      recipients: [{ address: 'j***@example.com', status: 'sending' }],
      recipient_count: 1,
      attempts: [{ attempt: 1, provider: 'smtp', outcome: null, finished_at: null }],
    });
    expect(stdout).not.toContain('jane.doe');
  });

  test('when shown without --json, then a person reads the state and the masked recipient', async () => {
    const id = randomUUID();
    await ledger.recordAccepted([{ id, client: 'acme', acceptedAt: new Date(), recipients: ['bob@example.org'] }]);
    const { code, stdout } = await runCaptured(['emails', 'show', id, '--client', 'acme'], { DATABASE_URL: db.url });
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^id: +${id}$`, 'm'));
    expect(stdout).toMatch(/^status: +queued$/m);
    expect(stdout).toMatch(/^recipients: +1$/m);
    expect(stdout).toMatch(/^ {2}b\*\*\*@example\.org queued$/m);
    expect(stdout).not.toContain('bob@');
  });

  test("when the id is unknown or another client's, then exit 1 with a message and nothing on stdout", async () => {
    const id = randomUUID();
    await ledger.recordAccepted([{ id, client: 'acme', acceptedAt: new Date(), recipients: ['x@example.org'] }]);
    for (const [email, client] of [
      [randomUUID(), 'acme'],
      [id, 'other'],
      ['not-a-uuid', 'acme'],
    ] as const) {
      const { code, stdout, stderr } = await runCaptured(['emails', 'show', email, '--client', client], {
        DATABASE_URL: db.url,
      });
      expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
      expect(stderr).toContain(`no email ${email} of client ${client}`);
    }
  });

  test('when LEDGER=off or DATABASE_URL is not a postgres URL, then exit 2 before connecting', async () => {
    const off = await runCaptured(['emails', 'show', randomUUID(), '--client', 'acme'], { LEDGER: 'off' });
    expect(off.code).toBe(2);
    expect(off.stderr).toContain('LEDGER=off');
    const bad = await runCaptured(['emails', 'show', randomUUID(), '--client', 'acme'], {
      DATABASE_URL: 'mysql://h/db',
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('DATABASE_URL');
  });
});
