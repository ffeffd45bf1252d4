import type { ConsumerConfig, ProviderName } from '../config';
import type { Logger } from '../log/logger';
import { Models, ServerClient } from 'postmark';
import { CaptureProvider } from './capture';
import { PostmarkProvider } from './postmark';
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
          requestTimeoutSeconds: Math.ceil(config.postmarkTimeoutMs / 1000) + 5,
        }),
        timeoutMs: config.postmarkTimeoutMs,
        ratePerSecond: config.postmarkRatePerSecond,
      };
    }
    default:
      throw new Error(`provider ${name} is not wired yet`);
  }
}

/** Builds the providers named in PROVIDERS, in order. */
export function createProviders(config: ConsumerConfig, logger: Logger): ConfiguredProvider[] {
  return config.providers.map((name) => create(name, config, logger));
}
