import type { Writable } from 'node:stream';
import winston from 'winston';

/** The logging every package needs: a message and structured fields, never bodies or secrets. */
export interface Logger {
  debug(message: string, meta?: Record<string, unknown>): unknown;
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  error(message: string, meta?: Record<string, unknown>): unknown;
}

/** A process's own logger: a {@link Logger} that can be flushed before the process exits. */
export interface ServiceLogger extends Logger {
  /** Ends the logger and resolves once every line written so far has been handed on. */
  flush(): Promise<void>;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Written as `service` on every line, so merged logs say who wrote each. */
  readonly service: string;
  readonly level: string;
  readonly silent?: boolean;
  /** Where the lines go; stdout when absent. */
  readonly destination?: Writable;
}

/**
 * Creates the JSON logger: one object per line with `level`, `message`, `service`, `timestamp`
 * and the caller's fields. Callers log ids, names and masked addresses; never bodies or keys.
 */
export function createLogger(options: LoggerOptions): ServiceLogger {
  const transport =
    options.destination === undefined
      ? new winston.transports.Console()
      : new winston.transports.Stream({ stream: options.destination });
  const logger = winston.createLogger({
    level: options.level,
    silent: options.silent ?? false,
    defaultMeta: { service: options.service },
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    // winston's transports are typed against its own copy of winston-transport; the instance is right.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    transports: [transport],
  });
  // The logger's own 'finish' can come before its transport has written the last lines.
  const finished = new Promise<void>((resolve) => transport.once('finish', () => resolve()));
  let flushing: Promise<void> | undefined;
  const at =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, meta?: Record<string, unknown>): void => {
      logger.log(level, message, meta ?? {});
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    flush: () => {
      flushing ??= (async () => {
        logger.end();
        await finished;
      })();
      return flushing;
    },
  };
}
