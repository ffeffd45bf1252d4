import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import startSesServer from 'aws-ses-v2-local';
import { EMAIL_ID_HEADER } from '@mailer/contract';

/** One email as aws-ses-v2-local keeps it (`GET /store` answers `{ templates, emails: StoredEmail[] }`). */
export interface StoredEmail {
  /** The MessageId it answered SendRawEmail with (`ses-` and nine digits). */
  readonly messageId: string;
  /** The From header as text, e.g. `"Example Sender" <sender@example.com>`. */
  readonly from: string;
  readonly replyTo: string[];
  /**
   * Header texts, one string per header (`"To One" <to1@example.org>, to2@example.org`). Bcc comes
   * only from a Bcc header, so it is empty for our messages: `Destinations` are not kept.
   */
  readonly destination: { readonly to: string[]; readonly cc: string[]; readonly bcc: string[] };
  readonly subject: string;
  readonly body: { readonly text?: string; readonly html?: string };
  readonly attachments: readonly {
    readonly filename?: string;
    readonly contentType: string;
    readonly content: string;
  }[];
  /** Seconds since the epoch. */
  readonly at: number;
}

/**
 * What SES was asked to send for one email: the SendRawEmail parameters as they crossed the wire
 * (the emulator's store keeps neither the raw MIME, nor custom headers, nor `Destinations`) and
 * the emulator's own record of it, found in `GET /store` by MessageId.
 */
export interface SesReceived {
  readonly messageId: string;
  /** `RawMessage.Data`, decoded. */
  readonly raw: Buffer;
  readonly source: string | undefined;
  /** `Destinations.member.N`: every envelope recipient, Bcc included. */
  readonly destinations: readonly string[];
  readonly configurationSetName: string | undefined;
  /** `Tags.member.N.Name` / `.Value`: the message tags, in order. */
  readonly tags: readonly { readonly name: string; readonly value: string }[];
  readonly stored: StoredEmail;
}

/** An AWS Query protocol error (`<ErrorResponse>`), as SES v1 sends it. */
export interface SesErrorAnswer {
  readonly kind: 'error';
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly type: 'Sender' | 'Receiver';
}

/** How the proxy answers a request instead of passing it to the emulator. */
export type SesFault =
  | SesErrorAnswer
  /** Any other answer (a load balancer's HTML page). */
  | { readonly kind: 'raw'; readonly status: number; readonly contentType: string; readonly body: string }
  /** Reads the request and never answers. */
  | { readonly kind: 'hang' }
  /** Reads the request and forwards it only once `hold` resolves (`reached` is called on arrival). */
  | { readonly kind: 'hold'; readonly hold: Promise<void>; readonly reached: () => void };

/** An SES error answer: `Sender` fault below 500, `Receiver` from 500 up, as SES marks them. */
export function sesError(code: string, message: string, status = 400): SesErrorAnswer {
  return { kind: 'error', status, code, message, type: status >= 500 ? 'Receiver' : 'Sender' };
}

/**
 * aws-ses-v2-local on 127.0.0.1, behind a proxy that records requests, injects faults and answers
 * `GetSendQuota` (which the emulator does not know).
 */
export interface SesEmulator {
  /** The proxy: give this to the SDK client as its endpoint. */
  readonly endpoint: string;
  /** The emulator itself, behind the proxy. */
  readonly emulatorUrl: string;
  /** Requests that reached the proxy so far. */
  readonly requestCount: number;
  /** The next request gets this answer instead of reaching the emulator (faults queue up in order). */
  failNext(fault: SesFault): void;
  /** Resolves once a request is being held by a `hang` fault. */
  hanging(): Promise<void>;
  /** Holds the next request (after faults scripted before it) until released, then forwards it. */
  holdNext(): { readonly reached: Promise<void>; release(): void };
  /** Whether SES took an email with this X-Mailer-Email-Id (no waiting). */
  has(emailId: string): boolean;
  /** What SES received for the email with this X-Mailer-Email-Id, waiting up to `timeoutMs` for it. */
  received(emailId: string, timeoutMs?: number): Promise<SesReceived>;
  close(): Promise<void>;
}

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Keep-alive sockets (the SDK's agent) would otherwise hold close() open.
  server.closeAllConnections();
  return closed;
}

