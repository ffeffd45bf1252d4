import fc from 'fast-check';
import { simpleParser } from 'mailparser';
import { EMAIL_ID_HEADER, MAX_RECIPIENTS, validateEmailRequest, type EmailRequest } from '@mailer/contract';
import {
  MAX_LINE_OCTETS,
  buildMime,
  fileNameParameter,
  foldableValue,
  subjectValue,
  toCrlf,
  toMailOptions,
  uuidV7Time,
} from './mime';
import { attachmentContentType } from './media-type';
import type { OutboundEmail } from './provider';

const acceptedAt = new Date('2026-03-01T09:15:30.000Z');

/** An email whose request passed the contract's validation (so that tests cannot build what intake refuses). */
function email(overrides: Partial<EmailRequest> = {}): OutboundEmail {
  const request = {
    from: { email: 'sender@example.com', name: 'Sender' },
    to: [{ email: 'jane@example.org' }],
    subject: 'Hello',
    text: 'Hi.',
    ...overrides,
  };
  const validated = validateEmailRequest(request);
  if (!validated.ok) throw new Error(`test request is invalid: ${JSON.stringify(validated.problems)}`);
  return { id: '0195f2a0-0000-7000-8000-000000000001', request: validated.value, acceptedAt };
}

/** Lines of a message (split at CRLF) and what is wrong with them: a bare CR or LF, or over 998 octets. */
function wireProblems(raw: Buffer): string[] {
  const text = raw.toString('latin1');
  const problems: string[] = [];
  if (!text.endsWith('\r\n')) problems.push('does not end in CRLF');
  text.split('\r\n').forEach((line, index) => {
    if (/[\r\n]/.test(line)) problems.push(`line ${index + 1} has a bare CR or LF`);
    if (line.length > MAX_LINE_OCTETS) problems.push(`line ${index + 1} is ${line.length} octets`);
  });
  return problems;
}

function headerBlock(raw: Buffer): string {
  const text = raw.toString('latin1');
  return text.slice(0, text.indexOf('\r\n\r\n'));
}

/**
 * Decodes RFC 2047 UTF-8 Q encoded-words (mailparser decodes them only in the headers it knows);
 * white space between two encoded-words is not part of the text.
 */
function decodeQWords(value: string): string {
  const bytes = value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?UTF-8\?Q\?([^?]*)\?=/gi, (_, text: string) => text.replace(/_/g, ' '))
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

const base64 = (text: string) => Buffer.from(text).toString('base64');

describe('toCrlf', () => {
  it.each([
    ['bare LF', 'a\nb', 'a\r\nb'],
    ['bare CR', 'a\rb', 'a\r\nb'],
    ['CRLF', 'a\r\nb', 'a\r\nb'],
    ['mixed, with LF CR', 'a\n\rb\r\n\nc', 'a\r\n\r\nb\r\n\r\nc'],
  ])('when the text has %s, then every line break is CRLF', (_label, input, expected) => {
    expect(toCrlf(input)).toBe(expected);
  });
});

describe('foldableValue', () => {
  it('when every run is short, then the value is left as it is', () => {
    expect(foldableValue('a '.repeat(400))).toBe('a '.repeat(400));
  });

  it('when a run is too long to fold, then it becomes encoded-words no longer than 75 characters', () => {
    const words = foldableValue('x'.repeat(998)).split(' ');

    expect(words.every((word) => /^=\?UTF-8\?Q\?[^?]*\?=$/.test(word) && word.length <= 75)).toBe(true);
  });
});

describe('subjectValue', () => {
  it.each([
    ['looks like an encoded word', '=?utf-8?B?SGFja2Vk?='],
    ['holds an encoded word after text', 'Re:=?utf-8?Q?x?='],
    ['starts with a space', ' leading'],
    ['ends with a space', 'trailing '],
    ['starts with a run too long to follow "Subject: "', `${'#'.repeat(68)} end`],
  ])('when the subject %s, then it is sent as Q encoded-words of at most 52 characters', (_label, subject) => {
    const words = subjectValue(subject).split(' ');

    expect(words.every((word) => /^=\?UTF-8\?Q\?[^?]*\?=$/.test(word) && word.length <= 52)).toBe(true);
  });

  it('when the subject is ordinary text, then it is left for nodemailer as it is', () => {
    expect(subjectValue(`Your order ${'#'.repeat(67)} has shipped`)).toBe(`Your order ${'#'.repeat(67)} has shipped`);
  });
});

