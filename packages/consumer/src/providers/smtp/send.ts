import { PassThrough, type Readable } from 'node:stream';
import nodemailer, { type Transporter } from 'nodemailer';
import type Mail from 'nodemailer/lib/mailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool';
import { toMailOptions } from '../mime';
import {
  ProviderError,
  stoppedSendError,
  type EmailProvider,
  type OutboundEmail,
  type RefusedRecipient,
  type SendOptions,
  type SendReceipt,
} from '../provider';
import { SendSlots } from '../send-slots';
import { classifySmtpError, refusedMailboxOf } from './errors';

/** A pooled nodemailer SMTP transporter, as {@link createSmtpTransport} makes it. */
export type SmtpTransport = Transporter<SMTPPool.SentMessageInfo, SMTPPool.Options>;

/** Defaults of {@link createSmtpTransport}. */
export const SMTP_TRANSPORT_DEFAULTS = {
  maxConnections: 5,
  /** Messages per connection before the pool opens a fresh one (nodemailer's own default). */
  maxMessages: 100,
  /** TCP (and TLS) connect, and DNS lookup. nodemailer's default is 2 minutes. */
  connectionTimeoutMs: 10_000,
  /** From connected to the server's 220 greeting. nodemailer's default is 30 s. */
  greetingTimeoutMs: 10_000,
  /**
   * Longest silence on an open connection, idle pooled ones included. nodemailer's default is
   * 10 minutes; the delivery layer's per-send timeout is meant to fire first.
   */
  socketTimeoutMs: 30_000,
} as const;

/** What {@link createSmtpTransport} needs; `main.ts` fills it from the configuration. */
export interface SmtpTransportOptions {
  readonly host: string;
  readonly port: number;
  /** true: TLS from the start (port 465); false: plain, upgraded with STARTTLS when the server offers it. */
  readonly secure: boolean;
  /** Credentials for AUTH; none: no AUTH. */
  readonly auth?: { readonly user: string; readonly pass: string } | undefined;
  readonly maxConnections?: number | undefined;
  readonly maxMessages?: number | undefined;
  readonly connectionTimeoutMs?: number | undefined;
  readonly greetingTimeoutMs?: number | undefined;
  readonly socketTimeoutMs?: number | undefined;
}

/**
 * The transporter for {@link SmtpProvider}: pooled connections, timeouts far below nodemailer's
 * minutes-long defaults, and no hidden retries (`maxRequeues: 0`: nodemailer would otherwise
 * queue a message again, without limit, when its connection closes without an error; retrying is
 * the delivery layer's job, and a message re-sent behind its back could go out after it has failed
 * over to another provider). Attachments never come from files or URLs.
 */
export function createSmtpTransport(options: SmtpTransportOptions): SmtpTransport {
  const connectionTimeout = options.connectionTimeoutMs ?? SMTP_TRANSPORT_DEFAULTS.connectionTimeoutMs;
  // maxRequeues is read by nodemailer's pool but missing from @types/nodemailer 8.
  const transport: SMTPPool.Options & { readonly maxRequeues: number } = {
    pool: true,
    host: options.host,
    port: options.port,
    secure: options.secure,
    ...(options.auth === undefined ? {} : { auth: { user: options.auth.user, pass: options.auth.pass } }),
    maxConnections: options.maxConnections ?? SMTP_TRANSPORT_DEFAULTS.maxConnections,
    maxMessages: options.maxMessages ?? SMTP_TRANSPORT_DEFAULTS.maxMessages,
    maxRequeues: 0,
    connectionTimeout,
    dnsTimeout: connectionTimeout,
    greetingTimeout: options.greetingTimeoutMs ?? SMTP_TRANSPORT_DEFAULTS.greetingTimeoutMs,
    socketTimeout: options.socketTimeoutMs ?? SMTP_TRANSPORT_DEFAULTS.socketTimeoutMs,
    disableFileAccess: true,
    disableUrlAccess: true,
  };
  return nodemailer.createTransport(transport);
}

/** Carries a send's {@link SendProgress} through nodemailer to the stream plugin. */
const PROGRESS = Symbol('mailer.smtp.progress');

type TrackedMailOptions = Mail.Options & { [PROGRESS]?: SendProgress };

/**
 * How far one send got, learnt from the message stream nodemailer reads: the pooled connection
 * creates it when it takes the message and pipes it into the socket once the server has answered
 * DATA with 354. When the stream ends, the whole message and the end-of-data dot are on their way,
 * and only then can the server have taken the message.
 */
class SendProgress {
  private handedOverFlag = false;
  private stream: PassThrough | undefined;
  private cancelledWith: Error | undefined;

  /** True once the whole message was handed to the connection. */
  get handedOver(): boolean {
    return this.handedOverFlag;
  }

  /** Wraps the message stream of one attempt (nodemailer makes one each time a connection takes the message). */
  watch(input: Readable): Readable {
    const output = new PassThrough();
    // nodemailer listens for stream errors only once it starts the transaction; until then (or if
    // it never does) an error here must not be an unhandled 'error' event.
    output.on('error', () => undefined);
    input.once('error', (error) => output.destroy(error));
    output.once('end', () => {
      this.handedOverFlag = true;
    });
    input.pipe(output);
    this.stream = output;
    // Cancelled while the message waited in the pool's queue: it never starts.
    if (this.cancelledWith !== undefined) output.destroy(this.cancelledWith);
    return output;
  }

  /**
   * Stops the message from going. Until it was handed over that is certain: the stream errors,
   * nodemailer closes the connection before the end-of-data dot, and the server drops the
   * transaction. Returns false when it is too late (the message was handed over).
   */
  cancel(reason: Error): boolean {
    if (this.handedOverFlag) return false;
    this.cancelledWith = reason;
    this.stream?.destroy(reason);
    return true;
  }
}

