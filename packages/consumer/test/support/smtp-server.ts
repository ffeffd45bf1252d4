import { EventEmitter, once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { EMAIL_ID_HEADER } from '@mailer/contract';

/** What the server received in one transaction that it accepted. */
export interface ReceivedSmtpMessage {
  /** The `X-Mailer-Email-Id` header's value. */
  readonly id: string;
  /** The message as sent after DATA (RFC 5322, dot-unstuffed). */
  readonly raw: Buffer;
  readonly mailFrom: string;
  /** Every RCPT TO the server accepted, Bcc recipients included. */
  readonly recipients: readonly string[];
}

/** Commands whose reply a test can script. DATA means the reply after the message (end of data). */
export type SmtpStage = 'AUTH' | 'MAIL' | 'RCPT' | 'DATA';

/** A reply smtp-server sends as `code text`, e.g. `{ code: 550, text: '5.1.1 No such user' }`. */
export interface SmtpReply {
  readonly code: number;
  readonly text: string;
}

/** A command held without an answer, see {@link TestSmtpServer.hold}. */
export interface HeldCommand {
  /** Resolves when the command arrived and is being held. */
  readonly reached: Promise<void>;
  /** Lets the command go on as if nothing was scripted (answered with success). */
  release(): void;
}

class Deferred<T> {
  resolve!: (value: T) => void;
  readonly promise = new Promise<T>((resolve) => {
    this.resolve = resolve;
  });
}

type Armed =
  | { readonly script: 'reply'; readonly reply: SmtpReply }
  | { readonly script: 'hold'; readonly reached: Deferred<void>; readonly released: Deferred<void> };

/**
 * A real SMTP server (nodemailer's `smtp-server`) on 127.0.0.1, a random port, no TLS, AUTH offered
 * but optional. It keeps each accepted message by its email id and lets a test script the next
 * replies (`next('RCPT', { code: 550, text: '5.1.1 No such user' })`) or hold a command unanswered
 * (`hold('DATA')`).
 */
export class TestSmtpServer {
  private readonly server: SMTPServer;
  private readonly armed = new Map<SmtpStage, Armed[]>();
  /** Which transaction (session id and number) a RCPT script applies to: all its recipients. */
  private readonly rcptScripts = new Map<string, Armed>();
  private readonly refusedRecipients = new Map<string, SmtpReply>();
  private readonly messages = new Map<string, ReceivedSmtpMessage>();
  private readonly acceptedCounts = new Map<string, number>();
  private readonly waiting = new Map<string, Deferred<ReceivedSmtpMessage>>();
  private readonly holds: (() => void)[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly events = new EventEmitter();
  private opened = 0;
  private dataDelayMs = 0;
  /** Sessions with a transaction under way: past MAIL FROM, not yet answered after the data nor closed. */
  private readonly transactions = new Set<string>();

  private constructor() {
    this.server = new SMTPServer({
      secure: false,
      disabledCommands: ['STARTTLS'],
      authOptional: true,
      allowInsecureAuth: true,
      disableReverseLookup: true,
      maxAllowedUnauthenticatedCommands: false,
      logger: false,
      onAuth: (_auth, _session, callback) => {
        const armed = this.take('AUTH');
        const accept = (): void => callback(null, { user: 'test' });
        if (armed === undefined) accept();
        else this.apply(armed, accept, (error) => callback(error));
      },
      onMailFrom: (_address, session, callback) => {
        const armed = this.take('MAIL');
        const accept = (): void => {
          this.transactions.add(session.id);
          callback();
        };
        if (armed === undefined) accept();
        else this.apply(armed, accept, callback);
      },
      onClose: (session) => {
        this.transactions.delete(session.id);
      },
      onRcptTo: (address, session, callback) => {
        const refusal = this.refusedRecipients.get(address.address.toLowerCase());
        if (refusal !== undefined) {
          callback(replyError(refusal));
          return;
        }
        const armed = this.rcptScriptFor(session);
        if (armed === undefined) callback();
        else this.apply(armed, () => callback(), callback);
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.once('end', () => {
          const accept = (): void => {
            const store = (): void => {
              this.transactions.delete(session.id);
              void this.store(Buffer.concat(chunks), session).then(
                () => callback(),
                (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
              );
            };
            // A slow server: the whole message is in, and the 250 comes this much later.
            if (this.dataDelayMs > 0) setTimeout(store, this.dataDelayMs);
            else store();
          };
          const armed = this.take('DATA');
          const refuse = (error: Error): void => {
            this.transactions.delete(session.id);
            callback(error);
          };
          if (armed === undefined) accept();
          else this.apply(armed, accept, refuse);
        });
      },
    });
    // A client killed mid-session (kill -9) resets its connections: smtp-server reports each
    // ECONNRESET as an 'error', which is the client's doing and must not fail the test.
    this.server.on('error', () => undefined);
    this.server.server.on('connection', (socket: Socket) => {
      this.opened += 1;
      this.sockets.add(socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        this.events.emit('socket-closed');
      });
    });
  }

  /** Starts a server and waits until it listens, on `port` (default: any free one). */
  static async start(port = 0): Promise<TestSmtpServer> {
    const server = new TestSmtpServer();
    server.server.listen(port, '127.0.0.1');
    await once(server.server.server, 'listening');
    return server;
  }

  get port(): number {
    return (this.server.server.address() as AddressInfo).port;
  }

  /** Connections accepted since the server started. */
  get connectionsOpened(): number {
    return this.opened;
  }

  /** Connections open now. */
  get openConnections(): number {
    return this.sockets.size;
  }

  /** Resolves once no connection is open (the clients closed theirs). */
  async allConnectionsClosed(): Promise<void> {
    while (this.sockets.size > 0) await once(this.events, 'socket-closed');
  }

  /**
   * Scripts the next reply to a stage. For RCPT the reply covers every recipient of the next
   * transaction that reaches RCPT.
   */
  next(stage: SmtpStage, reply: SmtpReply): void {
    this.arm(stage, { script: 'reply', reply });
  }

  /**
   * Holds the next command of a stage unanswered until `release()` (or until the server closes).
   * For DATA the whole message has arrived when it is held: only the final reply is missing.
   */
  hold(stage: SmtpStage): HeldCommand {
    const armed = { script: 'hold', reached: new Deferred<void>(), released: new Deferred<void>() } as const;
    const release = (): void => armed.released.resolve();
    this.arm(stage, armed);
    this.holds.push(release);
    return { reached: armed.reached.promise, release };
  }

  /**
   * Makes the server slow and otherwise healthy: each message is taken (and answered 250) `ms`
   * after its end-of-data dot arrived; 0 answers at once again.
   */
  slowDown(ms: number): void {
    this.dataDelayMs = ms;
  }

  /**
   * Transactions under way now: past MAIL FROM, not yet answered after their data, on a
   * connection still open. The sends on the wire, as the server sees them.
   */
  get openTransactions(): number {
    return this.transactions.size;
  }

  /** How many distinct email ids were accepted more than once. */
  get duplicates(): number {
    let count = 0;
    for (const times of this.acceptedCounts.values()) if (times > 1) count += 1;
    return count;
  }

  /** Refuses this recipient with this reply, in every transaction, until the server closes. */
  refuseRecipient(address: string, reply: SmtpReply): void {
    this.refusedRecipients.set(address.toLowerCase(), reply);
  }

  /** The message with this email id, once the server has accepted it. */
  message(id: string): Promise<ReceivedSmtpMessage> {
    const stored = this.messages.get(id);
    if (stored !== undefined) return Promise.resolve(stored);
    const deferred = this.waiting.get(id) ?? new Deferred<ReceivedSmtpMessage>();
    this.waiting.set(id, deferred);
    return deferred.promise;
  }

  /** How many times a message with this email id was accepted (0: never). */
  timesAccepted(id: string): number {
    return this.acceptedCounts.get(id) ?? 0;
  }

  /** Whether a message with this email id was accepted (no waiting). */
  hasMessage(id: string): boolean {
    return this.messages.has(id);
  }

  /**
   * Forgets scripts no command used and releases every held command: what one test armed must not
   * leak into the next, even when the test failed half-way.
   */
  reset(): void {
    for (const queue of this.armed.values()) queue.length = 0;
    this.rcptScripts.clear();
    this.refusedRecipients.clear();
    this.dataDelayMs = 0;
    for (const release of this.holds.splice(0)) release();
  }

  /** Stops listening and ends every connection, hung ones included; resolves once all are gone. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      this.server.close(resolve);
    });
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private arm(stage: SmtpStage, armed: Armed): void {
    const queue = this.armed.get(stage) ?? [];
    queue.push(armed);
    this.armed.set(stage, queue);
  }

  private take(stage: SmtpStage): Armed | undefined {
    return this.armed.get(stage)?.shift();
  }

  private rcptScriptFor(session: SMTPServerSession): Armed | undefined {
    const transaction = `${session.id}:${session.transaction}`;
    const bound = this.rcptScripts.get(transaction);
    if (bound !== undefined) return bound;
    const armed = this.take('RCPT');
    if (armed !== undefined) this.rcptScripts.set(transaction, armed);
    return armed;
  }

  private apply(armed: Armed, proceed: () => void, fail: (error: Error) => void): void {
    if (armed.script === 'reply') {
      fail(replyError(armed.reply));
      return;
    }
    armed.reached.resolve();
    void armed.released.promise.then(proceed);
  }

  private async store(raw: Buffer, session: SMTPServerSession): Promise<void> {
    const parsed = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true });
    const header = parsed.headers.get(EMAIL_ID_HEADER.toLowerCase());
    const id = typeof header === 'string' ? header : '';
    const message: ReceivedSmtpMessage = {
      id,
      raw,
      mailFrom: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
      recipients: session.envelope.rcptTo.map((recipient) => recipient.address.toLowerCase()),
    };
    this.messages.set(id, message);
    this.acceptedCounts.set(id, (this.acceptedCounts.get(id) ?? 0) + 1);
    this.waiting.get(id)?.resolve(message);
    this.waiting.delete(id);
  }
}

/** An error smtp-server turns into the reply `code text`. */
function replyError(reply: SmtpReply): Error & { responseCode: number } {
  return Object.assign(new Error(reply.text), { responseCode: reply.code });
}
