import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildMime, envelopeRecipients } from '../mime';
import { ProviderError, type EmailProvider, type OutboundEmail, type SendOptions, type SendReceipt } from '../provider';
import { SendSlots } from '../send-slots';

/** Where the capture provider writes by default (relative to the working directory). */
export const DEFAULT_CAPTURE_DIR = '.capture';

/**
 * The development provider: writes each email as `<id>.eml` (the MIME message as it would be sent)
 * and `<id>.envelope.json` (sender and every recipient, Bcc included, as an SMTP envelope would
 * carry them) to a folder, and sends nothing. It is the default when no real provider is
 * configured, so the whole pipeline runs with no credentials. Writes have no connection to wait
 * for, so its slots are unbounded: an abandoned send is refused before it writes anything.
 */
export class CaptureProvider implements EmailProvider {
  readonly name = 'capture';
  private readonly slots = new SendSlots(this.name, Number.POSITIVE_INFINITY);

  constructor(
    private readonly directory: string,
    private readonly onCaptured: (file: string, email: OutboundEmail) => void = () => undefined,
  ) {}

  send(email: OutboundEmail, signal: AbortSignal, options: SendOptions = {}): Promise<SendReceipt> {
    return this.slots.run(signal, options, () => this.write(email, signal));
  }

  /** The folder exists (it is made if not) and a file can be written in it. */
  async verify(signal: AbortSignal): Promise<void> {
    const probe = path.join(this.directory, `.verify-${process.pid}`);
    try {
      await mkdir(this.directory, { recursive: true });
      await writeFile(probe, '', { signal });
      await rm(probe, { force: true });
    } catch (error) {
      throw new ProviderError('provider-unavailable', `cannot write to ${this.directory}`, {
        cause: error,
        code: codeOf(error),
      });
    }
  }

  private async write(email: OutboundEmail, signal: AbortSignal): Promise<SendReceipt> {
    const file = path.join(this.directory, `${email.id}.eml`);
    try {
      await mkdir(this.directory, { recursive: true });
      // Same id, same file: a redelivered email overwrites its capture instead of adding one.
      await writeFile(file, await buildMime(email), { signal });
      const envelope = { from: email.request.from.email, recipients: envelopeRecipients(email) };
      await writeFile(path.join(this.directory, `${email.id}.envelope.json`), JSON.stringify(envelope), { signal });
    } catch (error) {
      throw new ProviderError('transient', `could not write ${file}`, { cause: error, code: codeOf(error) });
    }
    this.onCaptured(file, email);
    return { providerMessageId: file };
  }
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
