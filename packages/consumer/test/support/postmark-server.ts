import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EMAIL_ID_HEADER } from '@mailer/contract';

/** The fields of Postmark's `POST /email` body that the fake reads (https://postmarkapp.com/developer/api/email-api). */
export interface PostmarkEmailJson {
  readonly From?: string;
  readonly To?: string;
  readonly Cc?: string;
  readonly Bcc?: string;
  readonly ReplyTo?: string;
  readonly Subject?: string;
  readonly TextBody?: string;
  readonly HtmlBody?: string;
  readonly Headers?: readonly { Name: string; Value: string }[];
  readonly Attachments?: readonly { Name: string; Content: string; ContentType: string; ContentID?: string | null }[];
  readonly Tag?: string;
  readonly Metadata?: Readonly<Record<string, string>>;
  readonly MessageStream?: string;
}

/** An email the fake accepted, with the MessageID it answered. */
export interface AcceptedEmail {
  readonly json: PostmarkEmailJson;
  readonly messageId: string;
  /** The recipients (To, Cc, Bcc; lower case) it was accepted for: inactive ones left out. */
  readonly deliveredTo: readonly string[];
}

/** The addresses marked inactive, and what a request with some active recipients gets. */
interface Inactive {
  readonly addresses: Set<string>;
  whenSome: 'ok' | '406';
}

/**
 * How the fake answers the next `POST /email`, as Postmark would:
 * - `inactive-recipient`: 422, ErrorCode 406;
 * - `invalid-request`: 422, ErrorCode 300;
 * - `sender-not-confirmed`: 422, ErrorCode 401 (a sender signature problem, not HTTP 401);
 * - `bad-token`: 401, ErrorCode 10;
 * - `rate-limit`: 429, ErrorCode 429;
 * - `server-error`: 500 with a plain-text body (no ErrorCode);
 * - `unavailable`: 503, ErrorCode 100 (maintenance);
 * - `hang`: reads the request and never answers;
 * - `reset`: reads the request and resets the connection.
 */
export type PostmarkFault =
  | 'inactive-recipient'
  | 'invalid-request'
  | 'sender-not-confirmed'
  | 'bad-token'
  | 'rate-limit'
  | 'server-error'
  | 'unavailable'
  | 'hang'
  | 'reset';

/** A request held unanswered by {@link FakePostmark.holdNext}. */
export interface HeldRequest {
  /** Resolves once the request has arrived (whole) and is being held. */
  readonly reached: Promise<void>;
  /** Handles it as if nothing was scripted. */
  release(): void;
}

/** A local stand-in for Postmark's email API (`POST /email`) and its `GET /server`. */
export interface FakePostmark {
  /** `127.0.0.1:<port>`, for the client's `requestHost` (with `useHttps: false`). */
  readonly host: string;
  /** The server token it accepts in `X-Postmark-Server-Token`. */
  readonly token: string;
  /** `POST /email` requests read so far, answered or not. */
  readonly requestCount: number;
  /** `GET /server` requests answered so far (what the adapter's `verify` asks). */
  readonly serverChecks: number;
  /** Emits `'hang'` when a request is left unanswered and `'accepted'` (with the email id) when one is stored. */
  readonly events: EventEmitter;
  /** Answers the next `POST /email` with this fault instead of handling it. */
  failNext(fault: PostmarkFault): void;
  /** Holds the next `POST /email` (after any faults scripted before) until released. */
  holdNext(): HeldRequest;
  /** While on, every `POST /email` nothing else was scripted for hangs, as with the `hang` fault. */
  hangAll(on: boolean): void;
  /**
   * Makes every `POST /email` nothing was scripted for wait (a slow Postmark) until the returned
   * function is called; those waiting then and later are handled.
   */
  pause(): () => void;
  /**
   * Makes the fake slow and otherwise healthy: each `POST /email` nothing was scripted for is
   * answered `ms` after its whole body arrived; 0 answers at once again.
   */
  slowDown(ms: number): void;
  /** How many distinct email ids were accepted more than once. */
  readonly duplicates: number;
  /** Most `POST /email` requests read and not yet answered at one time, since the server started. */
  readonly peakInProgress: number;
  /** How many times an email with this X-Mailer-Email-Id was accepted (0: never). */
  acceptedCount(id: string): number;
  /** The email accepted with this X-Mailer-Email-Id, waiting for it to arrive. */
  received(id: string): Promise<AcceptedEmail>;
  /**
   * Marks addresses inactive, as Postmark does after a hard bounce or a complaint. A `POST /email`
   * whose every recipient is inactive gets 422 ErrorCode 406 naming them. One with some active
   * recipients gets, with `whenSome: 'ok'` (what Postmark does today), 200 naming the inactive
   * ones in its `Message` ("Message OK, but will not deliver to these inactive addresses: ...")
   * and is accepted for the others; with `whenSome: '406'`, a 406 naming only the inactive ones.
   */
  markInactive(addresses: readonly string[], whenSome?: 'ok' | '406'): void;
  /** Every `POST /email` accepted for this X-Mailer-Email-Id, in order, with the recipients it was accepted for. */
  acceptedFor(id: string): readonly AcceptedEmail[];
  /** Stops listening and destroys every connection, hanging ones included. */
  close(): Promise<void>;
}

