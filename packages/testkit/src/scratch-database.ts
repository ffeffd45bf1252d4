import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server the tests use; each test file gets databases of its own on it. */
export const TEST_SERVER_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** An empty database made for one test file, dropped by `drop`. */
export interface ScratchDatabase {
  readonly url: string;
  readonly name: string;
  drop(): Promise<void>;
}

/** `url` with its database name replaced by `name`. */
function urlOf(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function onServer<T>(serverUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates an empty database named `<prefix>_<pid>_<random>` on `serverUrl` (default
 * {@link TEST_SERVER_URL}), so test runs never share one. `drop` removes it, ending its sessions.
 */
export async function createScratchDatabase(
  prefix: string,
  serverUrl: string = TEST_SERVER_URL,
): Promise<ScratchDatabase> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await onServer(serverUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
  return {
    url: urlOf(serverUrl, name),
    name,
    drop: () =>
      onServer(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}
