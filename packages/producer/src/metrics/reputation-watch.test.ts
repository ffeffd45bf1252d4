import type { ProviderReputation } from '@mailer/contract';
import type { Logger } from '@mailer/service';
import { ProducerMetrics } from './producer-metrics';
import { REPUTATION_WINDOW_MS, ReputationWatch } from './reputation-watch';

function recordingLogger() {
  const lines: string[] = [];
  const log = (level: string) => (message: string) => void lines.push(`${level} ${message}`);
  const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  return { lines, logger };
}

/** The value of one series in the text format, e.g. `mailer_provider_hard_bounce_ratio{provider="ses"...}`. */
async function valueOf(metrics: ProducerMetrics, name: string, provider: string): Promise<number | undefined> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`provider="${provider}"`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('ReputationWatch and the reputation gauges', () => {
  it("when the ledger answers, then each provider's ratios are its hard bounces and complaints over its recipients, and a provider with none has no ratio", async () => {
    const metrics = new ProducerMetrics();
    const windows: number[] = [];
    const rows: ProviderReputation[] = [
      { provider: 'ses', recipients: 200, hardBounced: 12, complained: 1 },
      { provider: 'postmark', recipients: 0, hardBounced: 0, complained: 0 },
    ];
    const watch = new ReputationWatch({
      read: (windowMs) => {
        windows.push(windowMs);
        return Promise.resolve(rows);
      },
      observe: (read) => metrics.observeReputation(read),
      logger: recordingLogger().logger,
    });

    await watch.refresh();

    expect(windows).toEqual([REPUTATION_WINDOW_MS]);
    expect(await valueOf(metrics, 'mailer_provider_reputation_recipients', 'ses')).toBe(200);
    expect(await valueOf(metrics, 'mailer_provider_hard_bounce_ratio', 'ses')).toBeCloseTo(0.06);
    expect(await valueOf(metrics, 'mailer_provider_complaint_ratio', 'ses')).toBeCloseTo(0.005);
    expect(await valueOf(metrics, 'mailer_provider_reputation_recipients', 'postmark')).toBe(0);
    expect(await valueOf(metrics, 'mailer_provider_hard_bounce_ratio', 'postmark')).toBeUndefined();
  });

  it('when a provider leaves the window, then its series go; when a read fails, then the last figures stay and one warning says so', async () => {
    const metrics = new ProducerMetrics();
    const log = recordingLogger();
    const answers: (ProviderReputation[] | Error)[] = [
      [{ provider: 'ses', recipients: 10, hardBounced: 1, complained: 0 }],
      [{ provider: 'smtp', recipients: 4, hardBounced: 0, complained: 0 }],
      new Error('ledger down'),
      new Error('ledger down'),
      [{ provider: 'smtp', recipients: 8, hardBounced: 2, complained: 0 }],
    ];
    const watch = new ReputationWatch({
      read: () => {
        const next = answers.shift() ?? new Error('no more answers');
        return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
      },
      observe: (read) => metrics.observeReputation(read),
      logger: log.logger,
    });

    await watch.refresh();
    await watch.refresh();
    expect(await valueOf(metrics, 'mailer_provider_hard_bounce_ratio', 'ses')).toBeUndefined();
    expect(await valueOf(metrics, 'mailer_provider_hard_bounce_ratio', 'smtp')).toBe(0);

    await watch.refresh();
    await watch.refresh();
    expect(await valueOf(metrics, 'mailer_provider_reputation_recipients', 'smtp')).toBe(4);
    expect(log.lines).toEqual(['warn could not read provider reputation; keeping the last figures']);

    await watch.refresh();
    expect(await valueOf(metrics, 'mailer_provider_hard_bounce_ratio', 'smtp')).toBeCloseTo(0.25);
    expect(log.lines.at(-1)).toBe('info provider reputation read again');
    await watch.stop();
  });
});
