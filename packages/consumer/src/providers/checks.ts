import { maskAddressesIn, type Readiness } from '@mailer/contract';
import type { Logger } from '@mailer/service';
import type { EmailProvider } from './provider';

/** A provider to check, and how long one check of it may take. */
export interface CheckedProvider {
  readonly provider: EmailProvider;
  /** Longest one `verify` may take before the check counts as failed (the provider's send timeout). */
  readonly timeoutMs: number;
}

/** The latest check of one provider. */
export interface ProviderCheck {
  readonly provider: string;
  /**
   * `answered`: its latest `verify` resolved; `failed`: it rejected or did not answer in time;
   * `unchecked`: the adapter has no `verify`, or no check of it has finished yet.
   */
  readonly state: 'answered' | 'failed' | 'unchecked';
  /** Why the check failed: the classified error's message (addresses masked), or the timeout. */
  readonly error?: string;
}

/** How often `/readyz` may cause the providers to be checked again, at most. */
export const DEFAULT_CHECK_INTERVAL_MS = 30_000;

/** Settings of {@link ProviderChecks}. */
export interface ProviderChecksOptions {
  /** Least time between the starts of two runs caused by `/readyz`; {@link DEFAULT_CHECK_INTERVAL_MS}. */
  readonly intervalMs?: number;
  /** The clock, in milliseconds (tests move it). */
  readonly now?: () => number;
}

/**
 * The providers' `verify` checks, for start-up and for `/readyz`. A run checks every provider at
 * once, each bounded by its timeout; one run at a time (a caller during a run joins it).
 * {@link ProviderChecks.readiness} never waits on a provider: it answers from the latest results
 * and, when the latest run started more than `intervalMs` ago, starts one in the background, so
 * however often `/readyz` is asked, each provider is called at most once per interval.
 */
export class ProviderChecks {
  private latest: readonly ProviderCheck[];
  private running: Promise<readonly ProviderCheck[]> | undefined;
  private lastStartedAt = Number.NEGATIVE_INFINITY;
  private readonly stopped = new AbortController();
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly providers: readonly CheckedProvider[],
    options: ProviderChecksOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? DEFAULT_CHECK_INTERVAL_MS;
    this.now = options.now ?? Date.now;
    this.latest = providers.map(({ provider }) => ({ provider: provider.name, state: 'unchecked' }));
  }

  /** The latest result of each provider, in the order given, without checking. */
  get results(): readonly ProviderCheck[] {
    return this.latest;
  }

  /** Checks every provider now, or joins the run under way; resolves with the results, never rejects. */
  run(): Promise<readonly ProviderCheck[]> {
    if (this.running !== undefined) return this.running;
    this.lastStartedAt = this.now();
    const run = Promise.all(this.providers.map((checked) => this.check(checked))).then((results) => {
      this.latest = results;
      this.running = undefined;
      return results;
    });
    this.running = run;
    return run;
  }

  /**
   * Not ready when every provider failed its latest check: nothing could be sent. One provider
   * that answered, or that has no check, is enough, since the consumer fails over to it.
   */
  readiness(): Readiness {
    if (!this.stopped.signal.aborted && this.now() - this.lastStartedAt >= this.intervalMs) void this.run();
    const failed = this.latest.filter((check) => check.state === 'failed');
    if (failed.length === 0 || failed.length < this.latest.length) return { ready: true };
    return { ready: false, reason: `no provider answered its check (${failed.map((c) => c.provider).join(', ')})` };
  }

  /** Stops waiting for a run under way (at shutdown); no run starts afterwards. */
  stop(): void {
    this.stopped.abort();
  }

  private async check({ provider, timeoutMs }: CheckedProvider): Promise<ProviderCheck> {
    if (provider.verify === undefined) return { provider: provider.name, state: 'unchecked' };
    const signal = AbortSignal.any([this.stopped.signal, AbortSignal.timeout(timeoutMs)]);
    let onAbort: (() => void) | undefined;
    // verify may not listen to the signal (nodemailer's does not): stop waiting for it all the same.
    const gaveUp = new Promise<string>((resolve) => {
      onAbort = () =>
        resolve(this.stopped.signal.aborted ? 'stopped before it answered' : `no answer within ${timeoutMs} ms`);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const error = await Promise.race([
        provider.verify(signal).then(
          () => undefined,
          // Adapters reject with a ProviderError, masked already; anything else is masked here.
          (reason: unknown) => maskAddressesIn(reason instanceof Error ? reason.message : String(reason)),
        ),
        gaveUp,
      ]);
      return error === undefined
        ? { provider: provider.name, state: 'answered' }
        : { provider: provider.name, state: 'failed', error };
    } finally {
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
    }
  }
}

/** Logs a run's results at start-up: one line with who answered, one warning per failed check. */
export function logProviderChecks(results: readonly ProviderCheck[], logger: Logger): void {
  for (const check of results) {
    if (check.state === 'failed') {
      logger.warn('provider did not pass its check', { provider: check.provider, error: check.error });
    }
  }
  const named = (state: ProviderCheck['state']): string[] =>
    results.filter((check) => check.state === state).map((check) => check.provider);
  logger.info('providers checked', {
    answered: named('answered'),
    failed: named('failed'),
    unchecked: named('unchecked'),
  });
}
