import {
  AccountSendingPausedException,
  ConfigurationSetDoesNotExistException,
  ConfigurationSetSendingPausedException,
  MailFromDomainNotVerifiedException,
  MessageRejected,
  SESServiceException,
} from '@aws-sdk/client-ses';
import { maskAddressesIn, type FailureKind } from '@mailer/contract';
import { ProviderError } from '../src/providers/provider';
import { createSesClient, SesProvider, type SesProviderOptions } from '../src/providers/ses/send';
import { describeProviderConformance, fullEmail, parseMime } from './support/conformance';
import {
  refusedEndpoint,
  sesError,
  startSesEmulator,
  type SesEmulator,
  type SesErrorAnswer,
} from './support/ses-emulator';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'local-secret' };

function sesProvider(endpoint: string, options: SesProviderOptions = {}, requestTimeoutMs = 5_000): SesProvider {
  return new SesProvider(createSesClient({ region: 'us-east-1', endpoint, credentials, requestTimeoutMs }), options);
}

/** The ProviderError a send rejects with (fails the test if it resolves or rejects with anything else). */
async function failure(send: Promise<unknown>): Promise<ProviderError> {
  const error: unknown = await send.then(
    () => new Error('expected the send to fail'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

const CONFORMANCE_CONNECTIONS = 2;

describeProviderConformance(
  'ses',
  async () => {
    const emulator = await startSesEmulator();
    const provider = sesProvider(emulator.endpoint, { maxConnections: CONFORMANCE_CONNECTIONS });
    return {
      provider,
      received: async (id) => {
        const got = await emulator.received(id);
        const mime = await parseMime(got.raw, []);
        // Bcc recipients travel only as Destinations: the recipients no visible header names.
        const visible = new Set([...mime.to, ...mime.cc]);
        return { ...mime, bcc: got.destinations.map((d) => d.toLowerCase()).filter((d) => !visible.has(d)) };
      },
      failNext: (kind) => {
        emulator.failNext(
          kind === 'recipient-rejected'
            ? sesError('MessageRejected', 'Address blacklisted.')
            : sesError('Throttling', 'Maximum sending rate exceeded.'),
        );
      },
      holdNext: () => emulator.holdNext(),
      has: (id) => emulator.has(id),
      close: async () => {
        await provider.close();
        await emulator.close();
      },
    };
  },
  { connections: CONFORMANCE_CONNECTIONS },
);

describe('SES provider against aws-ses-v2-local', () => {
  let emulator: SesEmulator;
  let provider: SesProvider;

  beforeAll(async () => {
    emulator = await startSesEmulator();
    provider = sesProvider(emulator.endpoint, { configurationSetName: 'mailer-events' });
  });

  afterAll(async () => {
    await provider.close();
    await emulator.close();
  });

  it('when SES accepts the email, then send resolves with its MessageId and SES got the raw MIME, sender, every recipient, the configuration set and the email_id tag', async () => {
    const email = fullEmail();
    const receipt = await provider.send(email, AbortSignal.timeout(10_000));
    const got = await emulator.received(email.id);

    expect(receipt.providerMessageId).toBe(got.messageId);
    expect(got.source).toBe('sender@example.com');
    expect(got.destinations).toEqual(['to1@example.org', 'to2@example.org', 'cc@example.org', 'hidden@example.org']);
    expect(got.configurationSetName).toBe('mailer-events');
    expect(got.tags).toEqual([{ name: 'email_id', value: email.id }]);
    expect(got.raw.toString('utf8')).not.toMatch(/^bcc:/im);
    // The emulator's own reading of the same message, from GET /store.
    expect(got.stored.subject).toBe(email.request.subject);
    expect(got.stored.from).toContain('sender@example.com');
    expect(got.stored.destination.bcc).toEqual([]);
    expect(got.stored.attachments.map((a) => a.filename)).toEqual(['hello.txt', 'data.bin']);
  });

  it('when no configuration set is configured, then neither a set nor a tag is sent', async () => {
    const bare = sesProvider(emulator.endpoint);
    const email = fullEmail();
    await bare.send(email, AbortSignal.timeout(10_000));
    await bare.close();

    const got = await emulator.received(email.id);
    expect(got.configurationSetName).toBeUndefined();
    expect(got.tags).toEqual([]);
  });

  const answers: {
    readonly fault: SesErrorAnswer;
    readonly kind: FailureKind;
    readonly sdkClass?: new (...args: never[]) => SESServiceException;
  }[] = [
    {
      fault: sesError('MessageRejected', 'Address blacklisted.'),
      kind: 'recipient-rejected',
      sdkClass: MessageRejected,
    },
    {
      fault: sesError(
        'MessageRejected',
        'Email address is not verified. The following identities failed the check in region US-EAST-1: sender@example.com',
      ),
      kind: 'provider-unavailable',
      sdkClass: MessageRejected,
    },
    {
      fault: sesError('AccountSendingPausedException', 'Sending paused for this account.'),
      kind: 'provider-unavailable',
      sdkClass: AccountSendingPausedException,
    },
    {
      fault: sesError('ConfigurationSetSendingPausedException', 'Sending paused for this configuration set.'),
      kind: 'provider-unavailable',
      sdkClass: ConfigurationSetSendingPausedException,
    },
    {
      fault: sesError('ConfigurationSetDoesNotExist', 'Configuration set <mailer-events> does not exist.'),
      kind: 'provider-unavailable',
      sdkClass: ConfigurationSetDoesNotExistException,
    },
    {
      fault: sesError('MailFromDomainNotVerifiedException', 'MAIL FROM domain is not verified.'),
      kind: 'provider-unavailable',
      sdkClass: MailFromDomainNotVerifiedException,
    },
    {
      fault: sesError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403),
      kind: 'provider-unavailable',
    },
    {
      fault: sesError('SignatureDoesNotMatch', 'The request signature we calculated does not match.', 403),
      kind: 'provider-unavailable',
    },
    {
      fault: sesError('AccessDenied', 'User is not authorized to perform ses:SendRawEmail.', 403),
      kind: 'provider-unavailable',
    },
    { fault: sesError('Throttling', 'Maximum sending rate exceeded.'), kind: 'transient' },
    { fault: sesError('Throttling', 'Daily message quota exceeded.'), kind: 'provider-unavailable' },
    { fault: sesError('InternalFailure', 'Internal failure.', 500), kind: 'transient' },
    { fault: sesError('ServiceUnavailable', 'Service unavailable.', 503), kind: 'transient' },
  ];

  it.each(answers)(
    'when SES answers $fault.code "$fault.message" (HTTP $fault.status), then the send fails as $kind',
    async ({ fault, kind, sdkClass }) => {
      emulator.failNext(fault);
      const error = await failure(provider.send(fullEmail(), AbortSignal.timeout(10_000)));

      expect(error.kind).toBe(kind);
      expect(error.ambiguous).toBe(false);
      // The SDK read the XML into a typed exception (a generic one where SES v1 has no class).
      expect(error.cause).toBeInstanceOf(sdkClass ?? SESServiceException);
      expect(error.code).toBe((error.cause as Error).name);
      // Addresses in SES's text (the unverified sender here) are masked, as in every error text.
      expect(error.message).toContain(maskAddressesIn(fault.message));
    },
  );

  it('when something in front of SES answers 502 with an HTML page, then the send fails as transient', async () => {
    emulator.failNext({ kind: 'raw', status: 502, contentType: 'text/html', body: '<html>Bad Gateway</html>' });
    const error = await failure(provider.send(fullEmail(), AbortSignal.timeout(10_000)));

    expect(error.kind).toBe('transient');
    expect(error.message).toContain('HTTP 502');
  });

  it('when SES hangs past the delivery timeout, then the aborted send fails as transient and ambiguous', async () => {
    emulator.failNext({ kind: 'hang' });
    const sending = failure(provider.send(fullEmail(), AbortSignal.timeout(500)));
    await emulator.hanging();
    const error = await sending;

    expect(error.kind).toBe('transient');
    expect(error.ambiguous).toBe(true);
    expect(error.code).toBe('TIMEOUT');
  });

  it("when SES hangs past the client's own request timeout, then the send fails as transient and ambiguous, code TIMEOUT", async () => {
    const impatient = sesProvider(emulator.endpoint, {}, 500);
    emulator.failNext({ kind: 'hang' });
    const error = await failure(impatient.send(fullEmail(), AbortSignal.timeout(10_000)));
    await impatient.close();

    expect(error.kind).toBe('transient');
    expect(error.ambiguous).toBe(true);
    // The SDK's backstop timeout (TimeoutError ETIMEDOUT) has the same stop code as the delivery layer's.
    expect(error.code).toBe('TIMEOUT');
  });

  it('when the connection is refused, then the send fails as transient and not ambiguous', async () => {
    const nowhere = sesProvider(await refusedEndpoint());
    const error = await failure(nowhere.send(fullEmail(), AbortSignal.timeout(10_000)));
    await nowhere.close();

    expect(error.kind).toBe('transient');
    expect(error.ambiguous).toBe(false);
    expect(error.code).toBe('ECONNREFUSED');
  });

  it('when the signal is already aborted, then the send fails as transient and not ambiguous, and nothing reaches SES', async () => {
    const before = emulator.requestCount;
    const error = await failure(provider.send(fullEmail(), AbortSignal.abort()));

    expect(error.kind).toBe('transient');
    expect(error.ambiguous).toBe(false);
    expect(emulator.requestCount).toBe(before);
  });
});
