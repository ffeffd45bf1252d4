import { GetSendQuotaCommand, SESClient, SendRawEmailCommand } from '@aws-sdk/client-ses';
import { buildMime, envelopeRecipients } from '../mime';
import {
  ProviderError,
  SendAbandonedError,
  stoppedSendError,
  type EmailProvider,
  type OutboundEmail,
  type SendOptions,
  type SendReceipt,
} from '../provider';
import { untilStopped } from '../send-abort';
import { SendSlots } from '../send-slots';
import { classifySesError } from './errors';

/**
 * SendRawEmail calls at once: the sockets the SDK's HTTP handler opens to one host by default.
 * More would wait inside the SDK's agent, where an abandoned send cannot be dropped.
 */
export const SES_DEFAULT_MAX_CONNECTIONS = 50;

/** SES's answers that refuse an authenticated caller the call, not the credentials. */
const PERMISSION_ONLY: ReadonlySet<string> = new Set(['AccessDenied', 'AccessDeniedException']);

function errorName(error: unknown): string {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? name : '';
}

/** The message tag that carries the email's id out with it and back in SES's events (`mail.tags.email_id`). */
export const EMAIL_ID_TAG = 'email_id';

/** What SES takes as a tag value: ASCII letters, digits, `_` and `-`, at most 256 (a UUID is one). */
const TAG_VALUE = /^[A-Za-z0-9_-]{1,256}$/;

/**
 * `Tags: [{ Name: 'email_id', Value: id }]` for a send through a configuration set: SES publishes
 * a message's tags with each event of event publishing only (identity notifications carry none;
 * those events are matched by SES's message id). An id SES would refuse as a tag value (never a
 * UUID) is not sent as one: the send must not fail for its tag.
 */
export function emailIdTags(id: string): { Tags?: { Name: string; Value: string }[] } {
  return TAG_VALUE.test(id) ? { Tags: [{ Name: EMAIL_ID_TAG, Value: id }] } : {};
}

/** How the SES adapter sends, beyond the client it is given. */
export interface SesProviderOptions {
  /**
   * SES configuration set for event publishing (deliveries, bounces, complaints); none when unset.
   * With it, each send also carries the email's id as the message tag `email_id` ({@link emailIdTags}).
   */
  readonly configurationSetName?: string;
  /**
   * Calls in flight at once, at most the client's sockets per host;
   * {@link SES_DEFAULT_MAX_CONNECTIONS} when not given.
   */
  readonly maxConnections?: number;
}

/**
 * Amazon SES (API v1) through `SendRawEmail`: the email goes as the MIME message {@link buildMime}
 * builds, so attachments and custom headers arrive unchanged, with every envelope recipient (Bcc
 * included) as `Destinations` and the sender address as `Source` (the envelope sender, as SMTP
 * would have it). Failures are classified by {@link classifySesError}.
 *
 * The client is passed in (see {@link createSesClient}); the provider owns it from then on and
 * destroys it on {@link SesProvider.close}. Sends beyond `maxConnections` wait in the provider's
 * {@link SendSlots}, where they can still be abandoned.
 */
export class SesProvider implements EmailProvider {
  readonly name = 'ses';
  private readonly slots: SendSlots;

  constructor(
    private readonly client: SESClient,
    private readonly options: SesProviderOptions = {},
  ) {
    this.slots = new SendSlots(this.name, options.maxConnections ?? SES_DEFAULT_MAX_CONNECTIONS);
  }

  async send(email: OutboundEmail, signal: AbortSignal, options: SendOptions = {}): Promise<SendReceipt> {
    if (options.abandon?.aborted === true) throw new SendAbandonedError(this.name);
    if (signal.aborted) throw stoppedSendError(this.name, signal.reason, false);
    const data = await buildMime(email);
    return this.slots.run(signal, options, () => this.sendOnConnection(email, data, signal));
  }

  private async sendOnConnection(email: OutboundEmail, data: Buffer, signal: AbortSignal): Promise<SendReceipt> {
    // The SDK does not say when the body was written: the request counts as handed over once
    // the SDK calls its HTTP handler (after signing), which errs towards "ambiguous".
    let handedOver = false;
    const command = new SendRawEmailCommand({
      RawMessage: { Data: data },
      Source: email.request.from.email,
      Destinations: envelopeRecipients(email),
      ...(this.options.configurationSetName === undefined
        ? {}
        : { ConfigurationSetName: this.options.configurationSetName, ...emailIdTags(email.id) }),
    });
    command.middlewareStack.add(
      (next) => (args) => {
        handedOver = true;
        return next(args);
      },
      { step: 'deserialize', priority: 'low', name: 'mailerHandedOver' },
    );
    try {
      const output = await untilStopped(
        this.client.send(command, { abortSignal: signal }),
        signal,
        this.name,
        () => handedOver,
      );
      return output.MessageId === undefined ? {} : { providerMessageId: output.MessageId };
    } catch (error) {
      throw error instanceof ProviderError ? error : classifySesError(error);
    }
  }

  /**
   * `GetSendQuota`: SES answers and takes the credentials. A refusal by permission alone
   * (`AccessDenied`: a policy that allows `ses:SendRawEmail` and nothing else, as least privilege
   * would have it) counts as an answer: the request was authenticated, and the quota is not ours
   * to need.
   */
  async verify(signal: AbortSignal): Promise<void> {
    try {
      await this.client.send(new GetSendQuotaCommand({}), { abortSignal: signal });
    } catch (error) {
      if (PERMISSION_ONLY.has(errorName(error))) return;
      throw classifySesError(error);
    }
  }

  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }
}

/** Settings for {@link createSesClient}. */
export interface SesClientSettings {
  /** AWS region of the SES endpoint, e.g. `eu-west-1`. */
  readonly region: string;
  /** Endpoint URL instead of the region's (a local emulator); the region's SES endpoint when unset. */
  readonly endpoint?: string;
  /** Static credentials; the SDK's default provider chain (environment, profile, role) when unset. */
  readonly credentials?: {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
  };
  /** Longest one SendRawEmail call may take, connection included, before the SDK gives up on it. */
  readonly requestTimeoutMs: number;
  /** Longest the TCP/TLS connection may take to open (default: 3 s, at most `requestTimeoutMs`). */
  readonly connectionTimeoutMs?: number;
}

/**
 * An SES client for {@link SesProvider}, with the SDK's own timeouts set and its retries off.
 *
 * `maxAttempts: 1`: the consumer fails over to the next provider at once and retries later
 * through the delay tiers (docs/design.md); SDK retries inside one attempt would hold the message,
 * send it twice after an ambiguous timeout, and hide failures from the circuit breaker.
 *
 * The timeouts are a backstop to the AbortSignal the delivery layer passes to every send:
 * `connectionTimeout` bounds opening the socket; `requestTimeout` with `throwOnRequestTimeout`
 * bounds the whole request (without that flag, @smithy/node-http-handler only logs a warning).
 */
export function createSesClient(settings: SesClientSettings): SESClient {
  const connectionTimeout = Math.min(settings.connectionTimeoutMs ?? 3_000, settings.requestTimeoutMs);
  return new SESClient({
    region: settings.region,
    ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
    ...(settings.credentials === undefined ? {} : { credentials: settings.credentials }),
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout,
      requestTimeout: settings.requestTimeoutMs,
      throwOnRequestTimeout: true,
    },
  });
}
