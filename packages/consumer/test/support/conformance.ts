import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { EMAIL_ID_HEADER, type EmailRequest } from '@mailer/contract';
import {
  ProviderError,
  SendAbandonedError,
  SendDeadline,
  type EmailProvider,
  type OutboundEmail,
  type SendOptions,
} from '../../src/providers/provider';

/** What a provider's server received, in one shape for every provider, to compare with the request. */
export interface ReceivedEmail {
  readonly from: { readonly email: string; readonly name?: string };
  readonly to: readonly string[];
  readonly cc: readonly string[];
  /** Bcc recipients: from the SMTP envelope or the API call, never from a visible header. */
  readonly bcc: readonly string[];
  readonly replyTo: readonly string[];
  readonly subject: string;
  readonly text?: string;
  readonly html?: string;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly attachments: readonly { filename: string; contentType: string; content: Buffer }[];
}

/** What a conformance run needs from a provider's test harness. */
export interface ConformanceHarness {
  readonly provider: EmailProvider;
  /** What the server received for the email with this id (waiting for it to arrive). */
  received(id: string): Promise<ReceivedEmail>;
  /** Makes the provider's next send fail in a way the adapter must classify as `kind`. */
  failNext?(kind: 'recipient-rejected' | 'transient'): void;
  /**
   * Holds the next email at the server, whole but unanswered, until released. Required when the
   * adapter has a finite number of connections: it is how the suite keeps every one busy.
   */
  holdNext?(): { readonly reached: Promise<void>; release(): void };
  /** Whether the server got the email with this id, without waiting. */
  has(id: string): boolean | Promise<boolean>;
  close(): Promise<void>;
}

function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
  const list = field === undefined ? [] : Array.isArray(field) ? field : [field];
  return list.flatMap((group) => group.value.map((mailbox) => (mailbox.address ?? '').toLowerCase()));
}

/** Reads raw MIME (SMTP DATA, SES raw message, a capture file) into a {@link ReceivedEmail}. */
export async function parseMime(raw: Buffer | string, bcc: readonly string[]): Promise<ReceivedEmail> {
  const parsed: ParsedMail = await simpleParser(raw);
  const sender = parsed.from?.value[0];
  const headers: Record<string, string> = {};
  for (const line of parsed.headerLines) headers[line.key] = line.line.slice(line.line.indexOf(':') + 1).trim();
  return {
    from: { email: (sender?.address ?? '').toLowerCase(), ...(sender?.name ? { name: sender.name } : {}) },
    to: addresses(parsed.to),
    cc: addresses(parsed.cc),
    bcc: bcc.map((a) => a.toLowerCase()),
    replyTo: addresses(parsed.replyTo),
    subject: parsed.subject ?? '',
    ...(parsed.text === undefined ? {} : { text: parsed.text }),
    ...(parsed.html === false ? {} : { html: parsed.html }),
    headers,
    attachments: parsed.attachments.map((a) => ({
      filename: a.filename ?? '',
      contentType: a.contentType,
      content: a.content,
    })),
  };
}

let counter = 0;

/** A full request exercising every field the adapters must carry. */
export function fullEmail(): OutboundEmail {
  counter += 1;
  const request: EmailRequest = {
    from: { email: 'sender@example.com', name: 'Example Sender' },
    to: [{ email: 'to1@example.org', name: 'To One' }, { email: 'to2@example.org' }],
    cc: [{ email: 'cc@example.org' }],
    bcc: [{ email: 'hidden@example.org' }],
    reply_to: [{ email: 'replies@example.com' }],
    subject: `Conformance ${counter}: ünïcödé & symbols`,
    text: 'Plain text body.\nSecond line.',
    html: '<p>HTML <b>body</b></p>',
    headers: { 'X-Campaign': 'spring-2026', 'X-Trace': 'abc-123' },
    attachments: [
      {
        filename: 'hello.txt',
        content: Buffer.from('hello attachment').toString('base64'),
        content_type: 'text/plain',
      },
      {
        filename: 'data.bin',
        content: Buffer.from([0, 1, 2, 250, 251, 252]).toString('base64'),
        content_type: 'application/octet-stream',
      },
    ],
  };
  return { id: `01a2207a-0000-7000-8000-${String(counter).padStart(12, '0')}`, request };
}

