import type { ProviderName } from '@mailer/contract';
import type { ConsumerConfig } from '../config';
import type { Logger } from '@mailer/service';
import type { EmailProvider } from './provider';

/** A configured provider with its limits. */
export interface ConfiguredProvider {
  readonly provider: EmailProvider;
  readonly timeoutMs: number;
  readonly ratePerSecond: number;
}

/**
 * Each provider's module is loaded only when PROVIDERS names it: the SES SDK and nodemailer's MIME
 * composer are some 35 MB of a consumer's memory that a Postmark-only consumer never uses.
 */
async function create(name: ProviderName, config: ConsumerConfig, logger: Logger): Promise<ConfiguredProvider> {
  switch (name) {
    case 'capture': {
      const { CaptureProvider } = await import('./capture/send.js');
      logger.warn('the capture provider is on: emails are written to files, nothing is really sent', {
        capture_dir: config.captureDir,
      });
      return {
        provider: new CaptureProvider(config.captureDir, (file, email) =>
          logger.info('email captured', { email_id: email.id, file }),
        ),
        timeoutMs: 10_000,
        ratePerSecond: Number.POSITIVE_INFINITY,
      };
    }
    case 'postmark': {
      const [{ Models, ServerClient }, { PostmarkProvider }] = await Promise.all([
        import('postmark'),
        import('./postmark/send.js'),
      ]);
      const host = config.postmarkApiHost;
      const client = new ServerClient(
        config.postmarkServerToken,
        host === '' ? undefined : new Models.ClientOptions.Configuration(false, host),
      );
      return {
        provider: new PostmarkProvider(client, {
          messageStream: config.postmarkMessageStream,
          maxConnections: config.postmarkMaxConnections,
          requestTimeoutSeconds: Math.ceil(config.postmarkTimeoutMs / 1000) + 5,
        }),
        timeoutMs: config.postmarkTimeoutMs,
        ratePerSecond: config.postmarkRatePerSecond,
      };
    }
    case 'ses': {
      const { SesProvider, createSesClient } = await import('./ses/send.js');
      return {
        provider: new SesProvider(
          createSesClient({
            region: config.sesRegion,
            ...(config.sesEndpoint === '' ? {} : { endpoint: config.sesEndpoint }),
            // The delivery layer's timeout aborts first; the SDK's own is a backstop.
            requestTimeoutMs: config.sesTimeoutMs + 5000,
          }),
          config.sesConfigurationSet === '' ? {} : { configurationSetName: config.sesConfigurationSet },
        ),
        timeoutMs: config.sesTimeoutMs,
        ratePerSecond: config.sesRatePerSecond,
      };
    }
    case 'smtp': {
      const { SmtpProvider, createSmtpTransport } = await import('./smtp/send.js');
      return {
        provider: new SmtpProvider(
          createSmtpTransport({
            host: config.smtpHost,
            port: config.smtpPort,
            secure: config.smtpSecure,
            auth: config.smtpUser === '' ? undefined : { user: config.smtpUser, pass: config.smtpPassword },
            maxConnections: config.smtpMaxConnections,
            // The delivery layer's timeout fires first; nodemailer's socket timeout is a backstop.
            socketTimeoutMs: config.smtpTimeoutMs + 5000,
          }),
        ),
        timeoutMs: config.smtpTimeoutMs,
        ratePerSecond: config.smtpRatePerSecond,
      };
    }
  }
}

/** Builds the providers named in PROVIDERS, in order, loading only their modules. */
export async function createProviders(config: ConsumerConfig, logger: Logger): Promise<ConfiguredProvider[]> {
  const providers: ConfiguredProvider[] = [];
  for (const name of config.providers) providers.push(await create(name, config, logger));
  return providers;
}