const MAX_RECIPIENTS = 50;
const MAX_BODY_BYTES = 60 * 1024 * 1024;

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

const apiError = (status: number, code: number, message: string): Answer => ({
  status,
  body: { ErrorCode: code, Message: message },
});

const FAULTS: Readonly<Record<Exclude<PostmarkFault, 'hang' | 'reset' | 'server-error'>, Answer>> = {
  'inactive-recipient': apiError(
    422,
    406,
    'You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: to1@example.org. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.',
  ),
  'invalid-request': apiError(422, 300, "Invalid 'To' address: 'not-an-address'."),
  'sender-not-confirmed': apiError(
    422,
    401,
    "The 'From' address you supplied (sender@example.com) is not a Sender Signature on your account.",
  ),
  'bad-token': apiError(401, 10, 'Request does not contain a valid Server token.'),
  'rate-limit': apiError(429, 429, 'Rate limit exceeded.'),
  unavailable: apiError(503, 100, 'Postmark is down for scheduled maintenance.'),
};

/** Starts the fake on 127.0.0.1 and a free port. */
export async function startFakePostmark(options: { readonly token?: string } = {}): Promise<FakePostmark> {
  const token = options.token ?? `server-token-${randomUUID()}`;
  const events = new EventEmitter();
  // One listener per email a test waits for.
  events.setMaxListeners(0);
  const accepted = new Map<string, AcceptedEmail>();
  const history = new Map<string, AcceptedEmail[]>();
  const inactive: Inactive = { addresses: new Set(), whenSome: 'ok' };
  events.on('accepted', (id: string) => {
    const email = accepted.get(id);
    if (email !== undefined) history.set(id, [...(history.get(id) ?? []), email]);
  });
  const acceptedCounts = new Map<string, number>();
  const faults: (PostmarkFault | { readonly hold: Promise<void>; readonly reached: () => void })[] = [];
  let requestCount = 0;
  let serverChecks = 0;
  let hangingAll = false;
  let paused: Promise<void> | undefined;
  let delayMs = 0;
  let inProgress = 0;
  let peakInProgress = 0;
  events.on('accepted', (id: string) => acceptedCounts.set(id, (acceptedCounts.get(id) ?? 0) + 1));

  const server = http.createServer((req, res) => {
    readBody(req).then(
      (body) => {
        if (req.method === 'GET' && req.url === '/server') {
          serverChecks += 1;
          send(res, serverAnswer(req, token));
          return;
        }
        if (req.method !== 'POST' || req.url !== '/email') {
          send(res, apiError(404, 0, 'Not found.'));
          return;
        }
        requestCount += 1;
        inProgress += 1;
        peakInProgress = Math.max(peakInProgress, inProgress);
        res.once('close', () => (inProgress -= 1));
        const scripted = faults.shift();
        if (typeof scripted === 'object') {
          scripted.reached();
          void scripted.hold.then(() => send(res, handleEmail(req, body, token, accepted, events, inactive)));
          return;
        }
        const fault = scripted ?? (hangingAll ? 'hang' : undefined);
        if (fault === undefined && paused !== undefined) {
          void paused.then(() => send(res, handleEmail(req, body, token, accepted, events, inactive)));
          return;
        }
        if (fault === undefined && delayMs > 0) {
          setTimeout(() => {
            // The whole request is in: Postmark sends it even if the client has gone meanwhile.
            const answer = handleEmail(req, body, token, accepted, events, inactive);
            if (!res.destroyed) send(res, answer);
          }, delayMs);
          return;
        }
        if (fault === 'hang') {
          events.emit('hang');
          return;
        }
        if (fault === 'reset') {
          req.socket.resetAndDestroy();
          return;
        }
        if (fault === 'server-error') {
          res.writeHead(500, { 'Content-Type': 'text/plain' }).end('Internal Server Error');
          return;
        }
        if (fault !== undefined) {
          send(res, FAULTS[fault]);
          return;
        }
        send(res, handleEmail(req, body, token, accepted, events, inactive));
      },
      () => req.socket.destroy(),
    );
  });

  server.listen(0, '127.0.0.1');
  await EventEmitter.once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    host: `127.0.0.1:${port}`,
    token,
    events,
    get requestCount() {
      return requestCount;
    },
    get serverChecks() {
      return serverChecks;
    },
    failNext(fault) {
      faults.push(fault);
    },
    holdNext() {
      let release!: () => void;
      let reached!: () => void;
      const hold = new Promise<void>((resolve) => (release = resolve));
      const arrived = new Promise<void>((resolve) => (reached = resolve));
      faults.push({ hold, reached });
      return { reached: arrived, release };
    },
    hangAll(on) {
      hangingAll = on;
    },
    pause() {
      let resume!: () => void;
      const gate = new Promise<void>((resolve) => (resume = resolve));
      paused = gate;
      return () => {
        if (paused === gate) paused = undefined;
        resume();
      };
    },
    slowDown(ms) {
      delayMs = ms;
    },
    get duplicates() {
      let count = 0;
      for (const times of acceptedCounts.values()) if (times > 1) count += 1;
      return count;
    },
    get peakInProgress() {
      return peakInProgress;
    },
    markInactive(addresses, whenSome = 'ok') {
      for (const address of addresses) inactive.addresses.add(address.toLowerCase());
      inactive.whenSome = whenSome;
    },
    acceptedFor(id) {
      return history.get(id) ?? [];
    },
    acceptedCount(id) {
      return acceptedCounts.get(id) ?? 0;
    },
    received(id) {
      const known = accepted.get(id);
      if (known !== undefined) return Promise.resolve(known);
      return new Promise((resolve) => {
        const listener = (acceptedId: string): void => {
          const email = accepted.get(acceptedId);
          if (acceptedId !== id || email === undefined) return;
          events.off('accepted', listener);
          resolve(email);
        };
        events.on('accepted', listener);
      });
    },
    async close() {
      const closed = new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
      server.closeAllConnections();
      await closed;
    },
  };
}