/**
 * The suite every provider adapter must pass: the same fields arrive, the id header is set, the
 * send resolves only once accepted, failures come back as classified {@link ProviderError}s, and
 * an abandoned send goes out only if it was already on the wire (one waiting for a connection is
 * dropped with {@link SendAbandonedError}), `onStart` is called only once a send has a connection,
 * a send given up while waiting is withdrawn (`WAIT_TIMEOUT`), one stopped after the provider
 * has the whole message is ambiguous (`TIMEOUT`), and `verify` answers against a healthy server.
 */
export function describeProviderConformance(
  name: string,
  start: () => Promise<ConformanceHarness>,
  options: {
    /** Sends the adapter puts on the wire at once as the harness sets it up; `Infinity`: no connections to wait for. */
    readonly connections: number;
    /** false: the provider has nothing that could refuse a send (capture). */
    readonly canFail?: boolean;
  },
): void {
  describe(`${name} provider conformance`, () => {
    let harness: ConformanceHarness;

    beforeAll(async () => {
      harness = await start();
    });

    afterAll(async () => {
      await harness.close();
    });

    /**
     * Sends one more email and waits until the server has it: the server is reachable, and
     * whatever the adapter still held back would have gone out before it.
     */
    const sendOneMore = async (): Promise<void> => {
      const later = fullEmail();
      await harness.provider.send(later, AbortSignal.timeout(10_000));
      await harness.received(later.id);
    };

    /** Holds the server's next answer, for harnesses that can (every adapter with connections). */
    const holdNext = (): { readonly reached: Promise<void>; release(): void } => {
      if (harness.holdNext === undefined) throw new Error(`${name} harness must implement holdNext`);
      return harness.holdNext();
    };

    /**
     * Takes every one of the adapter's connections with a send the server holds, and resolves
     * once the server has each: the sends on the wire, and their promises.
     */
    const holdEveryConnection = async (sendOptions: (email: OutboundEmail) => SendOptions) => {
      const holds = Array.from({ length: options.connections }, () => holdNext());
      const onTheWire = holds.map(() => fullEmail());
      const sending = onTheWire.map((email) =>
        harness.provider.send(email, AbortSignal.timeout(20_000), sendOptions(email)),
      );
      await Promise.all(holds.map((hold) => hold.reached));
      return { holds, onTheWire, sending };
    };

    it('when the server is healthy, then the adapter has a verify and it resolves', async () => {
      const { provider } = harness;
      if (provider.verify === undefined) throw new Error(`the ${provider.name} adapter has no verify`);

      await expect(provider.verify(AbortSignal.timeout(10_000))).resolves.toBeUndefined();
    });

    it('when an email with every field is sent, then the server receives each field as requested', async () => {
      const email = fullEmail();
      await harness.provider.send(email, AbortSignal.timeout(10_000));
      const got = await harness.received(email.id);

      expect(got.from).toEqual({ email: 'sender@example.com', name: 'Example Sender' });
      expect([...got.to].sort()).toEqual(['to1@example.org', 'to2@example.org']);
      expect(got.cc).toEqual(['cc@example.org']);
      expect(got.bcc).toEqual(['hidden@example.org']);
      expect(got.replyTo).toEqual(['replies@example.com']);
      expect(got.subject).toBe(email.request.subject);
      expect(got.text?.trim()).toBe(email.request.text);
      expect(got.html?.trim()).toBe(email.request.html);
      expect(got.headers['x-campaign']).toBe('spring-2026');
      expect(got.headers['x-trace']).toBe('abc-123');
      expect(got.headers[EMAIL_ID_HEADER.toLowerCase()]).toBe(email.id);
      expect(got.headers['bcc']).toBeUndefined();
      expect(
        got.attachments.map((a) => ({
          filename: a.filename,
          contentType: a.contentType,
          content: a.content.toString('base64'),
        })),
      ).toEqual(
        (email.request.attachments ?? []).map((a) => ({
          filename: a.filename,
          contentType: a.content_type,
          content: a.content,
        })),
      );
    });

    it('when an email has only text and one recipient, then it is sent as such', async () => {
      const email: OutboundEmail = {
        id: '01a2207a-0000-7000-8000-ffffffffffff',
        request: {
          from: { email: 'sender@example.com' },
          to: [{ email: 'solo@example.org' }],
          subject: 'Just text',
          text: 'Only text.',
        },
      };
      await harness.provider.send(email, AbortSignal.timeout(10_000));
      const got = await harness.received(email.id);

      expect(got.to).toEqual(['solo@example.org']);
      expect(got.text?.trim()).toBe('Only text.');
      expect(got.attachments).toEqual([]);
    });

    // The rule that keeps a lost broker connection from re-sending what an adapter holds: only a
    // send on the wire may go out once its message is abandoned.
    it('when the abandon signal has fired before the send, then it rejects with SendAbandonedError and nothing is sent', async () => {
      const email = fullEmail();
      const error: unknown = await harness.provider
        .send(email, AbortSignal.timeout(10_000), { abandon: AbortSignal.abort() })
        .catch((e: unknown) => e);
      await sendOneMore();

      expect(error).toBeInstanceOf(SendAbandonedError);
      expect(await harness.has(email.id)).toBe(false);
    });

    if (Number.isFinite(options.connections)) {
      it('when every connection is busy, then a send waiting for one is dropped when abandoned, and those on the wire finish', async () => {
        const abandon = new AbortController();
        const { holds, onTheWire, sending } = await holdEveryConnection(() => ({ abandon: abandon.signal }));

        const waiting = fullEmail();
        const waitingSend = harness.provider
          .send(waiting, AbortSignal.timeout(20_000), { abandon: abandon.signal })
          .catch((e: unknown) => e);
        abandon.abort();
        const error = await waitingSend;
        for (const hold of holds) hold.release();
        await Promise.all(sending);
        await sendOneMore();

        expect(error).toBeInstanceOf(SendAbandonedError);
        for (const email of onTheWire) expect(await harness.has(email.id)).toBe(true);
        expect(await harness.has(waiting.id)).toBe(false);
      });
    }

    it('when onStart rejects, then nothing is sent and the send rejects with that error', async () => {
      const email = fullEmail();
      const refused = new Error('the ledger says no');
      const error: unknown = await harness.provider
        .send(email, AbortSignal.timeout(10_000), { onStart: () => Promise.reject(refused) })
        .catch((e: unknown) => e);
      await sendOneMore();

      expect(error).toBe(refused);
      expect(await harness.has(email.id)).toBe(false);
    });

    if (Number.isFinite(options.connections)) {
      // The rule that keeps a slow provider from sending twice: the provider timeout starts when a
      // send has a connection, and one given up before that is withdrawn, not ambiguous.
      it('when every connection is busy, then a waiting send is not started, and one given up while waiting fails as WAIT_TIMEOUT and is never sent', async () => {
        const started: string[] = [];
        const { holds, onTheWire, sending } = await holdEveryConnection((email) => ({
          onStart: () => (started.push(email.id), Promise.resolve()),
        }));

        const waiting = fullEmail();
        const deadline = new AbortController();
        const waitingSend = harness.provider
          .send(waiting, deadline.signal, { onStart: () => (started.push(waiting.id), Promise.resolve()) })
          .catch((e: unknown) => e);
        deadline.abort(new SendDeadline('wait', 1));
        const error = await waitingSend;
        for (const hold of holds) hold.release();
        await Promise.all(sending);
        await sendOneMore();

        expect(error).toMatchObject({ kind: 'transient', code: 'WAIT_TIMEOUT', ambiguous: false });
        expect(started).toEqual(onTheWire.map((email) => email.id));
        expect(await harness.has(waiting.id)).toBe(false);
      });

      it('when the provider has the whole message and has not answered, then a timeout is TIMEOUT and ambiguous', async () => {
        const hold = holdNext();
        const email = fullEmail();
        const deadline = new AbortController();
        const sending = harness.provider.send(email, deadline.signal).catch((e: unknown) => e);
        await hold.reached;

        deadline.abort(new SendDeadline('wire', 1));
        const error = await sending;
        hold.release();

        expect(error).toMatchObject({ kind: 'transient', code: 'TIMEOUT', ambiguous: true });
      });
    }

    // The capture provider has no server that could refuse anything: it opts out of these two.
    if (options.canFail === false) return;

    const failNext = (kind: 'recipient-rejected' | 'transient'): void => {
      if (harness.failNext === undefined) throw new Error(`${name} harness must implement failNext`);
      harness.failNext(kind);
    };

    it('when the provider refuses the recipient, then the adapter rejects with a recipient-rejected ProviderError', async () => {
      failNext('recipient-rejected');
      const error: unknown = await harness.provider
        .send(fullEmail(), AbortSignal.timeout(10_000))
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(ProviderError);
      expect((error as ProviderError).kind).toBe('recipient-rejected');
    });

    it('when the provider fails transiently, then the adapter rejects with a transient ProviderError', async () => {
      failNext('transient');
      const error: unknown = await harness.provider
        .send(fullEmail(), AbortSignal.timeout(10_000))
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(ProviderError);
      expect((error as ProviderError).kind).toBe('transient');
    });
  });
}
