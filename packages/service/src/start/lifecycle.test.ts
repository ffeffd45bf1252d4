import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { fakeHost } from '../../test/support/fake-host';
import { createLogger } from '../log/logger';
import { Lifecycle, type LifecycleOptions } from './lifecycle';

/** A lifecycle on a fake process, with its log lines. */
function setUp(options: Partial<LifecycleOptions> = {}) {
  const destination = new PassThrough();
  let text = '';
  destination.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const host = fakeHost();
  const logger = createLogger({ service: 'test', level: 'info', destination });
  const lifecycle = new Lifecycle({ logger, shutdownTimeoutMs: 10_000, host, ...options });
  const lines = () =>
    text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { host, lifecycle, lines };
}

describe('Lifecycle', () => {
  it('when SIGTERM arrives, then the steps run in order, the status and outcome are logged, the logs are flushed and it exits 0', async () => {
    const { host, lifecycle, lines } = setUp({ status: () => ({ in_flight: 3 }), outcome: () => ({ unsettled: 0 }) });
    const ran: string[] = [];
    lifecycle
      .onStop(() => {
        ran.push('server');
      })
      .onStop(async () => {
        await Promise.resolve();
        ran.push('broker');
      })
      .handleSignals();

    expect(lifecycle.stopping).toBe(false);
    host.send('SIGTERM');

    expect(lifecycle.stopping).toBe(true);
    expect(await host.exited).toBe(0);
    expect(ran).toEqual(['server', 'broker']);
    expect(
      lines().map(({ message, signal, in_flight, unsettled }) => ({ message, signal, in_flight, unsettled })),
    ).toEqual([
      { message: 'shutting down', signal: 'SIGTERM', in_flight: 3, unsettled: undefined },
      { message: 'stopped', signal: undefined, in_flight: undefined, unsettled: 0 },
    ]);
  });

  it('when SIGINT and SIGTERM both arrive (Ctrl-C under pnpm dev), then it shuts down once and exits once', async () => {
    const { host, lifecycle } = setUp();
    let runs = 0;
    lifecycle.onStop(() => void (runs += 1)).handleSignals();

    host.send('SIGINT');
    host.send('SIGTERM');
    await host.exited;
    await lifecycle.stop('SIGTERM');

    expect(runs).toBe(1);
    expect(host.exits).toEqual([0]);
  });

  it('when a step is still running at the shutdown timeout, then it is told to cut, and a step that cuts still exits 0', async () => {
    const { host, lifecycle } = setUp({ shutdownTimeoutMs: 20 });
    let remainingAtCut = -1;
    lifecycle.onStop(
      ({ timedOut, remainingMs }) =>
        new Promise<void>((resolve) =>
          timedOut.addEventListener('abort', () => {
            remainingAtCut = remainingMs();
            resolve();
          }),
        ),
    );

    await lifecycle.stop('SIGTERM');

    expect(remainingAtCut).toBe(0);
    expect(await host.exited).toBe(0);
  });

  it('when a step never ends, then after the timeout and the grace it logs why and exits 1', async () => {
    const { host, lifecycle, lines } = setUp({ shutdownTimeoutMs: 5, graceMs: 5 });
    lifecycle.onStop(() => new Promise<void>(() => undefined));

    void lifecycle.stop('SIGTERM');

    expect(await host.exited).toBe(1);
    expect(lines().at(-1)).toMatchObject({
      level: 'error',
      message: 'shutdown overran its bound; exiting anyway',
      bound_ms: 10,
    });
    expect(host.exits).toEqual([1]);
  });

  it('when a step throws, then the rest are skipped, the failure is logged and it exits 1', async () => {
    const { host, lifecycle, lines } = setUp();
    const ran: string[] = [];
    lifecycle
      .onStop(() => {
        throw new Error('server would not close');
      })
      .onStop(() => void ran.push('broker'));

    await lifecycle.stop('SIGTERM');

    expect(host.exits).toEqual([1]);
    expect(ran).toEqual([]);
    expect(lines().at(-1)).toMatchObject({
      level: 'error',
      message: 'shutdown step failed',
      error: 'server would not close',
    });
  });

  it('when the broker reports a fatal error, then it logs the message and the error and exits 1', async () => {
    const { host, lifecycle, lines } = setUp();
    const broker = new EventEmitter<{ fatal: [Error] }>();
    lifecycle.exitOnFatal(broker);

    broker.emit('fatal', new Error('queue "x.work" already exists with other arguments'));

    expect(await host.exited).toBe(1);
    expect(lines()).toEqual([
      expect.objectContaining({
        level: 'error',
        message: 'stopping: the broker refused the topology',
        error: 'queue "x.work" already exists with other arguments',
      }),
    ]);
  });
});
