import type { ProviderName } from '@mailer/contract';
import type { ConsumerConfig } from '../config';
import type { Logger } from '@mailer/service';
import { Models, ServerClient } from 'postmark';
import { CaptureProvider } from './capture/send';
import { PostmarkProvider } from './postmark/send';
import { SesProvider, createSesClient } from './ses/send';
import { SmtpProvider, createSmtpTransport } from './smtp/send';
import type { EmailProvider } from './provider';

/** A configured provider with its limits. */
export interface ConfiguredProvider {
  readonly provider: EmailProvider;
  readonly timeoutMs: number;
  readonly ratePerSecond: number;
}

function create(name: ProviderName, config: ConsumerConfig, logger: Logger): ConfiguredProvider {
  switch (name) {
    case 'capture':
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
    case 'postmark': {
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
    case 'ses':
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
    case 'smtp':
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

/** Builds the providers named in PROVIDERS, in order. */
export function createProviders(config: ConsumerConfig, logger: Logger): ConfiguredProvider[] {
  return config.providers.map((name) => create(name, config, logger));
}
