import winston from 'winston';

/** The consumer's logger: one JSON object per line on stdout. */
export type Logger = winston.Logger;

/** Creates the JSON logger. Callers log ids, providers and outcomes; never bodies or secrets. */
export function createLogger(options: { level: string; silent?: boolean }): Logger {
  return winston.createLogger({
    level: options.level,
    silent: options.silent ?? false,
    defaultMeta: { service: 'consumer' },
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    // winston's Console is typed against its own copy of winston-transport; the instance is right.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    transports: [new winston.transports.Console()],
  });
}