describe('attachmentContentType', () => {
  it.each([
    ['application/pdf', 'application/pdf'],
    ['application/pdf; name="../../evil.exe"', 'application/pdf'],
    ['application/pdf; filename=evil.exe; boundary=x', 'application/pdf'],
    ['Text/Plain; charset="UTF-8"; format=flowed', 'text/plain; charset=UTF-8'],
    ['text/plain; name=x; charset=utf-8', 'text/plain; charset=utf-8'],
    ['text/plain; charset=iso-8859-1; charset=utf-8', 'text/plain; charset=iso-8859-1'],
    ['text/plain; charset="a b"', 'text/plain'],
  ])('when the caller sends %p, then the part is %p', (given, sent) => {
    expect(attachmentContentType(given)).toBe(sent);
  });
});

describe('fileNameParameter', () => {
  /** The value a segment list decodes to (RFC 2231: percent-decoded octets, UTF-8). */
  const decoded = (segments: string[]) =>
    Buffer.from(
      decodeURIComponent(segments.map((segment) => segment.replace(/^[^=]*=(?:utf-8'')?/, '')).join('')),
    ).toString();

  it('when the name is printable ASCII, then it is one quoted string', () => {
    expect(fileNameParameter('filename', "it's a (draft); v=2.pdf")).toEqual([`filename="it's a (draft); v=2.pdf"`]);
  });

  it.each([
    ['non-ASCII', 'Отчёт.pdf'],
    ['like an encoded word', '=?utf-8?B?SGFja2Vk?=.pdf'],
  ])('when the name is %s, then it is one RFC 2231 extended value that decodes to the name', (_label, name) => {
    const segments = fileNameParameter('filename', name);

    expect(segments).toHaveLength(1);
    expect(segments[0]).toMatch(/^filename\*=utf-8''[A-Za-z0-9!#$&+.^_`|~%-]+$/);
    expect(decoded(segments)).toBe(name);
  });

  it('when a non-ASCII name is long, then it is continuations of at most 60 characters, none splitting a character', () => {
    const name = `${'😀ж'.repeat(60)}.pdf`;
    const segments = fileNameParameter('name', name);

    expect(segments.map((segment) => segment.slice(0, segment.indexOf('=')))).toEqual(
      segments.map((_, index) => `name*${index}*`),
    );
    expect(segments.every((segment) => segment.slice(segment.indexOf('=') + 1).length <= 60)).toBe(true);
    // Each segment decodes by itself: some clients decode them one by one.
    expect(segments.map((segment) => decoded([segment])).join('')).toBe(name);
  });
});

describe('uuidV7Time', () => {
  it('when the id is a UUIDv7, then its time is read from the first 48 bits', () => {
    expect(uuidV7Time('0195f2a0-0000-7000-8000-000000000001')?.getTime()).toBe(0x0195f2a00000);
  });

  it.each(['9b2c8f9e-3e1a-4c1e-8f5e-3b1a2c3d4e5f', 'not-a-uuid'])('when the id is %p, then undefined', (id) => {
    expect(uuidV7Time(id)).toBeUndefined();
  });
});

describe('buildMime', () => {
  it('when text and html carry bare LF and CR, then every line of the message ends in CRLF', async () => {
    const raw = await buildMime(email({ text: 'one\ntwo\rthree\n', html: '<p>one</p>\n<p>two</p>' }));
    const parsed = await simpleParser(raw);

    expect(wireProblems(raw)).toEqual([]);
    expect(parsed.text).toBe('one\ntwo\nthree\n');
  });

  it('when a text line is far over 998 characters, then it is encoded so that no line is', async () => {
    const text = `${'long '.repeat(1000)}\n${'x'.repeat(5000)}`;
    const raw = await buildMime(email({ text }));

    expect(wireProblems(raw)).toEqual([]);
    expect((await simpleParser(raw)).text?.trimEnd()).toBe(text);
  });

  it('when a text attachment has bare LF, then its bytes arrive unchanged (base64) and the message is CRLF only', async () => {
    const content = 'a\nb\rc\r\n';
    const raw = await buildMime(
      email({
        attachments: [{ filename: 'a.txt', content: base64(content), content_type: 'text/plain; charset=utf-8' }],
      }),
    );
    const parsed = await simpleParser(raw);

    expect(wireProblems(raw)).toEqual([]);
    expect(parsed.attachments[0]?.content.toString()).toBe(content);
    expect(parsed.attachments[0]?.contentType).toBe('text/plain');
    expect(raw.toString()).toMatch(/Content-Type: text\/plain; charset=utf-8; name="a\.txt"\r\n/);
  });

  it.each([
    ['a 998-character subject with no space', { subject: 's'.repeat(998) }],
    ['a 998-character non-ASCII subject', { subject: 'ü'.repeat(998) }],
    ['a subject of long and short runs', { subject: `${'a'.repeat(900)} b ${'c'.repeat(95)}` }],
    ['a 998-character header value with no space', { headers: { 'X-Long': 'v'.repeat(998) } }],
    ['a long header name and value', { headers: { [`X-${'N'.repeat(76)}`]: 'v'.repeat(998) } }],
    ['a 998-character non-ASCII header value', { headers: { 'X-Long': 'ж'.repeat(998) } }],
    [
      'the longest List-Unsubscribe',
      { headers: { 'List-Unsubscribe': `<https://example.com/${'u'.repeat(980 - 22)}>` } },
    ],
    [
      'the longest References',
      {
        headers: {
          References: Array.from({ length: 30 }, (_, i) => `<r${i}.${'x'.repeat(10)}@example.com>`).join(' '),
        },
      },
    ],
    ['a single long References id', { headers: { References: `<${'x'.repeat(986 - 14)}@example.com>` } }],
    [
      'fifty recipients with the longest names',
      {
        to: Array.from({ length: MAX_RECIPIENTS }, (_, i) => ({
          email: `${'r'.repeat(50)}${i}@${'d'.repeat(60)}.example.org`,
          name: `${'N'.repeat(250)}"${i}`,
        })),
      },
    ],
    [
      'a non-ASCII display name of 256 characters',
      { from: { email: 'sender@example.com', name: 'Ünïcödé '.repeat(32) } },
    ],
    [
      'the longest filenames, ASCII and not',
      {
        attachments: [
          { filename: 'f'.repeat(255), content: base64('x'), content_type: 'application/octet-stream' },
          { filename: `${'ф'.repeat(250)}.pdf`, content: base64('x'), content_type: 'application/pdf' },
        ],
      },
    ],
    [
      'the longest media type with parameters',
      {
        attachments: [
          {
            filename: 'a.bin',
            content: base64('x'),
            content_type: `application/octet-stream; a="${'p'.repeat(220)}"`,
          },
        ],
      },
    ],
  ])('when the email has %s, then no line is over 998 octets', async (_label, overrides) => {
    const raw = await buildMime(email(overrides));

    expect(wireProblems(raw)).toEqual([]);
  });

  it('when the subject and a header value are encoded to fit, then they decode to the text requested', async () => {
    const subject = 's'.repeat(998);
    const value = `${'v'.repeat(950)} end`;
    const parsed = await simpleParser(await buildMime(email({ subject, headers: { 'X-Long': value } })));

    expect(parsed.subject).toBe(subject);
    expect(decodeQWords(parsed.headers.get('x-long') as string)).toBe(value);
  });

  it('when the email is built twice (a retry), then Date is the accept time both times, and Message-ID is the same', async () => {
    const outbound = email();
    const [first, second] = await Promise.all([buildMime(outbound), buildMime(outbound)]);
    const dateOf = (raw: Buffer) => /^Date: (.*)$/m.exec(headerBlock(raw))?.[1];

    expect(dateOf(first)).toBe('Sun, 01 Mar 2026 09:15:30 +0000');
    expect(dateOf(second)).toBe(dateOf(first));
    expect((await simpleParser(first)).messageId).toBe((await simpleParser(second)).messageId);
  });

  it('when an email has no acceptedAt, then Date is the time of its UUIDv7 id', async () => {
    const { acceptedAt: _at, ...byHand } = email();
    const parsed = await simpleParser(await buildMime(byHand));

    expect(parsed.date?.getTime()).toBe(Math.floor(0x0195f2a00000 / 1000) * 1000);
  });

  it(`when the email is built, then the id header is spelt exactly ${EMAIL_ID_HEADER}, and caller headers as the caller spelt them`, async () => {
    const headers = headerBlock(
      await buildMime(
        email({ headers: { 'x-trace-id': 'abc', 'X-Campaign-ID': 'c1', 'list-unsubscribe': '<https://e.com/u>' } }),
      ),
    );

    expect(headers).toMatch(new RegExp(`^${EMAIL_ID_HEADER}: 0195f2a0-0000-7000-8000-000000000001$`, 'm'));
    expect(headers).toMatch(/^x-trace-id: abc$/m);
    expect(headers).toMatch(/^X-Campaign-ID: c1$/m);
    expect(headers).toMatch(/^list-unsubscribe: <https:\/\/e\.com\/u>$/m);
    expect(headers).not.toMatch(/X-Mailer-Email-ID/);
  });

  it('when standard headers are set, then they arrive as given', async () => {
    const parsed = await simpleParser(
      await buildMime(
        email({
          headers: {
            'List-Unsubscribe': '<https://example.com/u/1>, <mailto:u@example.com>',
            'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
            'In-Reply-To': '<a.1@example.com>',
            References: '<a.0@example.com> <a.1@example.com>',
          },
        }),
      ),
    );
    const line = (key: string) => parsed.headerLines.find((h) => h.key === key)?.line;

    expect(line('list-unsubscribe')).toBe('List-Unsubscribe: <https://example.com/u/1>, <mailto:u@example.com>');
    expect(line('list-unsubscribe-post')).toBe('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
    expect(parsed.inReplyTo).toBe('<a.1@example.com>');
    expect(parsed.references).toEqual(['<a.0@example.com>', '<a.1@example.com>']);
  });

  it('when an attachment is inline with a content_id, then it sits in multipart/related with Content-ID and inline disposition', async () => {
    const raw = await buildMime(
      email({
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
      }),
    );
    const parsed = await simpleParser(raw);
    const logo = parsed.attachments.find((a) => a.filename === 'logo.png');
    const terms = parsed.attachments.find((a) => a.filename === 'terms.pdf');

    expect(raw.toString()).toMatch(/Content-Type: multipart\/related; type="text\/html"/);
    expect(logo).toMatchObject({ contentDisposition: 'inline', cid: 'logo@example.com', related: true });
    expect(logo?.headers.get('content-id')).toBe('<logo@example.com>');
    expect(terms?.contentDisposition).toBe('attachment');
    expect(terms?.related).toBeFalsy();
    expect(wireProblems(raw)).toEqual([]);
  });

  it('when text is empty and html is not, then only the html part is sent', async () => {
    const raw = await buildMime(email({ text: '', html: '<p>Hi</p>' }));

    expect(raw.toString()).not.toMatch(/text\/plain/);
    expect(String((await simpleParser(raw)).html).trimEnd()).toBe('<p>Hi</p>');
  });

  it('when the subject and display names look like encoded words, then a parser reads them as typed', async () => {
    const lookAlike = '=?utf-8?B?SGFja2Vk?=';
    const parsed = await simpleParser(
      await buildMime(
        email({
          subject: lookAlike,
          from: { email: 'sender@example.com', name: lookAlike },
          to: [{ email: 'jane@example.org', name: `Jane "J" O'Brien, ${lookAlike}` }],
        }),
      ),
    );

    expect(parsed.subject).toBe(lookAlike);
    expect(parsed.from?.value).toEqual([{ address: 'sender@example.com', name: lookAlike }]);
    expect((Array.isArray(parsed.to) ? parsed.to[0] : parsed.to)?.value).toEqual([
      { address: 'jane@example.org', name: `Jane "J" O'Brien, ${lookAlike}` },
    ]);
  });

  it('when a content_type carries name and other parameters, then the part has only charset and the filename as name', async () => {
    const raw = await buildMime(
      email({
        attachments: [
          {
            filename: 'report.pdf',
            content: base64('%PDF'),
            content_type: 'application/pdf; name="../../evil.exe"; charset=binary',
          },
        ],
      }),
    );

    expect(raw.toString()).toContain('Content-Type: application/pdf; charset=binary; name="report.pdf"\r\n');
    expect(raw.toString()).toContain('Content-Disposition: attachment; filename="report.pdf"\r\n');
    expect(raw.toString()).not.toContain('evil');
  });

  it.each([
    [
      'ASCII',
      '7bit',
      'Subject: inner\nFrom: a@example.org\n\nbody\n',
      'Subject: inner\r\nFrom: a@example.org\r\n\r\nbody\r\n',
    ],
    ['non-ASCII', '8bit', 'Subject: inner\n\nтело\n', 'Subject: inner\r\n\r\nтело\r\n'],
  ])(
    'when a message/rfc822 attachment is %s, then it is sent %s with CRLF line ends, not base64',
    async (_label, encoding, inner, sent) => {
      const outbound = email({
        attachments: [{ filename: 'fwd.eml', content: base64(inner), content_type: 'message/rfc822' }],
      });
      const raw = (await buildMime(outbound)).toString();

      expect(raw).toContain(
        `Content-Type: message/rfc822; name="fwd.eml"\r\nContent-Transfer-Encoding: ${encoding}\r\n` +
          `Content-Disposition: attachment; filename="fwd.eml"\r\n\r\n${sent}\r\n--`,
      );
      // BODY=8BITMIME is asked for only when a part is 8bit.
      expect(Boolean((toMailOptions(outbound).envelope as { use8BitMime?: boolean }).use8BitMime)).toBe(
        encoding === '8bit',
      );
    },
  );

  it('when a message/rfc822 attachment cannot be 7bit or 8bit (a NUL), then it is sent as application/octet-stream in base64', async () => {
    const content = base64('Subject: x\r\n\r\n\0\r\n');
    const raw = await buildMime(
      email({ attachments: [{ filename: 'odd.eml', content, content_type: 'message/rfc822' }] }),
    );

    expect(raw.toString()).toContain(
      'Content-Type: application/octet-stream; name="odd.eml"\r\nContent-Transfer-Encoding: base64\r\n',
    );
    expect((await simpleParser(raw)).attachments.map((a) => a.content.toString('base64'))).toEqual([content]);
  });

  it.each([
    ['message/partial', 'ASCII', 'message/partial', '7bit', 'Subject: p\n\nx\n'],
    ['message/external-body', 'non-ASCII', 'application/octet-stream', 'base64', 'Subject: e\n\nж\n'],
    ['message/global', 'non-ASCII', 'message/global', 'base64', 'Subject: g\n\nж\n'],
  ])(
    'when a %s attachment is %s, then it is sent as %s in %s (RFC 2046 allows those two 7bit only; other types any encoding)',
    async (type, _label, sentType, encoding, inner) => {
      const raw = await buildMime(
        email({ attachments: [{ filename: 'm.eml', content: base64(inner), content_type: type }] }),
      );

      expect(raw.toString()).toContain(
        `Content-Type: ${sentType}; name="m.eml"\r\nContent-Transfer-Encoding: ${encoding}\r\n`,
      );
    },
  );

  it('when an email has to, cc and bcc, then the SMTP envelope has every recipient once and the headers no Bcc', async () => {
    const outbound = email({
      to: [{ email: 'jane@example.org' }],
      cc: [{ email: 'JANE@example.org' }, { email: 'cc@example.org' }],
      bcc: [{ email: 'hidden@example.org' }],
    });

    expect(toMailOptions(outbound).envelope).toEqual({
      from: 'sender@example.com',
      to: 'jane@example.org, cc@example.org, hidden@example.org',
    });
    expect(headerBlock(await buildMime(outbound))).not.toMatch(/hidden|^Bcc:/im);
  });

  it('when any request the contract accepts is built, then every line ends in CRLF and none is over 998 octets', async () => {
    await fc.assert(
      fc.asyncProperty(acceptedRequest, async (request) => {
        const raw = await buildMime({ id: '0195f2a0-0000-7000-8000-000000000002', request, acceptedAt });

        expect(wireProblems(raw)).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });
});

/** Text up to `max` characters: short and varied, or long runs of one piece (ASCII, non-ASCII, spaced). */
const textUpTo = (max: number) =>
  fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 60 }),
    fc
      .tuple(fc.integer({ min: 1, max }), fc.constantFrom('x', 'ü', ' x', 'ab ', '😀', 'ж ', '"\\'))
      .map(([length, piece]) => piece.repeat(Math.ceil(length / piece.length)).slice(0, length)),
  );

/** Requests at and around every length limit of a header-bound string, kept only if the contract accepts them. */
const acceptedRequest = fc
  .record({
    subject: textUpTo(998),
    fromName: textUpTo(256),
    toNames: fc.array(textUpTo(256), { minLength: 1, maxLength: 5 }),
    value: textUpTo(998),
    name: fc.stringMatching(/^X-[A-Za-z0-9-]{1,76}$/),
    filename: textUpTo(255),
    text: fc.string({ unit: fc.constantFrom('a', ' ', '\n', '\r', 'é', 'x'.repeat(100)), maxLength: 40 }),
  })
  .map(({ subject, fromName, toNames, value, name, filename, text }) =>
    validateEmailRequest({
      from: { email: 'sender@example.com', name: fromName },
      to: toNames.map((toName, i) => ({ email: `r${i}@example.org`, name: toName })),
      subject,
      text: `${text}.`,
      headers: /^x-mailer(?:-|$)/i.test(name) ? {} : { [name]: value },
      attachments: [{ filename, content: base64('x'), content_type: 'text/plain; charset=utf-8' }],
    }),
  )
  .filter((validated) => validated.ok)
  .map((validated) => (validated as { readonly value: EmailRequest }).value);
