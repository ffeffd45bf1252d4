import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
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
import { CaptureProvider } from '../src/providers/capture/send';
import { MAX_LINE_OCTETS } from '../src/providers/mime';
import type { EmailProvider } from '../src/providers/provider';
import { PostmarkProvider } from '../src/providers/postmark/send';
import { SesProvider, createSesClient } from '../src/providers/ses/send';
import { SmtpProvider, createSmtpTransport } from '../src/providers/smtp/send';
import { startFakePostmark } from './support/postmark-server';
import { PythonEmailReader, type PythonReading } from './support/python-email';
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

/** A message to attach as message/rfc822, with bare LF line ends (as a saved .eml may have). */
function innerMessage(text: string): string {
  return [
    'From: someone@example.org',
    'Subject: Inner message',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Transfer-Encoding: ${/[^\p{ASCII}]/u.test(text) ? '8bit' : '7bit'}`,
    '',
    text,
    '',
  ].join('\n');
}

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
  [
    'attachments with caller parameters, non-ASCII and encoded-word-like names, and attached messages',
    {
      subject: '=?utf-8?B?SGFja2Vk?=',
      from: { email: 'sender@example.com', name: '=?utf-8?B?SGFja2Vk?=' },
      html: '<p><img src="cid:chart@example.com"></p>',
      attachments: [
        {
          filename: 'report.pdf',
          content: base64('%PDF'),
          content_type: 'application/pdf; name="../../evil.exe"; filename=evil.exe; boundary=x',
        },
        { filename: 'Отчёт за март 2026 года.txt', content: base64('т'), content_type: 'text/plain; charset="UTF-8"' },
        { filename: `${'日本語のファイル名'.repeat(25)}.csv`, content: base64('a,b'), content_type: 'text/csv' },
        { filename: '=?utf-8?B?SGFja2Vk?=.txt', content: base64('x'), content_type: 'text/plain' },
        {
          filename: 'グラフ 😀.png',
          content: base64('png'),
          content_type: 'image/png',
          inline: true,
          content_id: 'chart@example.com',
        },
        { filename: 'forwarded.eml', content: base64(innerMessage('Вперёд')), content_type: 'message/rfc822' },
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
  let python: PythonEmailReader;

  beforeAll(async () => {
    python = PythonEmailReader.start();
    harness = await start();
  });

  afterAll(async () => {
    await harness.close();
    await python.close();
  });

  it.each(edgeRequests)(
    "when the email has %s, then every line ends in CRLF, none is over 998 octets, none holds a control character, and Python's email parser finds no defect",
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
      expect((await python.read(raw)).defects).toEqual([]);
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

describe("what Python's email parser (policy.default) reads from messages sent through SMTP", () => {
  let smtp: WireHarness;
  let python: PythonEmailReader;

  beforeAll(async () => {
    python = PythonEmailReader.start();
    smtp = await smtpHarness();
  });

  afterAll(async () => {
    await smtp.close();
    await python.close();
  });

  /** Sends the request through the SMTP adapter and reads what the server received with Python. */
  async function sendAndRead(request: EmailRequest): Promise<PythonReading> {
    const id = uuidv7();
    await smtp.provider.send({ id, request }, AbortSignal.timeout(10_000));
    return python.read(await smtp.raw(id));
  }

  it('when a content_type carries name, filename and other parameters, then only charset is kept and both names are the filename', async () => {
    const reading = await sendAndRead(
      validRequest({
        attachments: [
          {
            filename: 'report.pdf',
            content: base64('%PDF'),
            content_type: 'Application/PDF; name="../../evil.exe"; filename=evil.exe; charset=binary; charset=x; a=b',
          },
        ],
      }),
    );

    expect(reading.defects).toEqual([]);
    expect(reading.attachments).toEqual([
      expect.objectContaining({
        contentType: 'application/pdf',
        typeParams: { charset: 'binary', name: 'report.pdf' },
        disposition: 'attachment',
        dispositionParams: { filename: 'report.pdf' },
        transferEncoding: 'base64',
        content: base64('%PDF'),
      }),
    ]);
  });

  it.each([
    ['Cyrillic with spaces', 'Отчёт за март 2026 года.pdf'],
    ['CJK at the longest', `${'報告書'.repeat(83)}.pdf`],
    ['emoji and a combining mark', 'e\u0301te\u0301 😀 résumé.pdf'],
    ['an encoded word', '=?utf-8?B?SGFja2Vk?=.pdf'],
    ['RFC 2231 look-alike', "utf-8''%41%42.pdf"],
    ['ASCII specials', "it's (a) draft; v=2, 100% [final] *.pdf"],
    ['ASCII at the longest', `${'n'.repeat(251)}.pdf`],
    ['spaces at both ends', '  spaced  .pdf '],
  ])(
    'when the filename is %s, then Content-Type name and Content-Disposition filename read back as typed',
    async (_label, filename) => {
      const reading = await sendAndRead(
        validRequest({ attachments: [{ filename, content: base64('x'), content_type: 'application/pdf' }] }),
      );

      expect(reading.defects).toEqual([]);
      expect(reading.attachments.map((a) => [a.typeParams['name'], a.dispositionParams['filename']])).toEqual([
        [filename, filename],
      ]);
    },
  );

  it('when an inline attachment has a non-ASCII name, then it keeps its Content-ID, inline disposition and name', async () => {
    const reading = await sendAndRead(
      validRequest({
        html: '<img src="cid:chart@example.com">',
        attachments: [
          {
            filename: 'グラフ.png',
            content: base64('png'),
            content_type: 'image/png',
            inline: true,
            content_id: 'chart@example.com',
          },
        ],
      }),
    );

    expect(reading.defects).toEqual([]);
    expect(reading.attachments).toEqual([
      expect.objectContaining({
        contentType: 'image/png',
        disposition: 'inline',
        dispositionParams: { filename: 'グラフ.png' },
        contentId: '<chart@example.com>',
      }),
    ]);
  });

  it.each([
    ['ASCII, with bare LF line ends', '7bit', 'Plain inner text.'],
    ['non-ASCII', '8bit', 'Текст вложенного письма.'],
  ])(
    'when a message/rfc822 attachment is %s, then it is sent %s (never base64) and reads back as a message',
    async (_label, encoding, text) => {
      const reading = await sendAndRead(
        validRequest({
          attachments: [
            { filename: 'forwarded.eml', content: base64(innerMessage(text)), content_type: 'message/rfc822' },
          ],
        }),
      );

      expect(reading.defects).toEqual([]);
      expect(reading.attachments).toEqual([
        expect.objectContaining({
          contentType: 'message/rfc822',
          transferEncoding: encoding,
          dispositionParams: { filename: 'forwarded.eml' },
          // Line ends made CRLF: a message's canonical form.
          content: { subject: 'Inner message', text: `${text}\r\n` },
        }),
      ]);
    },
  );

  it('when a message/rfc822 attachment has a line over 998 octets, then it is sent as application/octet-stream in base64, its bytes intact', async () => {
    const content = base64(`Subject: long\r\n\r\n${'x'.repeat(1200)}\r\n`);
    const reading = await sendAndRead(
      validRequest({ attachments: [{ filename: 'long.eml', content, content_type: 'message/rfc822' }] }),
    );

    expect(reading.defects).toEqual([]);
    expect(reading.attachments).toEqual([
      expect.objectContaining({ contentType: 'application/octet-stream', transferEncoding: 'base64', content }),
    ]);
  });

  it('when the subject and the display names look like encoded words, then they read back as typed, not decoded', async () => {
    const lookAlike = '=?utf-8?B?SGFja2Vk?=';
    const reading = await sendAndRead(
      validRequest({
        subject: lookAlike,
        from: { email: 'sender@example.com', name: lookAlike },
        to: [{ email: 'jane@example.org', name: `Jane ${lookAlike}` }],
        cc: [{ email: 'cc@example.org', name: 'x=?iso-8859-1?q?=E9?=' }],
        reply_to: [{ email: 'replies@example.com', name: '"=?utf-8?Q?quoted?="' }],
      }),
    );

    expect(reading.defects).toEqual([]);
    expect(reading.subject).toBe(lookAlike);
    expect(reading.from).toEqual([{ name: lookAlike, email: 'sender@example.com' }]);
    expect(reading.to).toEqual([{ name: `Jane ${lookAlike}`, email: 'jane@example.org' }]);
    expect(reading.cc).toEqual([{ name: 'x=?iso-8859-1?q?=E9?=', email: 'cc@example.org' }]);
    expect(reading.replyTo).toEqual([{ name: '"=?utf-8?Q?quoted?="', email: 'replies@example.com' }]);
  });

  // Each run sends one message through a local SMTP server and reads it: 2 s each is ample on a busy machine.
  const GENERATED_RUNS = 100;

  it(
    'when subjects, display names, filenames and content_type parameters are generated, then every message has no defect and each reads back as typed',
    async () => {
      await fc.assert(
        fc.asyncProperty(generatedRequest, async ({ request, filenames }) => {
          const reading = await sendAndRead(request);

          expect(reading.defects).toEqual([]);
          expect(reading.subject).toBe(request.subject);
          expect(reading.from.map((m) => m.name)).toEqual([request.from.name ?? '']);
          expect(reading.to.map((m) => m.name)).toEqual((request.to ?? []).map((a) => a.name ?? ''));
          expect(reading.attachments.map((a) => [a.typeParams['name'], a.dispositionParams['filename']])).toEqual(
            filenames.map((filename) => [filename, filename]),
          );
          for (const attachment of reading.attachments) {
            expect(Object.keys(attachment.typeParams).filter((key) => key !== 'charset' && key !== 'name')).toEqual([]);
          }
        }),
        { numRuns: GENERATED_RUNS },
      );
    },
    GENERATED_RUNS * 2_000,
  );
});

/** Pieces a typed name is made of: ASCII words and punctuation, spaces, non-ASCII, and RFC 2047/2231 look-alikes. */
const namePiece = fc.oneof(
  fc.constantFrom('a', 'Z', '7', ' ', '  ', '.', ',', "'", '(', ')', ';', ':', '<', '>', '@', '%', '*', '=', '?', '_'),
  fc.constantFrom('ü', 'ж', '日本', '😀', 'e\u0301', 'ß', '\u00a0'),
  fc.constantFrom('=?utf-8?B?SGFja2Vk?=', '=?', '?=', "utf-8''", '%41', '=?UTF-8?Q?a_b?='),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 8 }),
);

/** A string of name pieces, sometimes repeated up to a field's longest length. */
const typedText = (max: number, exclude: RegExp = /$^/) =>
  fc
    .tuple(fc.array(namePiece, { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 30 }))
    .map(([pieces, times]) => pieces.join('').repeat(times).slice(0, max).replace(exclude, '_'));

/** A content_type with the caller parameters intake lets through (name, filename, charset and others). */
const callerContentType = fc
  .tuple(
    fc.constantFrom('application/pdf', 'text/plain', 'image/png', 'application/octet-stream', 'Text/CSV'),
    fc.array(
      fc.constantFrom(
        'name="../../evil.exe"',
        'filename=evil.exe',
        'charset=utf-8',
        'charset="iso-8859-1"',
        'boundary=abc',
        'format=flowed',
        'x-mac-type="3F3F3F3F"',
      ),
      { maxLength: 4 },
    ),
  )
  .map(([type, parameters]) => [type, ...parameters].join('; '));

/** Requests with generated subject, display names, filenames and content types, kept only if the contract accepts them. */
const generatedRequest = fc
  .record({
    subject: typedText(998),
    fromName: typedText(256),
    toNames: fc.array(typedText(256), { minLength: 1, maxLength: 3 }),
    attachments: fc.array(fc.tuple(typedText(255, /[/\\\\"]/g), callerContentType), { minLength: 1, maxLength: 3 }),
  })
  .map(({ subject, fromName, toNames, attachments }) => ({
    validated: validateEmailRequest({
      from: { email: 'sender@example.com', name: fromName },
      to: toNames.map((name, i) => ({ email: `r${i}@example.org`, name })),
      subject,
      text: 'Generated.',
      attachments: attachments.map(([filename, contentType]) => ({
        filename,
        content: base64('x'),
        content_type: contentType,
      })),
    }),
    filenames: attachments.map(([filename]) => filename),
  }))
  .filter(({ validated }) => validated.ok)
  .map(({ validated, filenames }) => ({
    request: (validated as { readonly value: EmailRequest }).value,
    filenames,
  }));

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
