import { AsyncLocalStorage } from 'node:async_hooks';
import { EMAIL_ID_HEADER, type Address, type EmailRequest } from '@mailer/contract';
import { Attachment, Header, Message, Models, type ServerClient } from 'postmark';
import { createHttpFetch, type Fetch, type HttpFetchInit } from '../http-fetch';
import { classifyPostmarkError, inactiveInAnswer } from './errors';
import { attachmentContentType } from '../media-type';
import { ProviderError, type EmailProvider, type OutboundEmail, type SendOptions, type SendReceipt } from '../provider';
import { untilStopped } from '../send-abort';
import { SendSlots } from '../send-slots';

/** Postmark's default transactional stream, present on every server. */
export const DEFAULT_MESSAGE_STREAM = 'outbound';

/**
 * The client's own request timeout, a backstop for calls whose signal never aborts. The SDK's
 * default is 180 s; the delivery layer's per-provider timeout should be the one that fires.
 */
export const DEFAULT_REQUEST_TIMEOUT_SECONDS = 30;

/**
 * Requests to Postmark at once: each holds one keep-alive connection while it is on the wire; the
 * other sends wait in the provider, where they can still be abandoned.
 */
export const DEFAULT_MAX_CONNECTIONS = 100;

/** Request tag whose value becomes Postmark's one `Tag` per message. */
export const POSTMARK_TAG_KEY = 'tag';

export interface PostmarkProviderOptions {
  /** Message stream to send through; {@link DEFAULT_MESSAGE_STREAM} when not given. */
  readonly messageStream?: string;
  /** The client's request timeout in seconds; {@link DEFAULT_REQUEST_TIMEOUT_SECONDS} when not given. */
  readonly requestTimeoutSeconds?: number;
  /** Requests in flight at once; {@link DEFAULT_MAX_CONNECTIONS} when not given. */
  readonly maxConnections?: number;
}

/** One send in flight, seen by the client's fetch through {@link calls}. */
interface Call {
  readonly signal: AbortSignal;
  /**
   * Set once the request's body was sent (with {@link createHttpFetch}), or once the client
   * called fetch (with a fetch of the client's own, which does not say): from then on an abort
   * may come after Postmark took the email.
   */
  handedOver: boolean;
  /** Whether the fetch underneath reports when the body was sent. */
  readonly tracksBody: boolean;
  /** What fetch itself threw: the client keeps only its message, this keeps its `cause` (ECONNREFUSED...). */
  transportError?: unknown;
}

const calls = new AsyncLocalStorage<Call>();

/**
 * Sends through Postmark's `POST /email` with the official client. The client is passed in; the
 * provider takes over two of its options: `timeout` (see {@link PostmarkProviderOptions}) and
 * `fetch`: the client's own fetch if it has one, otherwise {@link createHttpFetch} (Node's built-in
 * fetch allocates too much per send, see there), wrapped so that each request ends when the send's
 * signal aborts and so that the transport error behind a failure is kept for classification (the
 * client drops it).
 *
 * Failures are classified by {@link classifyPostmarkError}.
 *
 * At most `maxConnections` requests are in flight; further sends wait in the provider's own
 * {@link SendSlots} rather than in the HTTP agent, so that an abandoned send is dropped before any
 * byte of it is written.
 */
export class PostmarkProvider implements EmailProvider {
  readonly name = 'postmark';
  private readonly messageStream: string;
  private readonly slots: SendSlots;
  private readonly tracksBody: boolean;

  constructor(
    private readonly client: ServerClient,
    options: PostmarkProviderOptions = {},
  ) {
    this.messageStream = options.messageStream ?? DEFAULT_MESSAGE_STREAM;
    this.slots = new SendSlots(this.name, options.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
    const current = client.getClientOptions();
    this.tracksBody = current.fetch === undefined;
    const inner: Fetch = current.fetch ?? createHttpFetch();
    client.setClientOptions(
      new Models.ClientOptions.Configuration(
        current.useHttps,
        current.requestHost,
        options.requestTimeoutSeconds ?? DEFAULT_REQUEST_TIMEOUT_SECONDS,
        (input: string | URL | Request, init?: RequestInit) => trackedFetch(inner, input, init),
      ),
    );
  }

  send(email: OutboundEmail, signal: AbortSignal, options: SendOptions = {}): Promise<SendReceipt> {
    return this.slots.run(signal, options, () => this.sendOnConnection(email, signal));
  }

  /** `GET /server` with the server token: Postmark answers and takes the token. */
  async verify(signal: AbortSignal): Promise<void> {
    const call: Call = { signal, handedOver: false, tracksBody: this.tracksBody };
    try {
      await calls.run(call, () => this.client.getServer());
    } catch (error) {
      throw classifyPostmarkError(call.transportError ?? error);
    }
  }

  private async sendOnConnection(email: OutboundEmail, signal: AbortSignal): Promise<SendReceipt> {
    const message = toPostmarkMessage(email, this.messageStream);
    const call: Call = { signal, handedOver: false, tracksBody: this.tracksBody };
    try {
      const response = await untilStopped(
        calls.run(call, () => this.client.sendEmail(message)),
        signal,
        this.name,
        () => call.handedOver,
      );
      // A 200 carries ErrorCode 0 and the MessageID; anything odd in the body is no reason to send again.
      const answer = response as Partial<Models.MessageSendingResponse> | null;
      const id: unknown = answer?.MessageID;
      // Some recipients inactive: Postmark took the email for the others and names those in its Message.
      const refused = inactiveInAnswer(answer?.Message);
      return {
        ...(typeof id === 'string' && id !== '' ? { providerMessageId: id } : {}),
        ...(refused.length === 0 ? {} : { refused }),
      };
    } catch (error) {
      // The abort race's own ProviderError wins over whatever fetch threw for the same abort.
      throw error instanceof ProviderError ? error : classifyPostmarkError(call.transportError ?? error);
    }
  }
}

/**
 * The client's fetch, inside a send: the request also listens to the send's signal, and what
 * fetch throws is recorded before the client turns it into a bare `PostmarkError`.
 */
async function trackedFetch(inner: Fetch, input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const call = calls.getStore();
  if (call === undefined) return inner(input, init);
  if (!call.tracksBody) call.handedOver = true;
  const either = init?.signal ? firstOf(init.signal, call.signal) : undefined;
  const onBodySent = (): void => {
    call.handedOver = true;
  };
  try {
    const tracked: HttpFetchInit = { ...init, signal: either?.signal ?? call.signal, onBodySent };
    return await inner(input, tracked);
  } catch (error) {
    call.transportError = error;
    throw error;
  } finally {
    either?.dispose();
  }
}

/**
 * A signal that aborts with whichever of `a` and `b` aborts first, and a `dispose` that removes
 * its listeners. Unlike `AbortSignal.any`, nothing of it stays reachable from `a` or `b` once
 * disposed: the client's `AbortSignal.timeout` lives until its timer fires, and whatever listens
 * to it lives as long, the request included; at a high send rate that is a lot of memory held for
 * nothing (see docs/benchmarks.md).
 */
function firstOf(a: AbortSignal, b: AbortSignal): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onA = (): void => controller.abort(a.reason);
  const onB = (): void => controller.abort(b.reason);
  const dispose = (): void => {
    a.removeEventListener('abort', onA);
    b.removeEventListener('abort', onB);
  };
  if (a.aborted) onA();
  else if (b.aborted) onB();
  else {
    a.addEventListener('abort', onA, { once: true });
    b.addEventListener('abort', onB, { once: true });
  }
  return { signal: controller.signal, dispose };
}

