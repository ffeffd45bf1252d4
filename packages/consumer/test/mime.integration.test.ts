import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { Models, ServerClient } from 'postmark';
import { v7 as uuidv7 } from 'uuid';
import {
  DeliveryHeaders,
  EMAIL_ID_HEADER,
  ENVELOPE_VERSION,
  MAX_RECIPIENTS,
  encodeEnvelope,
  validateEmailRequest,
  type EmailRequest,
} from '@mailer/contract';
import { CircuitBreaker } from '../src/delivery/circuit-breaker';
import { handleEmail, type HandleDeps } from '../src/delivery/handle-email';
import { RateLimiter } from '../src/delivery/rate-limiter';
import { CaptureProvider } from '../src/providers/capture';
import { MAX_LINE_OCTETS } from '../src/providers/mime';
import type { EmailProvider } from '../src/providers/provider';
import { PostmarkProvider } from '../src/providers/postmark';
import { SesProvider, createSesClient } from '../src/providers/ses';
import { SmtpProvider, createSmtpTransport } from '../src/providers/smtp';
import { startFakePostmark } from './support/postmark-server';
import { startSesEmulator } from './support/ses-emulator';
import { TestSmtpServer } from './support/smtp-server';

/** One adapter, sending to a real local server (or folder), and the raw message that arrived there. */
interface WireHarness {
  readonly provider: EmailProvider;
  /** The message the server received (or the capture file) for this email id, as bytes. */
  raw(id: string): Promise<Buffer>;
  close(): Promise<void>;
}

async function captureHarness(): Promise<WireHarness> {
  const directory = await mkdtemp(path.join(tmpdir(), 'mailer-mime-'));
  return {
    provider: new CaptureProvider(directory),
    raw: (id) => readFile(path.join(directory, `${id}.eml`)),
    close: () => rm(directory, { recursive: true, force: true }),
  };
}

async function sesHarness(): Promise<WireHarness> {
  const emulator = await startSesEmulator();
  const provider = new SesProvider(
    createSesClient({
      region: 'us-east-1',
      endpoint: emulator.endpoint,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'local-secret' },
      requestTimeoutMs: 10_000,
    }),
  );
  return {
    provider,
    // RawMessage.Data as it crossed the wire to aws-ses-v2-local, decoded.
    raw: async (id) => (await emulator.received(id)).raw,
    close: async () => {
      await provider.close();
      await emulator.close();
    },
  };
}

async function smtpHarness(): Promise<WireHarness> {
  const server = await TestSmtpServer.start();
  const provider = new SmtpProvider(createSmtpTransport({ host: '127.0.0.1', port: server.port, secure: false }));
  return {
    provider,
    // What smtp-server received after DATA, dot-unstuffed.
    raw: async (id) => (await server.message(id)).raw,
    close: async () => {
      await provider.close();
      await server.close();
    },
  };
}

/**
 * What is wrong with a message on the wire: a line not ended by CRLF (a bare CR or LF), a line
 * over 998 octets, a control character other than the CRLF line ends (tab included), or an octet
 * that is not ASCII in the header section (headers must be encoded).
 */
function wireProblems(raw: Buffer): string[] {
  const text = raw.toString('latin1');
  const problems: string[] = [];
  if (!text.endsWith('\r\n')) problems.push('the message does not end in CRLF');
  text.split('\r\n').forEach((line, index) => {
    if (/[\r\n]/.test(line)) problems.push(`line ${index + 1} has a bare CR or LF`);
    if (line.length > MAX_LINE_OCTETS) problems.push(`line ${index + 1} is ${line.length} octets long`);
    const control = Array.from(line.replace(/[\r\n]/g, ''), (c) => c.charCodeAt(0)).find(
      (code) => code < 0x20 || code === 0x7f,
    );
    if (control !== undefined) problems.push(`line ${index + 1} has control character U+${control.toString(16)}`);
  });
  const headers = text.slice(0, text.indexOf('\r\n\r\n'));
  if (/[\u0080-\u00FF]/.test(headers)) problems.push('the header section has octets that are not ASCII');
  return problems;
}

const base64 = (bytes: string | Buffer) => Buffer.from(bytes).toString('base64');