async function readBody(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    // No agent: no keep-alive socket left behind for Jest to find.
    http
      .get(url, { agent: false }, (res) => {
        readBody(res)
          .then((body) => resolve(JSON.parse(body.toString('utf8'))))
          .catch(reject);
      })
      .on('error', reject);
  });
}

/** The X-Mailer-Email-Id header of a raw message (headers unfolded), if any. */
function emailIdOf(raw: Buffer): string | undefined {
  const text = raw.toString('utf8');
  const end = text.search(/\r?\n\r?\n/);
  const headers = (end === -1 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const match = new RegExp(`^${EMAIL_ID_HEADER}:[ \\t]*(.*)$`, 'im').exec(headers);
  return match?.[1]?.trim();
}

function errorXml(code: string, message: string, type: string, requestId: string): string {
  const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return (
    `<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>${type}</Type>` +
    `<Code>${escape(code)}</Code><Message>${escape(message)}</Message></Error>` +
    `<RequestId>${requestId}</RequestId></ErrorResponse>`
  );
}

/**
 * SES v1's `GetSendQuota` answer (sandbox limits, nothing sent), which the adapter's `verify`
 * asks for: aws-ses-v2-local answers only the v2 `GetAccount`, so the proxy answers this itself.
 */
function sendQuotaXml(seq: number): string {
  return (
    '<GetSendQuotaResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><GetSendQuotaResult>' +
    '<SentLast24Hours>0.0</SentLast24Hours><Max24HourSend>200.0</Max24HourSend><MaxSendRate>1.0</MaxSendRate>' +
    `</GetSendQuotaResult><ResponseMetadata><RequestId>00000000-0000-4000-9000-${String(seq).padStart(12, '0')}</RequestId>` +
    '</ResponseMetadata></GetSendQuotaResponse>'
  );
}

/** Starts the emulator in this process (its package exports the server) and the proxy in front. */
export async function startSesEmulator(): Promise<SesEmulator> {
  const emulator = await startSesServer({ host: '127.0.0.1', port: 0 });
  const emulatorUrl = `http://127.0.0.1:${(emulator.address() as AddressInfo).port}`;

  const events = new EventEmitter();
  const faults: SesFault[] = [];
  const sent = new Map<string, Omit<SesReceived, 'stored'>>();
  const held = new Set<http.ServerResponse>();
  let requestCount = 0;
  let requestSeq = 0;

  const record = (body: Buffer, status: number, answer: Buffer): void => {
    const form = new URLSearchParams(body.toString('utf8'));
    const data = form.get('RawMessage.Data');
    const messageId = /<MessageId>([^<]+)<\/MessageId>/.exec(answer.toString('utf8'))?.[1];
    if (form.get('Action') !== 'SendRawEmail' || status !== 200 || data === null || messageId === undefined) return;
    const raw = Buffer.from(data, 'base64');
    const destinations = [...form.entries()]
      .filter(([key]) => /^Destinations\.member\.\d+$/.test(key))
      .sort(([a], [b]) => Number(a.split('.')[2]) - Number(b.split('.')[2]))
      .map(([, value]) => value);
    const emailId = emailIdOf(raw);
    if (emailId === undefined) return;
    sent.set(emailId, {
      messageId,
      raw,
      source: form.get('Source') ?? undefined,
      destinations,
      configurationSetName: form.get('ConfigurationSetName') ?? undefined,
      tags: tagsOf(form),
    });
    events.emit(`sent:${emailId}`);
  };

  const forward = (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void => {
    const upstream = http.request(
      `${emulatorUrl}${req.url ?? '/'}`,
      { method: req.method, headers: req.headers, agent: false },
      (answer) => {
        readBody(answer)
          .then((answerBody) => {
            record(body, answer.statusCode ?? 0, answerBody);
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            res.end(answerBody);
          })
          .catch((error: unknown) => res.destroy(error as Error));
      },
    );
    upstream.on('error', (error) => res.destroy(error));
    upstream.end(body);
  };

  const proxy = http.createServer((req, res) => {
    requestCount += 1;
    readBody(req)
      .then((body) => {
        const fault = faults.shift();
        if (fault === undefined && new URLSearchParams(body.toString('utf8')).get('Action') === 'GetSendQuota') {
          requestSeq += 1;
          res.writeHead(200, { 'content-type': 'text/xml' });
          res.end(sendQuotaXml(requestSeq));
        } else if (fault === undefined) {
          forward(req, body, res);
        } else if (fault.kind === 'hold') {
          fault.reached();
          void fault.hold.then(() => forward(req, body, res));
        } else if (fault.kind === 'hang') {
          held.add(res);
          res.on('close', () => held.delete(res));
          events.emit('hanging');
        } else if (fault.kind === 'raw') {
          res.writeHead(fault.status, { 'content-type': fault.contentType });
          res.end(fault.body);
        } else {
          requestSeq += 1;
          const requestId = `00000000-0000-4000-8000-${String(requestSeq).padStart(12, '0')}`;
          res.writeHead(fault.status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
          res.end(errorXml(fault.code, fault.message, fault.type, requestId));
        }
      })
      .catch((error: unknown) => res.destroy(error as Error));
  });
  const endpoint = await listen(proxy);

  return {
    endpoint,
    emulatorUrl,
    get requestCount() {
      return requestCount;
    },
    failNext: (fault) => {
      faults.push(fault);
    },
    holdNext: () => {
      let release!: () => void;
      let reached!: () => void;
      const hold = new Promise<void>((resolve) => (release = resolve));
      const arrived = new Promise<void>((resolve) => (reached = resolve));
      faults.push({ kind: 'hold', hold, reached });
      return { reached: arrived, release };
    },
    has: (emailId) => sent.has(emailId),
    hanging: async () => {
      if (held.size > 0) return;
      await once(events, 'hanging');
    },
    received: async (emailId, timeoutMs = 10_000) => {
      if (!sent.has(emailId)) await once(events, `sent:${emailId}`, { signal: AbortSignal.timeout(timeoutMs) });
      const request = sent.get(emailId);
      if (request === undefined) throw new Error(`SES emulator: nothing received for ${emailId}`);
      const store = (await getJson(`${emulatorUrl}/store`)) as { emails: StoredEmail[] };
      const stored = store.emails.find((email) => email.messageId === request.messageId);
      if (stored === undefined) throw new Error(`SES emulator: ${request.messageId} not in GET /store`);
      return { ...request, stored };
    },
    close: async () => {
      for (const res of held) res.destroy();
      await Promise.all([closeServer(proxy), closeServer(emulator)]);
    },
  };
}

/** An endpoint on 127.0.0.1 where nothing listens (a port just freed), for connection-refused tests. */
export async function refusedEndpoint(): Promise<string> {
  const server = http.createServer();
  const url = await listen(server);
  await closeServer(server);
  return url;
}

/** The message tags of a SendRawEmail form (`Tags.member.N.Name`, `Tags.member.N.Value`), in order. */
function tagsOf(form: URLSearchParams): { name: string; value: string }[] {
  const tags: { name: string; value: string }[] = [];
  for (let n = 1; form.has(`Tags.member.${n}.Name`); n += 1) {
    tags.push({ name: form.get(`Tags.member.${n}.Name`) ?? '', value: form.get(`Tags.member.${n}.Value`) ?? '' });
  }
  return tags;
}
