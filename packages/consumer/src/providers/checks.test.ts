import { ProviderChecks, logProviderChecks, type CheckedProvider } from './checks';
import { ProviderError, type EmailProvider } from './provider';

/** A provider whose `verify` answers as told and counts its calls. */
function fakeProvider(name: string, verify?: (signal: AbortSignal) => Promise<void>) {
  const calls = { count: 0 };
  const provider: EmailProvider = {
    name,
    send: () => Promise.reject(new Error('not used')),
    ...(verify === undefined
      ? {}
      : {
          verify: (signal: AbortSignal) => {
            calls.count += 1;
            return verify(signal);
          },
        }),
  };
  return { checked: { provider, timeoutMs: 5_000 } satisfies CheckedProvider, calls };
}

const answers = (): Promise<void> => Promise.resolve();
const refuses = (): Promise<void> =>
  Promise.reject(new ProviderError('provider-unavailable', 'bad token for jane.doe@example.org', { code: '10' }));

describe('ProviderChecks', () => {
  it('when a run ends, then each provider is answered, failed (with the masked error) or unchecked (no verify)', async () => {
    const checks = new ProviderChecks([
      fakeProvider('ses', answers).checked,
      fakeProvider('postmark', refuses).checked,
      fakeProvider('smtp').checked,
    ]);

    expect(await checks.run()).toEqual([
      { provider: 'ses', state: 'answered' },
      { provider: 'postmark', state: 'failed', error: 'bad token for j***@example.org' },
      { provider: 'smtp', state: 'unchecked' },
    ]);
  });

  it('when a verify never answers, then the check fails at its timeout, and a verify deaf to its signal is not waited for', async () => {
    const deaf = fakeProvider('smtp', () => new Promise<void>(() => undefined));
    const checks = new ProviderChecks([{ ...deaf.checked, timeoutMs: 20 }]);

    expect(await checks.run()).toEqual([{ provider: 'smtp', state: 'failed', error: 'no answer within 20 ms' }]);
  });

  it('when /readyz is asked many times within the interval, then each provider is called once, and once more after it', async () => {
    let now = 1_000_000;
    const ses = fakeProvider('ses', answers);
    const checks = new ProviderChecks([ses.checked], { intervalMs: 30_000, now: () => now });

    for (let probe = 0; probe < 100; probe += 1) checks.readiness();
    await checks.run();
    expect(ses.calls.count).toBe(1);

    now += 29_999;
    checks.readiness();
    expect(ses.calls.count).toBe(1);
    now += 1;
    checks.readiness();
    checks.readiness();
    await checks.run();
    expect(ses.calls.count).toBe(2);
  });

  it('when a probe comes, then it answers from the latest results without waiting for the run it starts', async () => {
    let release!: () => void;
    const held = fakeProvider('postmark', () => new Promise<void>((resolve) => (release = resolve)));
    const checks = new ProviderChecks([held.checked]);

    expect(checks.readiness()).toEqual({ ready: true });
    expect(held.calls.count).toBe(1);
    expect(checks.results).toEqual([{ provider: 'postmark', state: 'unchecked' }]);
    release();
    expect(await checks.run()).toEqual([{ provider: 'postmark', state: 'answered' }]);
  });

  it.each([
    ['every provider failed', false, [refuses, refuses]],
    ['one of two answered', true, [refuses, answers]],
    ['one failed and one has no verify', true, [refuses, undefined]],
  ] as const)('when %s, then ready is %s', async (_what, ready, verifies) => {
    const checks = new ProviderChecks(verifies.map((verify, i) => fakeProvider(`p${i}`, verify).checked));
    await checks.run();

    const answer = checks.readiness();

    expect(answer.ready).toBe(ready);
    if (!ready) expect(answer.reason).toBe('no provider answered its check (p0, p1)');
  });

  it('when stopped during a run, then the run ends at once and no probe starts another', async () => {
    const hanging = fakeProvider('smtp', () => new Promise<void>(() => undefined));
    const checks = new ProviderChecks([hanging.checked], { intervalMs: 0 });
    const run = checks.run();

    checks.stop();

    expect(await run).toEqual([{ provider: 'smtp', state: 'failed', error: 'stopped before it answered' }]);
    checks.readiness();
    expect(hanging.calls.count).toBe(1);
  });
});

describe('logProviderChecks', () => {
  it('when a run had every outcome, then one line names them and each failure has a warning of its own', () => {
    const lines: [string, string, Record<string, unknown> | undefined][] = [];
    const log = (level: string) => (message: string, meta?: Record<string, unknown>) =>
      lines.push([level, message, meta]);
    const logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };

    logProviderChecks(
      [
        { provider: 'ses', state: 'answered' },
        { provider: 'postmark', state: 'failed', error: 'Postmark answered HTTP 401' },
        { provider: 'capture', state: 'unchecked' },
      ],
      logger,
    );

    expect(lines).toEqual([
      ['warn', 'provider did not pass its check', { provider: 'postmark', error: 'Postmark answered HTTP 401' }],
      ['info', 'providers checked', { answered: ['ses'], failed: ['postmark'], unchecked: ['capture'] }],
    ]);
  });
});
