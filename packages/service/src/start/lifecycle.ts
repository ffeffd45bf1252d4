import type { ServiceLogger } from '../log/logger';
import { messageOf, processHost, type Host } from './host';

/** What a shutdown step is told. */
export interface StopContext {
  /** Aborted once the shutdown timeout has passed: cut what still runs (connections, sends). */
  readonly timedOut: AbortSignal;
  /** Milliseconds left until the shutdown timeout (0 once it has passed). */
  readonly remainingMs: () => number;
}

/** One step of a shutdown. */
export type StopStep = (context: StopContext) => Promise<void> | void;

/** Something that reports a failure start-up cannot recover from, like a refused topology. */
export interface FatalSource {
  on(event: 'fatal', listener: (error: Error) => void): unknown;
}

/**
 * Time after the shutdown timeout for closing broker connections and flushing logs before the
 * process exits anyway. docker-compose.yml gives each service its timeout plus this much before
 * it kills the container.
 */
export const SHUTDOWN_GRACE_MS = 5000;

/** How long the last log lines may take to drain before the process exits without them. */
const FLUSH_BOUND_MS = 2000;

/** Options of a {@link Lifecycle}. */
export interface LifecycleOptions {
  readonly logger: ServiceLogger;
  /** From SIGTERM until the steps are told to cut what still runs. */
  readonly shutdownTimeoutMs: number;
  /** After the timeout, until the process exits 1 whatever the steps are doing. */
  readonly graceMs?: number;
  /** Fields for the `shutting down` log line, such as the work in flight. */
  readonly status?: () => Record<string, unknown>;
  /** Fields for the `stopped` log line, such as the work left unsettled. */
  readonly outcome?: () => Record<string, unknown>;
  readonly host?: Host;
}

/**
 * How a service ends: on SIGTERM or SIGINT it runs its shutdown steps in order, within a bound,
 * flushes its logs and exits 0; on a fatal error it logs, flushes and exits 1.
 *
 * A second signal during a shutdown does not cut it short: under `pnpm dev` one Ctrl-C reaches
 * each service twice (from the terminal and from the runner), and both mean "stop cleanly".
 */
export class Lifecycle {
  private readonly steps: StopStep[] = [];
  private readonly host: Host;
  private stopped: Promise<void> | undefined;
  private exiting = false;

  constructor(private readonly options: LifecycleOptions) {
    this.host = options.host ?? processHost;
  }

  /** Whether a shutdown has begun (readiness answers "not ready" from then on). */
  get stopping(): boolean {
    return this.stopped !== undefined;
  }

  /** Adds a shutdown step; steps run in the order they were added. */
  onStop(step: StopStep): this {
    this.steps.push(step);
    return this;
  }

  /** Shuts down on each of `signals`. */
  handleSignals(signals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): this {
    for (const signal of signals) this.host.onSignal(signal, (received) => void this.stop(received));
    return this;
  }

  /** Exits 1 with `message` when `source` reports a fatal error. */
  exitOnFatal(source: FatalSource, message = 'stopping: the broker refused the topology'): this {
    source.on('fatal', (error) => void this.fail(message, { error: error.message }));
    return this;
  }

  /** Runs the shutdown steps once, then exits 0 (or 1 if they overrun the bound or throw). */
  stop(signal: string): Promise<void> {
    this.stopped ??= this.shutDown(signal);
    return this.stopped;
  }

  /** Logs `message` as an error, flushes the logs and exits 1. */
  async fail(message: string, fields: Record<string, unknown> = {}): Promise<void> {
    this.options.logger.error(message, fields);
    await this.exit(1);
  }

  private async shutDown(signal: string): Promise<void> {
    const { logger, shutdownTimeoutMs, graceMs = SHUTDOWN_GRACE_MS } = this.options;
    logger.info('shutting down', { signal, ...this.options.status?.() });
    const deadline = Date.now() + shutdownTimeoutMs;
    const timeout = new AbortController();
    const cut = setTimeout(() => timeout.abort(), shutdownTimeoutMs);
    const bound = setTimeout(() => {
      void this.fail('shutdown overran its bound; exiting anyway', { bound_ms: shutdownTimeoutMs + graceMs });
    }, shutdownTimeoutMs + graceMs);
    const context: StopContext = {
      timedOut: timeout.signal,
      remainingMs: () => (timeout.signal.aborted ? 0 : Math.max(0, deadline - Date.now())),
    };
    let code = 0;
    try {
      for (const step of this.steps) await step(context);
    } catch (error) {
      code = 1;
      logger.error('shutdown step failed', { error: messageOf(error) });
    } finally {
      clearTimeout(cut);
      clearTimeout(bound);
    }
    if (code === 0) logger.info('stopped', this.options.outcome?.() ?? {});
    await this.exit(code);
  }

  private async exit(code: number): Promise<void> {
    if (this.exiting) return;
    this.exiting = true;
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([
      this.options.logger.flush(),
      new Promise<void>((resolve) => (bound = setTimeout(resolve, FLUSH_BOUND_MS))),
    ]);
    clearTimeout(bound);
    this.host.exit(code);
  }
}
