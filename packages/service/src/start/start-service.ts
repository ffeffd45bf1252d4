import type { Writable } from 'node:stream';
import { ConfigError, deprecatedKeysIn, type Env, type Keys } from '@mailer/config';
import { createLogger, type ServiceLogger } from '../log/logger';
import { describeError, processHost, type Host } from './host';

/** How an entry point reads its configuration. */
export interface StartOptions<C> {
  /** The service's name: the prefix of its error output and the `service` field of its logs. */
  readonly name: string;
  readonly env: Env;
  /** The keys `load` reads, for the warnings about former key names. */
  readonly keys: Keys;
  /** Reads and checks the configuration; throws a ConfigError naming every problem. */
  readonly load: (env: Env) => C;
  readonly host?: Host;
  /** Where log lines go; stdout when absent. */
  readonly destination?: Writable;
}

/**
 * The first steps of every entry point: reads the configuration, or prints every problem with it
 * and exits 2; creates the logger at the configured level; logs one warning for each key still
 * set under a former name.
 */
export function startService<C extends { readonly logLevel: string }>(
  options: StartOptions<C>,
): { config: C; logger: ServiceLogger } {
  const host = options.host ?? processHost;
  let config: C;
  try {
    config = options.load(options.env);
  } catch (error) {
    host.stderr.write(`${options.name}: ${error instanceof ConfigError ? error.message : describeError(error)}\n`);
    return host.exit(error instanceof ConfigError ? 2 : 1);
  }
  const logger = createLogger({
    service: options.name,
    level: config.logLevel,
    ...(options.destination === undefined ? {} : { destination: options.destination }),
  });
  for (const deprecation of deprecatedKeysIn(options.keys, options.env)) {
    logger.warn(deprecation.message, { key: deprecation.name, replacement: deprecation.replacement });
  }
  return { config, logger };
}

/**
 * Runs an entry point's `main`; an error it throws (or rejects with) is printed with its stack
 * and the process exits 1.
 */
export function runMain(name: string, main: () => Promise<void> | void, host: Host = processHost): void {
  Promise.resolve()
    .then(main)
    .catch((error: unknown) => {
      host.stderr.write(`${name}: ${describeError(error)}\n`);
      host.exit(1);
    });
}