/**
 * `GET /server` (https://postmarkapp.com/developer/api/server-api): the server the token belongs
 * to, or 401 ErrorCode 10 for a token it does not know.
 */
function serverAnswer(req: http.IncomingMessage, token: string): Answer {
  if (req.headers['x-postmark-server-token'] !== token) {
    return apiError(401, 10, 'Request does not contain a valid Server token.');
  }
  return {
    status: 200,
    body: { ID: 1, Name: 'Fake Postmark server', ApiTokens: [token], Color: 'blue', DeliveryType: 'Live' },
  };
}

/** Postmark's checks, in its order: token, content type, JSON, then the email's fields. */
function handleEmail(
  req: http.IncomingMessage,
  body: Buffer,
  token: string,
  accepted: Map<string, AcceptedEmail>,
  events: EventEmitter,
  inactive: Inactive,
): Answer {
  if (req.headers['x-postmark-server-token'] !== token) {
    return apiError(401, 10, 'Request does not contain a valid Server token.');
  }
  if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
    return apiError(415, 0, 'Unsupported Media Type: send application/json.');
  }
  let json: PostmarkEmailJson;
  try {
    json = JSON.parse(body.toString('utf8')) as PostmarkEmailJson;
  } catch {
    return apiError(422, 402, 'Invalid JSON.');
  }
  const problem = validate(json);
  if (problem !== undefined) return apiError(422, 300, problem);

  const recipients = (['To', 'Cc', 'Bcc'] as const).flatMap((field) =>
    (parseAddressList(json[field] ?? '') ?? []).map((m) => m.email.toLowerCase()),
  );
  const refused = recipients.filter((address) => inactive.addresses.has(address));
  if (refused.length > 0 && (refused.length === recipients.length || inactive.whenSome === '406')) {
    return apiError(
      422,
      406,
      `You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: ${refused.join(', ')}. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.`,
    );
  }
  const messageId = randomUUID();
  const id = json.Headers?.find((header) => header.Name.toLowerCase() === EMAIL_ID_HEADER.toLowerCase())?.Value;
  if (id !== undefined) {
    accepted.set(id, { json, messageId, deliveredTo: recipients.filter((address) => !refused.includes(address)) });
    events.emit('accepted', id);
  }
  return {
    status: 200,
    body: {
      ...(json.To === undefined ? {} : { To: json.To }),
      SubmittedAt: new Date().toISOString(),
      MessageID: messageId,
      ErrorCode: 0,
      Message:
        refused.length === 0
          ? 'OK'
          : `Message OK, but will not deliver to these inactive addresses: ${refused.join(', ')}`,
    },
  };
}

