import { createLogger as createServiceLogger, type ServiceLogger } from '@mailer/service';

export { maskAddress, type Logger } from '@mailer/service';

/** The producer's JSON logger (one shared implementation, in @mailer/service), named on every line. */
export function createLogger(options: { level: string; silent?: boolean }): ServiceLogger {
  return createServiceLogger({ service: 'producer', ...options });
}
