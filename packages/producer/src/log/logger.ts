import winston from 'winston';

/** The producer's logger: one JSON object per line on stdout. */
export type Logger = winston.Logger;

/** Creates the JSON logger. Callers log ids, names and masked addresses; never bodies or keys. */
export function createLogger(options: { level: string; silent?: boolean }): Logger {
  return winston.createLogger({
    level: options.level,
    silent: options.silent ?? false,
    defaultMeta: { service: 'producer' },
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    // winston's Console is typed against its own copy of winston-transport; the instance is right.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    transports: [new winston.transports.Console()],
  });
}

/** Masks an address for logs: `jane.doe@example.com` becomes `j***@example.com`. */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at <= 0) return '***';
  return `${address.slice(0, 1)}***${address.slice(at)}`;
}