/** The `Metadata` name that carries the email's id to Postmark and back in its webhooks. */
export const EMAIL_ID_METADATA = 'email_id';

/**
 * The request in Postmark's `POST /email` fields. Addresses are `Name <addr>` with the name quoted
 * when it is more than atoms and spaces; lists are comma-joined. `tags.tag` becomes the one `Tag`
 * Postmark allows (other tags have no Postmark field and are not sent); metadata values are sent as
 * strings, nulls left out, with `email_id` set to the email's id (Postmark sends `Metadata` back on
 * every Bounce, Delivery and SpamComplaint webhook; a caller's own `email_id`, in any case, which the
 * schema refuses, is dropped: Postmark's names are unique ignoring case).
 */
export function toPostmarkMessage(email: OutboundEmail, messageStream: string): Message {
  const { request } = email;
  const tag = request.tags?.[POSTMARK_TAG_KEY];
  const metadata = { ...toMetadata(request.metadata), [EMAIL_ID_METADATA]: email.id };
  const attachments = request.attachments ?? [];
  return Object.assign(new Message(formatMailbox(request.from), request.subject), {
    ...addressField('To', request.to),
    ...addressField('Cc', request.cc),
    ...addressField('Bcc', request.bcc),
    ...addressField('ReplyTo', request.reply_to),
    ...(request.text === undefined ? {} : { TextBody: request.text }),
    ...(request.html === undefined ? {} : { HtmlBody: request.html }),
    Headers: [
      ...Object.entries(request.headers ?? {}).map(([name, value]) => new Header(name, value)),
      new Header(EMAIL_ID_HEADER, email.id),
    ],
    ...(attachments.length === 0
      ? {}
      : {
          // Inline images are referred to as cid:<content_id> in the HTML, and Postmark wants that form.
          Attachments: attachments.map((a) =>
            a.inline === true && a.content_id !== undefined
              ? new Attachment(
                  a.filename,
                  a.content,
                  attachmentContentType(a.content_type),
                  `cid:${a.content_id}`,
                  undefined,
                  'inline',
                )
              : new Attachment(a.filename, a.content, attachmentContentType(a.content_type)),
          ),
        }),
    ...(tag === undefined ? {} : { Tag: tag }),
    Metadata: metadata,
    MessageStream: messageStream,
  });
}

type AddressField = 'To' | 'Cc' | 'Bcc' | 'ReplyTo';

function addressField(
  field: AddressField,
  list: readonly Address[] | undefined,
): Partial<Record<AddressField, string>> {
  return list === undefined || list.length === 0 ? {} : { [field]: list.map(formatMailbox).join(', ') };
}

/** Atoms (RFC 5322 atext) and spaces: a display name that needs no quotes. */
const PLAIN_PHRASE = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/;

/** `addr`, or `Name <addr>`, the name quoted (backslash before `"` and `\`) unless plain. */
export function formatMailbox(address: Address): string {
  const { name, email } = address;
  if (name === undefined || name.trim() === '') return email;
  const phrase = PLAIN_PHRASE.test(name) ? name : `"${name.replace(/["\\]/g, '\\$&')}"`;
  return `${phrase} <${email}>`;
}

function toMetadata(metadata: EmailRequest['metadata']): Record<string, string> {
  const entries = Object.entries(metadata ?? {}).flatMap(([key, value]) =>
    value === null || key.toLowerCase() === EMAIL_ID_METADATA ? [] : [[key, String(value)] as const],
  );
  return Object.fromEntries(entries);
}
