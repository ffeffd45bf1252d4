import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/** Every series this project registers starts with it (docs/metrics.md). */
export const METRIC_PREFIX = 'mailer_';

/**
 * A registry of its own per service (never prom-client's global one, so tests can run several
 * services in one process), every series labelled `service`, with Node's default process metrics
 * under the names prom-client gives them (`process_cpu_seconds_total`, `nodejs_heap_size_used_bytes`...),
 * which the usual Node dashboards expect; the project's own series all start with `mailer_`.
 */
export function createMetricsRegistry(
  service: 'producer' | 'consumer',
  options: { defaults?: boolean } = {},
): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (options.defaults !== false) collectDefaultMetrics({ register: registry });
  return registry;
}

/** A process-wide monotonic clock in seconds, for durations (not wall time). */
export function nowSeconds(): number {
  return performance.now() / 1000;
}

/**
 * Wraps the named async methods of `target` so each call's duration is observed as
 * `observe(method, seconds, failed)`. The wrappers are made once; a call allocates nothing more
 * than the call itself. Other members are read from `target` as they are.
 */
export function timeMethods<T extends object>(
  target: T,
  methods: readonly (keyof T & string)[],
  observe: (method: string, seconds: number, failed: boolean) => void,
): T {
  const wrapped = new Map<PropertyKey, unknown>();
  for (const name of methods) {
    const original = target[name];
    if (typeof original !== 'function') continue;
    const fn = original as (...args: unknown[]) => Promise<unknown>;
    wrapped.set(name, async (...args: unknown[]) => {
      const start = nowSeconds();
      try {
        const result = await fn.apply(target, args);
        observe(name, nowSeconds() - start, false);
        return result;
      } catch (error) {
        observe(name, nowSeconds() - start, true);
        throw error;
      }
    });
  }
  return new Proxy(target, {
    get: (object, property) => {
      if (wrapped.has(property)) return wrapped.get(property);
      const value: unknown = Reflect.get(object, property, object);
      // Unwrapped methods keep their own `this`.
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(object) : value;
    },
  });
}

/**
 * Buckets for one call to a dependency (ledger statement, publish, provider send), in seconds:
 * from 1 ms, where a local PostgreSQL answers, to 30 s, past every timeout the services set.
 */
export const CALL_BUCKETS_SECONDS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/**
 * `mailer_ledger_operation_duration_seconds`, which both services register: defined once, so the
 * two share buckets and help text and a dashboard can aggregate them.
 */
export function ledgerLatencyHistogram(registers: Registry[]): Histogram<'operation' | 'outcome'> {
  return new Histogram({
    name: 'mailer_ledger_operation_duration_seconds',
    help: 'Duration of one ledger call, by operation and outcome (ok or error).',
    labelNames: ['operation', 'outcome'],
    buckets: [...CALL_BUCKETS_SECONDS],
    registers,
  });
}
