import type { Logger } from '../log/logger';

const localHosts = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** Why a connection attempt failed, in a few words; the error's own text when it is none we know. */
function cause(error: Error): string {
  const code = (error as { code?: unknown }).code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === 'ETIMEDOUT' || /timed? ?out/i.test(error.message)) return 'no answer';
  if (/ACCESS.REFUSED|403/.test(error.message)) return 'login refused';
  return error.message;
}

/** `host:port` of one node URL, and whether it is on this machine; the user and password are left out. */
function node(url: string): { readonly host: string; readonly local: boolean } {
  try {
    const parsed = new URL(url);
    const port = parsed.port === '' ? (parsed.protocol === 'amqps:' ? '5671' : '5672') : parsed.port;
    return {
      host: `${parsed.hostname}:${port}`,
      local: localHosts.has(parsed.hostname) || parsed.hostname.startsWith('127.'),
    };
  } catch {
    // AMQP_URL was checked at start-up; an unparsable entry is not echoed, it may hold a password.
    return { host: 'an unparsable URL', local: false };
  }
}

/**
 * One line saying why the broker at `url` (one URL, or a comma-separated list of cluster nodes)
 * cannot be reached, what that means for the service (`consequence`), and how to start it. The
 * URLs' users and passwords are left out. A service retries in the background and says so; a
 * command that gives up passes `retrying: false`.
 */
export function describeUnreachableBroker(url: string, error: Error, consequence: string, retrying = true): string {
  const nodes = url
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map(node);
  const host = nodes.map((n) => n.host).join(', ');
  const local = nodes.every((n) => n.local);
  const why = cause(error);
  const fix =
    why === 'login refused'
      ? "check the user and password in AMQP_URL (RabbitMQ's guest user logs in only from localhost)"
      : local
        ? 'start it with `docker compose up rabbitmq`, or a local install with `systemctl start rabbitmq-server` (or `rabbitmq-server -detached`)'
        : 'check AMQP_URL and that the broker is running';
  return `RabbitMQ is not reachable at ${host} (${why}): ${consequence}; ${fix}.${retrying ? ' Retrying in the background.' : ''}`;
}

/** The events of a broker connection {@link explainUnreachableBroker} listens to. */
export interface ConnectAttempts {
  on(event: 'connect-failed', listener: (error: Error) => void): unknown;
  off(event: 'connect-failed', listener: (error: Error) => void): unknown;
  once(event: 'channel', listener: () => void): unknown;
}

/**
 * Logs {@link describeUnreachableBroker} once, when the first attempt to reach the broker fails,
 * and never again: neither on later retries nor after a connection that was up is lost.
 */
export function explainUnreachableBroker(
  broker: ConnectAttempts,
  logger: Logger,
  options: { readonly url: string; readonly consequence: string },
): void {
  const onFailure = (error: Error): void => {
    broker.off('connect-failed', onFailure);
    logger.error(describeUnreachableBroker(options.url, error, options.consequence), { error: error.message });
  };
  broker.on('connect-failed', onFailure);
  broker.once('channel', () => broker.off('connect-failed', onFailure));
}
