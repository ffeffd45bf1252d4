import { collectDefaultMetrics, Registry } from 'prom-client';

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
