/** The default port of each scheme, for naming a node whose URL leaves the port out. */
const defaultPorts: Readonly<Record<string, string>> = { 'amqp:': '5672', 'amqps:': '5671' };

/** The entries of `AMQP_URL`: one URL, or a comma-separated list of a cluster's nodes. */
export function splitAmqpUrls(url: string): string[] {
  return url
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/** `host:port` of a node URL, for logs: the user and password are left out. */
export function nodeAddress(url: string): string {
  try {
    const parsed = new URL(url);
    if (defaultPorts[parsed.protocol] === undefined) return 'unparsable URL';
    return `${parsed.hostname}:${parsed.port === '' ? defaultPorts[parsed.protocol] : parsed.port}`;
  } catch {
    // Config checks every entry at start-up; never echo an unparsable one, it may hold a password.
    return 'unparsable URL';
  }
}

/**
 * The broker nodes to connect to, taken in turn: a connection goes to the current node, and a
 * failed attempt or a lost connection moves on to the next one (round-robin), so a stopped node
 * is left for the others. With a single URL it always answers that one.
 */
export class NodeRotation {
  private readonly urls: readonly string[];
  private index = 0;

  constructor(url: string) {
    const urls = splitAmqpUrls(url);
    if (urls.length === 0) throw new Error('AMQP_URL names no broker node');
    this.urls = urls;
  }

  /** How many nodes there are. */
  get size(): number {
    return this.urls.length;
  }

  /** The URL to connect to now. */
  get current(): string {
    return this.urls[this.index] as string;
  }

  /** Moves on to the next node (back to the first after the last) and returns its URL. */
  advance(): string {
    this.index = (this.index + 1) % this.urls.length;
    return this.current;
  }
}