/**
 * Sends through an SMTP server with a pooled nodemailer transporter, passed in (see
 * {@link createSmtpTransport}). The message is built by {@link toMailOptions}, the same mapping
 * every adapter uses, and failures are classified by {@link classifySmtpError}.
 *
 * The provider adds one `stream` plugin to the transporter, to follow each message's stream
 * ({@link SendProgress}): nodemailer has no AbortSignal support and does not say how far a failed
 * send got, and both decide whether a failure is ambiguous. (With DKIM signing on the transporter
 * the signer reads the whole message first; the message then looks handed over early, which errs
 * towards "ambiguous", never the other way.)
 *
 * Recipients: when the server refuses some recipients and accepts others, nodemailer sends the
 * message to those accepted and resolves; so does `send`, since a retry would send it to them
 * again, naming in its receipt (`refused`) those refused with 5.1.x, for the suppression list.
 * When it refuses every recipient, `send` rejects (see `classifySmtpError`).
 *
 * The pool gets at most as many messages as it has connections (its `maxConnections`): the rest
 * wait in the provider's own {@link SendSlots}, where an abandoned send is dropped before it
 * reaches nodemailer. nodemailer's pool queue has no way to drop a message, so one handed to it
 * would go out after its broker channel closed.
 */
export class SmtpProvider implements EmailProvider {
  readonly name = 'smtp';
  private closed = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly slots: SendSlots;

  constructor(private readonly transporter: SmtpTransport) {
    // The pool's own setting, so the two cannot disagree (nodemailer's default is 5).
    const pool = transporter.transporter as Partial<SMTPPool>;
    this.slots = new SendSlots(this.name, pool.options?.maxConnections ?? SMTP_TRANSPORT_DEFAULTS.maxConnections);
    transporter.use('stream', (mail, done) => {
      const progress = (mail.data as TrackedMailOptions)[PROGRESS];
      if (progress !== undefined) mail.message.processFunc((input) => progress.watch(input));
      done();
    });
  }

  send(email: OutboundEmail, signal: AbortSignal, options: SendOptions = {}): Promise<SendReceipt> {
    if (this.closed) {
      return Promise.reject(
        new ProviderError('provider-unavailable', 'smtp: the provider is closed', { code: 'CLOSED' }),
      );
    }
    const attempt = this.slots.start(signal, options).then((release) => this.sendOnConnection(email, signal, release));
    const settled = attempt.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.add(settled);
    void settled.then(() => this.inFlight.delete(settled));
    return attempt;
  }

  /**
   * nodemailer's `verify()`: a connection of its own (not one of the pool's), the greeting, EHLO
   * and, with credentials, AUTH, then QUIT. nodemailer takes no signal: the session is bounded by
   * the transporter's connection and greeting timeouts, and the caller stops waiting on `signal`.
   */
  async verify(_signal: AbortSignal): Promise<void> {
    if (this.closed)
      throw new ProviderError('provider-unavailable', 'smtp: the provider is closed', { code: 'CLOSED' });
    try {
      await this.transporter.verify();
    } catch (error) {
      throw classifySmtpError(error);
    }
  }

  /**
   * Hands the email to the pool while it owns one of the pool's connections. The slot is given
   * back when nodemailer is done with the message, not when an abort settles `send` early: until
   * then the connection is still taken, and a message handed to the pool would wait in its queue.
   */
  private sendOnConnection(email: OutboundEmail, signal: AbortSignal, release: () => void): Promise<SendReceipt> {
    const progress = new SendProgress();
    let sending: Promise<SMTPPool.SentMessageInfo>;
    try {
      const mail: TrackedMailOptions = { ...toMailOptions(email), [PROGRESS]: progress };
      sending = this.transporter.sendMail(mail);
    } catch (error) {
      release();
      // Only rejections with a ProviderError leave send, whatever goes wrong.
      return Promise.reject(classifySmtpError(error));
    }
    sending.then(release, release);
    return untilAborted(sending, progress, signal);
  }

  /**
   * Refuses new sends, lets those in flight settle (each is bounded by its own signal), then
   * closes the pool's connections.
   */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.inFlight);
    this.transporter.close();
  }
}

/** Settles with the send, or with a transient ProviderError as soon as `signal` aborts. */
function untilAborted(
  sending: Promise<SMTPPool.SentMessageInfo>,
  progress: SendProgress,
  signal: AbortSignal,
): Promise<SendReceipt> {
  return new Promise<SendReceipt>((resolve, reject) => {
    const onAbort = (): void => {
      const stopped = progress.cancel(new Error('send aborted', { cause: signal.reason }));
      reject(stoppedSendError('smtp', signal.reason, !stopped));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    // After an abort this promise is settled already; whatever nodemailer says later is dropped.
    sending.then(
      (info) => {
        signal.removeEventListener('abort', onAbort);
        const refused = refusedMailboxes(info);
        resolve({ providerMessageId: info.messageId, ...(refused.length === 0 ? {} : { refused }) });
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(classifySmtpError(error, { messageHandedOver: progress.handedOver }));
      },
    );
  });
}

/**
 * The recipients a server refused with 5.1.x at RCPT TO while it took the message for the others
 * (nodemailer's `info.rejectedErrors`, one error per refused recipient): see `refusedMailboxOf`.
 */
function refusedMailboxes(info: SMTPPool.SentMessageInfo): RefusedRecipient[] {
  const rejected: unknown = (info as { rejectedErrors?: unknown }).rejectedErrors;
  if (!Array.isArray(rejected)) return [];
  return rejected.map(refusedMailboxOf).filter((r): r is RefusedRecipient => r !== undefined);
}