/** Requests at the edges of what intake accepts, each checked against the schema before it is used. */
const edgeRequests: [string, Partial<EmailRequest>][] = [
  [
    'a 998-character subject with no space, and a 998-character header value',
    { subject: 's'.repeat(998), headers: { 'X-Long': 'v'.repeat(998), 'X-Trace-Id': 't-1' } },
  ],
  [
    'non-ASCII everywhere it may be',
    {
      subject: 'Ünïcödé '.repeat(124),
      from: { email: 'sender@example.com', name: 'Отправитель '.repeat(21) },
      headers: { 'X-Note': 'ж'.repeat(998) },
      attachments: [
        { filename: `${'ф'.repeat(250)}.txt`, content: base64('x'), content_type: 'text/plain; charset=utf-8' },
      ],
    },
  ],
  [
    `${MAX_RECIPIENTS} recipients with the longest names`,
    {
      to: Array.from({ length: 30 }, (_, i) => ({ email: `to${i}@example.org`, name: `${'N'.repeat(250)} "${i}"` })),
      cc: Array.from({ length: 10 }, (_, i) => ({ email: `cc${i}@example.org`, name: 'C'.repeat(256) })),
      bcc: Array.from({ length: 10 }, (_, i) => ({ email: `bcc${i}@example.org` })),
    },
  ],
  [
    'text and html with bare LF, bare CR and very long lines, and a text attachment with bare LF',
    {
      text: `line one\nline two\rline three\n${'word '.repeat(600)}\n${'x'.repeat(3000)}\n`,
      html: `<p>one</p>\n<p>${'y'.repeat(3000)}</p>\n`,
      attachments: [
        { filename: 'notes.txt', content: base64('a\nb\n'), content_type: 'text/plain; charset=utf-8' },
        {
          filename: 'f'.repeat(255),
          content: base64(Buffer.from([0, 10, 13, 255])),
          content_type: 'application/octet-stream',
        },
      ],
    },
  ],
  [
    'the standard headers at their longest, and an inline image',
    {
      html: '<p><img src="cid:logo@example.com"></p>',
      headers: {
        'List-Unsubscribe': `<https://example.com/u/${'u'.repeat(930)}>, <mailto:u@example.com>`,
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        'In-Reply-To': `<${'i'.repeat(960)}@example.com>`,
        References: Array.from({ length: 26 }, (_, i) => `<ref${i}.${'r'.repeat(16)}@example.com>`).join(' '),
      },
      attachments: [
        {
          filename: 'logo.png',
          content: base64('png'),
          content_type: 'image/png',
          inline: true,
          content_id: 'logo@example.com',
        },
      ],
    },
  ],
];

function validRequest(overrides: Partial<EmailRequest>): EmailRequest {
  const request = {
    from: { email: 'sender@example.com', name: 'Sender' },
    to: [{ email: 'jane@example.org' }],
    subject: 'Wire test',
    text: 'Hello.',
    ...overrides,
  };
  const validated = validateEmailRequest(request);
  if (!validated.ok) throw new Error(`fixture is not a valid request: ${JSON.stringify(validated.problems)}`);
  return validated.value;
}

/** The queued message for an email, as the producer encodes it. */
function queued(id: string, acceptedAt: string, request: unknown, attempts = 0) {
  return {
    body: encodeEnvelope({
      version: ENVELOPE_VERSION,
      id,
      accepted_at: acceptedAt,
      client: 'test',
      request,
    } as Parameters<typeof encodeEnvelope>[0]),
    headers: attempts === 0 ? {} : { [DeliveryHeaders.attempts]: attempts },
  };
}

function depsFor(provider: EmailProvider): HandleDeps {
  return {
    chain: [
      {
        provider,
        circuit: new CircuitBreaker({ failureThreshold: 5, coolDownMs: 60_000 }),
        limiter: new RateLimiter(Number.POSITIVE_INFINITY),
        timeoutMs: 10_000,
      },
    ],
    policy: { maxAttempts: 5, maxAgeMs: 3_600_000, tiers: [] },
    now: () => new Date(),
  };
}

const harnesses: [string, () => Promise<WireHarness>][] = [
  ['capture (.eml file)', captureHarness],
  ['SES (raw message received by aws-ses-v2-local)', sesHarness],
  ['SMTP (DATA received by smtp-server)', smtpHarness],
];

