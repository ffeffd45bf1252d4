import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { messageIdOf } from '../src/providers/mime';
import { ProviderError, type OutboundEmail } from '../src/providers/provider';
import { SmtpProvider, createSmtpTransport, type SmtpTransportOptions } from '../src/providers/smtp/send';
import { describeProviderConformance, parseMime } from './support/conformance';
import { TestSmtpServer } from './support/smtp-server';

type ProviderOptions = Omit<SmtpTransportOptions, 'host' | 'port' | 'secure'>;

function smtpProvider(port: number, options: ProviderOptions = {}): SmtpProvider {
  return new SmtpProvider(createSmtpTransport({ host: '127.0.0.1', port, secure: false, ...options }));
}

const CONFORMANCE_CONNECTIONS = 2;

describeProviderConformance(
  'smtp',
  async () => {
    const server = await TestSmtpServer.start();
    const provider = smtpProvider(server.port, { maxConnections: CONFORMANCE_CONNECTIONS });
    return {
      provider,
      received: async (id) => {
        const message = await server.message(id);
        // Bcc recipients travel in the envelope only: those not named in To or Cc.
        const visible = await parseMime(message.raw, []);
        const shown = new Set([...visible.to, ...visible.cc]);
        return parseMime(
          message.raw,
          message.recipients.filter((recipient) => !shown.has(recipient)),
        );
      },
      failNext: (kind) => {
        if (kind === 'recipient-rejected') server.next('RCPT', { code: 550, text: '5.1.1 No such user' });
        else server.next('DATA', { code: 451, text: '4.3.0 Local error, try again later' });
      },
      holdNext: () => server.hold('DATA'),
      has: (id) => server.hasMessage(id),
      close: async () => {
        await provider.close();
        await server.close();
      },
    };
  },
  { connections: CONFORMANCE_CONNECTIONS },
);

/** A small email to these recipients, with a fresh id. */
function emailTo(...recipients: string[]): OutboundEmail {
  return {
    id: randomUUID(),
    request: {
      from: { email: 'sender@example.com' },
      to: recipients.map((email) => ({ email })),
      subject: 'SMTP adapter test',
      text: 'Hello.',
    },
  };
}

/** What `send` rejected with, or a failure if it resolved. */
async function failureOf(sending: Promise<unknown>): Promise<ProviderError> {
  const outcome = await sending.then(
    () => new Error('expected the send to fail, it succeeded'),
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(ProviderError);
  return outcome as ProviderError;
}

/** A port nothing listens on: one the system just handed out and took back. */
async function closedPort(): Promise<number> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const { port } = listener.address() as AddressInfo;
  await new Promise<void>((resolve, reject) => {
    listener.close((error) => (error === undefined ? resolve() : reject(error)));
  });
  return port;
}

