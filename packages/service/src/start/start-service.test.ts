import { PassThrough } from 'node:stream';
import { ConfigError, formerMilliseconds, integer, duration, loadKeys, text, type Env } from '@mailer/config';
import { Exited, fakeHost } from '../../test/support/fake-host';
import { runMain, startService } from './start-service';

const keys = {
  logLevel: { name: 'LOG_LEVEL', description: 'Level.', default: 'info', parse: text(() => true, '') },
  port: { name: 'PORT', description: 'Port.', default: '3000', parse: integer(0, 65535) },
  timeoutMs: {
    name: 'TIMEOUT',
    description: 'Timeout.',
    default: '1s',
    parse: duration('0s', '1m'),
    formerly: formerMilliseconds('TIMEOUT_MS', '0s', '1m'),
  },
};

/** Starts a service on a fake process, with its log lines. */
function start(env: Env, load: (env: Env) => { logLevel: string } = (e) => loadKeys(keys, e)) {
  const host = fakeHost({ throwOnExit: true });
  const destination = new PassThrough();
  let text = '';
  destination.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const lines = () =>
    text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const run = () => startService({ name: 'svc', env, keys, load, host, destination });
  return { host, run, lines };
}

describe('startService', () => {
  it('when the configuration is valid, then it returns it with a logger at its level, and warns about nothing', async () => {
    const { run, lines } = start({ LOG_LEVEL: 'warn', PORT: '8080' });

    const { config, logger } = run();
    logger.info('not written at warn');
    logger.warn('written');
    await logger.flush();

    expect(config).toEqual({ logLevel: 'warn', port: 8080, timeoutMs: 1000 });
    expect(lines()).toEqual([expect.objectContaining({ level: 'warn', message: 'written', service: 'svc' })]);
  });

  it('when keys are wrong, then every problem goes to stderr under the service name and it exits 2 before logging', () => {
    const { host, run, lines } = start({ PORT: 'eighty', TIMEOUT: 'soon' });

    expect(run).toThrow(new Exited(2));
    expect(host.err()).toBe(
      'svc: invalid configuration:\n' +
        '  - PORT must be a whole number from 0 to 65535\n' +
        '  - TIMEOUT must be a duration such as 500ms, 10s, 1m or 2h, at most 1m\n',
    );
    expect(lines()).toEqual([]);
  });

  it('when loading fails for another reason, then its stack is printed and it exits 1', () => {
    const { host, run } = start({}, () => {
      throw new TypeError('cannot read the key file');
    });

    expect(run).toThrow(new Exited(1));
    expect(host.err()).toMatch(/^svc: TypeError: cannot read the key file\n\s+at /);
  });

  it('when a key is set under its former name, then one warning says what to set instead', async () => {
    const { run, lines } = start({ TIMEOUT_MS: '1500' });

    const { config, logger } = run();
    await logger.flush();

    expect(config).toMatchObject({ timeoutMs: 1500 });
    expect(lines()).toEqual([
      expect.objectContaining({
        level: 'warn',
        message: 'TIMEOUT_MS is deprecated and read for this release only; set TIMEOUT=1500ms instead',
        key: 'TIMEOUT_MS',
        replacement: 'TIMEOUT',
      }),
    ]);
  });

  it('when a ConfigError comes from checks across keys, then it is reported the same way', () => {
    const { host, run } = start({}, () => {
      throw new ConfigError(['SMTP_HOST is required when PROVIDERS names smtp']);
    });

    expect(run).toThrow(new Exited(2));
    expect(host.err()).toContain('  - SMTP_HOST is required when PROVIDERS names smtp\n');
  });
});

describe('runMain', () => {
  it('when main rejects, then the error is printed with its stack under the name and it exits 1', async () => {
    const host = fakeHost();

    runMain('svc', () => Promise.reject(new Error('listen EADDRINUSE')), host);

    expect(await host.exited).toBe(1);
    expect(host.err()).toMatch(/^svc: Error: listen EADDRINUSE\n\s+at /);
  });

  it('when main throws synchronously, then it is handled the same way', async () => {
    const host = fakeHost();

    runMain(
      'svc',
      () => {
        throw new Error('bad wiring');
      },
      host,
    );

    expect(await host.exited).toBe(1);
    expect(host.err()).toContain('svc: Error: bad wiring');
  });

  it('when main resolves, then it does not exit (the service keeps running)', async () => {
    const host = fakeHost();
    let ran = false;

    runMain('svc', () => void (ran = true), host);
    await new Promise((resolve) => setImmediate(resolve));

    expect(ran).toBe(true);
    expect(host.exits).toEqual([]);
  });
});