describe.each(harnesses)('MIME on the wire: %s', (_name, start) => {
  let harness: WireHarness;

  beforeAll(async () => {
    harness = await start();
  });

  afterAll(async () => {
    await harness.close();
  });

  it.each(edgeRequests)(
    'when the email has %s, then every line ends in CRLF, none is over 998 octets and none holds a control character',
    async (_label, overrides) => {
      const id = uuidv7();
      const settlement = await handleEmail(
        depsFor(harness.provider),
        queued(id, new Date().toISOString(), validRequest(overrides)),
      );
      const raw = await harness.raw(id);

      expect(settlement).toMatchObject({ action: 'sent' });
      expect(wireProblems(raw)).toEqual([]);
      expect(raw.toString('latin1')).toMatch(new RegExp(`(?:^|\r\n)${EMAIL_ID_HEADER}: ${id}\r\n`));
    },
  );

  it('when one queued email is handled again (a retry), then both messages carry Date = the accept time, and the same Message-ID', async () => {
    const id = uuidv7();
    const acceptedAt = '2026-03-01T09:15:30.250Z';
    const deps = depsFor(harness.provider);
    const request = validRequest({});

    await handleEmail(deps, queued(id, acceptedAt, request));
    const first = await simpleParser(await harness.raw(id));
    await handleEmail(deps, queued(id, acceptedAt, request, 1));
    const second = await simpleParser(await harness.raw(id));

    expect(first.headers.get('date')).toEqual(new Date('2026-03-01T09:15:30.000Z'));
    expect(second.headers.get('date')).toEqual(first.headers.get('date'));
    expect(second.messageId).toBe(first.messageId);
  });
});

describe('control characters never reach an adapter', () => {
  const controls = ['\u0000', '\t', '\u000B', '\u000C', '\u001B', '\u007F', '\u0085', '\u009B', '\r', '\n'];
  const label = (c: string) => `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  const places: [string, (c: string) => Partial<EmailRequest>][] = [
    ['/subject', (c) => ({ subject: `Hi${c}` })],
    ['/from/name', (c) => ({ from: { email: 'sender@example.com', name: `S${c}` } })],
    ['/to/0/name', (c) => ({ to: [{ email: 'jane@example.org', name: `J${c}` }] })],
    ['/headers/X-A', (c) => ({ headers: { 'X-A': `v${c}` } })],
    [
      '/attachments/0/filename',
      (c) => ({ attachments: [{ filename: `a${c}.txt`, content: base64('x'), content_type: 'text/plain' }] }),
    ],
  ];
  let capture: WireHarness;

  beforeAll(async () => {
    capture = await captureHarness();
  });

  afterAll(async () => {
    await capture.close();
  });

  it.each(places.flatMap(([pointer, make]) => controls.map((c) => [pointer, label(c), make(c)] as const)))(
    'when a queued email has %s holding %s, then it is parked as invalid and nothing is written or sent',
    async (pointer, _control, overrides) => {
      const id = uuidv7();
      const request = {
        from: { email: 'sender@example.com' },
        to: [{ email: 'jane@example.org' }],
        subject: 's',
        text: 't',
        ...overrides,
      };

      const settlement = await handleEmail(depsFor(capture.provider), queued(id, new Date().toISOString(), request));

      expect(settlement).toMatchObject({ action: 'park', reason: 'invalid', id });
      expect(
        String((settlement as { headers: Record<string, unknown> }).headers[DeliveryHeaders.lastFailure]),
      ).toContain(pointer);
      await expect(capture.raw(id)).rejects.toThrow(/ENOENT/);
    },
  );
});

describe('inline attachments through Postmark (its API, not MIME)', () => {
  it('when an attachment is inline, then Postmark gets it with ContentID cid:<content_id>; the others without', async () => {
    const fake = await startFakePostmark();
    const provider = new PostmarkProvider(
      new ServerClient(fake.token, new Models.ClientOptions.Configuration(false, fake.host)),
    );
    const id = uuidv7();
    const request = validRequest({
      html: '<img src="cid:logo@example.com">',
      attachments: [
        {
          filename: 'logo.png',
          content: base64('png'),
          content_type: 'image/png',
          inline: true,
          content_id: 'logo@example.com',
        },
        { filename: 'terms.pdf', content: base64('pdf'), content_type: 'application/pdf' },
      ],
    });
    try {
      await provider.send({ id, request }, AbortSignal.timeout(10_000));
      const { json } = await fake.received(id);

      expect(json.Attachments?.map((a) => [a.Name, a.ContentID ?? null])).toEqual([
        ['logo.png', 'cid:logo@example.com'],
        ['terms.pdf', null],
      ]);
    } finally {
      await fake.close();
    }
  });
});