describe('smtp provider against a real SMTP server', () => {
  let server: TestSmtpServer;
  const opened: SmtpProvider[] = [];

  /** A provider on the test server, closed after the test. */
  function provider(options: ProviderOptions = {}): SmtpProvider {
    const created = smtpProvider(server.port, options);
    opened.push(created);
    return created;
  }

  beforeAll(async () => {
    server = await TestSmtpServer.start();
  });

  afterEach(async () => {
    server.reset();
    await Promise.all(opened.splice(0).map((created) => created.close()));
  });

  afterAll(async () => {
    await server.close();
  });

  it('when the server accepts the email, then send resolves with the message id and the server has it', async () => {
    const email = emailTo('someone@example.org');
    const receipt = await provider().send(email, AbortSignal.timeout(10_000));

    expect(receipt.providerMessageId).toBe(messageIdOf(email));
    const message = await server.message(email.id);
    expect(message.mailFrom).toBe('sender@example.com');
    expect(message.recipients).toEqual(['someone@example.org']);
  });

  it('when the server refuses the recipient with 550 5.1.1, then send rejects with recipient-rejected', async () => {
    server.next('RCPT', { code: 550, text: '5.1.1 No such user' });
    const error = await failureOf(provider().send(emailTo('nobody@example.org'), AbortSignal.timeout(10_000)));

    expect(error.kind).toBe('recipient-rejected');
    expect(error.code).toBe('550');
    expect(error.ambiguous).toBe(false);
  });

  it('when the server refuses some recipients and accepts others, then send resolves and only those accepted get it', async () => {
    server.refuseRecipient('gone@example.org', { code: 550, text: '5.1.1 No such user' });
    const email = emailTo('gone@example.org', 'here@example.org');
    await provider().send(email, AbortSignal.timeout(10_000));

    expect((await server.message(email.id)).recipients).toEqual(['here@example.org']);
  });

  it('when the server answers the message with 451, then send rejects with transient, not ambiguous', async () => {
    server.next('DATA', { code: 451, text: '4.3.0 Local error, try again later' });
    const error = await failureOf(provider().send(emailTo('someone@example.org'), AbortSignal.timeout(10_000)));

    expect(error.kind).toBe('transient');
    expect(error.code).toBe('451');
    expect(error.ambiguous).toBe(false);
  });

  it('when the server refuses the credentials with 535, then send rejects with provider-unavailable', async () => {
    server.next('AUTH', { code: 535, text: '5.7.8 Authentication credentials invalid' });
    const withCredentials = provider({ auth: { user: 'mailer', pass: 'wrong' } });
    const error = await failureOf(withCredentials.send(emailTo('someone@example.org'), AbortSignal.timeout(10_000)));

    expect(error.kind).toBe('provider-unavailable');
    expect(error.code).toBe('535');
  });

  it('when the server demands authentication (530 on MAIL FROM), then send rejects with provider-unavailable', async () => {
    server.next('MAIL', { code: 530, text: '5.7.0 Authentication required' });
    const error = await failureOf(provider().send(emailTo('someone@example.org'), AbortSignal.timeout(10_000)));

    expect(error.kind).toBe('provider-unavailable');
    expect(error.code).toBe('530');
  });

  it('when nothing listens on the port (connection refused), then send rejects with transient, not ambiguous', async () => {
    const refused = smtpProvider(await closedPort());
    opened.push(refused);
    const error = await failureOf(refused.send(emailTo('someone@example.org'), AbortSignal.timeout(10_000)));

    expect(error.kind).toBe('transient');
    expect(error.code).toBe('ECONNREFUSED');
    expect(error.ambiguous).toBe(false);
  });

  it('when the server holds the message unanswered past the signal, then send rejects with transient and ambiguous', async () => {
    const held = server.hold('DATA');
    const controller = new AbortController();
    const email = emailTo('someone@example.org');
    const sending = provider().send(email, controller.signal);
    // The whole message has arrived; only the server's final reply is missing when the signal fires.
    await held.reached;
    controller.abort(new Error('delivery timeout'));
    const error = await failureOf(sending);

    expect(error.kind).toBe('transient');
    expect(error.ambiguous).toBe(true);
    // And rightly so: the server can still take it.
    held.release();
    expect((await server.message(email.id)).id).toBe(email.id);
  });

  it('when the socket times out while the server holds the message, then send rejects with transient and ambiguous', async () => {
    const held = server.hold('DATA');
    const error = await failureOf(
      provider({ socketTimeoutMs: 1_000 }).send(emailTo('someone@example.org'), AbortSignal.timeout(10_000)),
    );

    expect(error.kind).toBe('transient');
    expect(error.code).toBe('ETIMEDOUT');
    expect(error.ambiguous).toBe(true);
    held.release();
  });

  it('when the signal fires while the server holds RCPT, then send rejects, not ambiguous, and the email is never sent', async () => {
    const held = server.hold('RCPT');
    const controller = new AbortController();
    const email = emailTo('someone@example.org');
    const sending = provider().send(email, controller.signal);
    await held.reached;
    controller.abort(new Error('delivery timeout'));
    const error = await failureOf(sending);

    expect(error.kind).toBe('transient');
    expect(error.ambiguous).toBe(false);
    // The abort closed the connection mid-transaction. Were the message still on its way,
    // releasing RCPT would let it through: whichever comes first tells.
    held.release();
    await Promise.race([server.allConnectionsClosed(), server.message(email.id)]);
    expect(server.hasMessage(email.id)).toBe(false);
  });

  it('when the signal fires while the email waits for a pooled connection, then it is never sent', async () => {
    const single = provider({ maxConnections: 1 });
    const held = server.hold('DATA');
    const first = emailTo('first@example.org');
    const firstSending = single.send(first, AbortSignal.timeout(10_000));
    await held.reached;

    const controller = new AbortController();
    const queued = emailTo('queued@example.org');
    const queuedSending = single.send(queued, controller.signal);
    controller.abort(new Error('delivery timeout'));
    const error = await failureOf(queuedSending);
    expect(error.kind).toBe('transient');
    expect(error.ambiguous).toBe(false);

    // The connection comes free and the pool takes the queued email: it must not go out. The pool
    // then drops that connection (the message stream failed), or sends it: whichever comes first tells.
    held.release();
    await firstSending;
    await Promise.race([server.allConnectionsClosed(), server.message(queued.id)]);
    expect(server.hasMessage(first.id)).toBe(true);
    expect(server.hasMessage(queued.id)).toBe(false);
  });

  it('when the signal has fired before send, then send rejects at once without connecting', async () => {
    const before = server.connectionsOpened;
    const error = await failureOf(provider().send(emailTo('someone@example.org'), AbortSignal.abort()));

    expect(error.kind).toBe('transient');
    expect(error.ambiguous).toBe(false);
    expect(server.connectionsOpened).toBe(before);
  });

  it('when several emails are sent one after another, then one pooled connection carries them all', async () => {
    const pooled = provider();
    const before = server.connectionsOpened;
    for (const email of [emailTo('a@example.org'), emailTo('b@example.org'), emailTo('c@example.org')]) {
      await pooled.send(email, AbortSignal.timeout(10_000));
    }

    expect(server.connectionsOpened - before).toBe(1);
  });

  it('when more emails are sent at once than the pool has connections, then it opens no more than its maximum', async () => {
    const pooled = provider({ maxConnections: 2 });
    const before = server.connectionsOpened;
    const emails = Array.from({ length: 6 }, (_, index) => emailTo(`burst${index}@example.org`));
    await Promise.all(emails.map((email) => pooled.send(email, AbortSignal.timeout(10_000))));

    expect(server.connectionsOpened - before).toBe(2);
    for (const email of emails) expect(server.hasMessage(email.id)).toBe(true);
  });

  it('when the provider is closed, then its pooled connections close and later sends reject', async () => {
    const pooled = provider();
    await pooled.send(emailTo('someone@example.org'), AbortSignal.timeout(10_000));
    expect(server.openConnections).toBeGreaterThan(0);

    await pooled.close();
    await server.allConnectionsClosed();
    expect(server.openConnections).toBe(0);

    const error = await failureOf(pooled.send(emailTo('someone@example.org'), AbortSignal.timeout(10_000)));
    expect(error.kind).toBe('provider-unavailable');
    expect(error.code).toBe('CLOSED');
  });
});
