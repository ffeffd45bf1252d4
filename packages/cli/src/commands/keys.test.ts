import { findApiKey, maySendFrom, parseApiKeys } from '../../../producer/src/domain/api-keys';
import { runCaptured } from '../testing';
import { parseSenders } from './keys';

describe('keys create', () => {
  test("when a key is made, then the producer's own API_KEYS parser accepts its entry and finds the caller by the printed key", async () => {
    const { code, stdout, stderr } = await runCaptured([
      'keys',
      'create',
      'billing',
      '--senders',
      'Billing@Example.com,*@example.org',
      '--json',
    ]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const printed = JSON.parse(stdout);
    expect(printed.api_keys_entry).toEqual({
      name: 'billing',
      key_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      senders: ['billing@example.com', 'example.org'],
    });
    const parsed = parseApiKeys(JSON.stringify([printed.api_keys_entry]));
    if (!parsed.ok) throw new Error(`the producer refused the entry: ${JSON.stringify(parsed)}`);
    const caller = findApiKey(parsed.value, printed.key);
    expect(caller?.name).toBe('billing');
    expect(findApiKey(parsed.value, `${printed.key}x`)).toBeUndefined();
    // `*@example.org` became the producer's domain entry: every address there, and only there.
    expect(caller !== undefined && maySendFrom(caller, 'anyone@example.org')).toBe(true);
    expect(caller !== undefined && maySendFrom(caller, 'anyone@example.com')).toBe(false);
    expect(caller !== undefined && maySendFrom(caller, 'billing@example.com')).toBe(true);
  });

  test('when two keys are made, then they differ, and the entry holds the hash, never the key', async () => {
    const first = await runCaptured(['keys', 'create', 'a', '--senders', 'example.com']);
    const second = await runCaptured(['keys', 'create', 'a', '--senders', 'example.com']);
    const keyOf = (out: string) => /^key: (mk_\S+)$/m.exec(out)?.[1];
    expect(keyOf(first.stdout)).toMatch(/^mk_[A-Za-z0-9_-]{43}$/);
    expect(keyOf(first.stdout)).not.toBe(keyOf(second.stdout));
    const entryLine = /^API_KEYS entry: (.*)$/m.exec(first.stdout)?.[1] ?? '';
    expect(entryLine).not.toContain(keyOf(first.stdout));
    expect(parseApiKeys(`[${entryLine}]`).ok).toBe(true);
  });

  test('when the name or a sender is not valid, then it is refused with exit 2 and no key is printed', async () => {
    for (const args of [
      ['keys', 'create', 'bad name', '--senders', 'example.com'],
      ['keys', 'create', 'ok', '--senders', 'not an address'],
      ['keys', 'create', 'ok', '--senders', '*.example.com'],
      ['keys', 'create', 'ok', '--senders', ','],
    ]) {
      const { code, stdout, stderr } = await runCaptured(args);
      expect({ args, code, stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(stderr).toMatch(/^mailer: /);
    }
  });

  test('when scopes are given, then the entry names them and the producer gives the key exactly those', async () => {
    const listOnly = await runCaptured(['keys', 'create', 'desk', '--scopes', 'suppressions', '--json']);
    expect({ code: listOnly.code, stderr: listOnly.stderr }).toEqual({ code: 0, stderr: '' });
    const entry = JSON.parse(listOnly.stdout).api_keys_entry;
    expect(entry).toEqual({
      name: 'desk',
      key_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      scopes: ['suppressions'],
    });
    const parsed = parseApiKeys(JSON.stringify([entry]));
    if (!parsed.ok) throw new Error(`the producer refused the entry: ${JSON.stringify(parsed)}`);
    expect(parsed.value[0]?.scopes).toEqual(['suppressions']);

    const all = await runCaptured([
      'keys',
      'create',
      'dev',
      '--senders',
      'example.com',
      '--scopes',
      'suppressions,send,read',
      '--json',
    ]);
    expect(JSON.parse(all.stdout).api_keys_entry.scopes).toEqual(['send', 'read', 'suppressions']);
  });

  test('when scopes are unknown, or a sending key has no senders, then exit 2 and no key', async () => {
    for (const args of [
      ['keys', 'create', 'x', '--scopes', 'admin'],
      ['keys', 'create', 'x', '--scopes', 'send'],
    ]) {
      const { code, stdout } = await runCaptured(args);
      expect({ args, code, stdout }).toEqual({ args, code: 2, stdout: '' });
    }
  });

  test('when senders repeat or differ in case, then each is listed once, lower case', () => {
    expect(parseSenders('A@X.com, a@x.com,*@Example.org,example.org')).toEqual(['a@x.com', 'example.org']);
  });
});