/**
 * What Postmark refuses with ErrorCode 300. `To` is documented as required, but Postmark takes
 * Cc-only and Bcc-only emails (answering without `To`), so the fake asks for one recipient anywhere.
 */
function validate(json: PostmarkEmailJson): string | undefined {
  const from = parseAddressList(json.From ?? '');
  if (from?.length !== 1) return `Invalid 'From' address: '${json.From ?? ''}'.`;
  let recipients = 0;
  for (const field of ['To', 'Cc', 'Bcc', 'ReplyTo'] as const) {
    const value = json[field];
    if (value === undefined || value === '') continue;
    const list = parseAddressList(value);
    if (list === undefined) return `Invalid '${field}' address: '${value}'.`;
    if (field !== 'ReplyTo') recipients += list.length;
  }
  if (recipients === 0) return 'Zero recipients specified';
  if (recipients > MAX_RECIPIENTS) return `Too many recipients: ${recipients} (at most ${MAX_RECIPIENTS}).`;
  if (!json.TextBody && !json.HtmlBody) return 'Provide either email TextBody or HtmlBody or both.';
  for (const header of json.Headers ?? []) {
    if (typeof header.Name !== 'string' || typeof header.Value !== 'string') return 'Invalid header.';
  }
  for (const attachment of json.Attachments ?? []) {
    if (!attachment.Name || !attachment.ContentType || !/^[A-Za-z0-9+/]*={0,2}$/.test(attachment.Content)) {
      return `Invalid attachment: '${attachment.Name}'.`;
    }
  }
  return undefined;
}

/** A mailbox as Postmark reads it: `addr`, `Name <addr>` or `"Quoted, Name" <addr>`. */
export interface ParsedMailbox {
  readonly email: string;
  readonly name?: string;
}

const ADDRESS = /^[^\s@<>",]+@[^\s@<>",]+$/;
const MAILBOX = /^(?:"((?:[^"\\]|\\.)*)"|([^"<>]*?))\s*<([^<>]+)>$/;

/** A comma-separated address list, commas inside quotes allowed; `undefined` when any entry is invalid. */
export function parseAddressList(value: string): ParsedMailbox[] | undefined {
  const items: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < value.length; i += 1) {
    const char = value.charAt(i);
    if (quoted && char === '\\') {
      current += char + value.charAt(i + 1);
      i += 1;
      continue;
    }
    if (char === '"') quoted = !quoted;
    if (char === ',' && !quoted) {
      items.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  items.push(current);
  const mailboxes: ParsedMailbox[] = [];
  for (const item of items.map((entry) => entry.trim())) {
    if (ADDRESS.test(item)) {
      mailboxes.push({ email: item });
      continue;
    }
    const match = MAILBOX.exec(item);
    const email = match?.[3]?.trim();
    if (match === null || email === undefined || !ADDRESS.test(email)) return undefined;
    const name = match[1] === undefined ? match[2]?.trim() : match[1].replace(/\\(.)/g, '$1');
    mailboxes.push(name ? { email, name } : { email });
  }
  return mailboxes;
}

function send(res: http.ServerResponse, answer: Answer): void {
  res.writeHead(answer.status, { 'Content-Type': 'application/json' }).end(JSON.stringify(answer.body));
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error('request too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
