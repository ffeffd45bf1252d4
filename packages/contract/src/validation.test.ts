import {
  MAX_ATTACHMENT_BASE64_LENGTH,
  MAX_ATTACHMENT_BYTES,
  MAX_RECIPIENTS,
  type EmailRequest,
} from './email-request.schema';
import {
  MAX_BATCH_SIZE,
  MAX_LISTED_PROBLEMS,
  attachmentBytes,
  base64DecodedLength,
  batchIndexOf,
  isOverAttachmentCap,
  validateEmailBatch,
  validateEmailRequest,
  type ValidationProblem,
} from './validation';

/** The smallest valid request; tests change one thing at a time. */
function valid(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    from: { email: 'no-reply@example.com' },
    to: [{ email: 'jane@example.org' }],
    subject: 'Your receipt',
    text: 'Thank you.',
    ...overrides,
  };
}

function attachment(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { filename: 'receipt.pdf', content: 'JVBERi0xLjQK', content_type: 'application/pdf', ...overrides };
}

function problemsOf(body: unknown): readonly ValidationProblem[] {
  const result = validateEmailRequest(body);
  return result.ok ? [] : result.problems;
}

function pointersOf(body: unknown): string[] {
  return problemsOf(body).map((problem) => problem.pointer);
}

function batchProblemsOf(body: unknown): readonly ValidationProblem[] {
  const result = validateEmailBatch(body);
  return result.ok ? [] : result.problems;
}

const recipients = (count: number, domain = 'example.org') =>
  Array.from({ length: count }, (_, i) => ({ email: `r${i}@${domain}` }));

/** Control characters that must never reach a header line (C0 with tab, DEL, C1). */
const controlCharacters = [
  ['NUL', '\u0000'],
  ['TAB', '\t'],
  ['VT', '\u000B'],
  ['FF', '\u000C'],
  ['ESC', '\u001B'],
  ['DEL', '\u007F'],
  ['NEL (C1)', '\u0085'],
  ['CSI (C1)', '\u009B'],
] as const;

const lineBreaks = [
  ['CR', '\r'],
  ['LF', '\n'],
  ['CRLF', '\r\n'],
] as const;

const headerNameDetail =
  'name must be a header name starting with X-, or one of List-Unsubscribe, List-Unsubscribe-Post, In-Reply-To, References';

describe('validateEmailRequest', () => {
  it('when the request is minimal and valid, then ok with the same value', () => {
    const body = valid();

    expect(validateEmailRequest(body)).toEqual({ ok: true, value: body });
  });

  it('when every optional field is used validly, then ok', () => {
    const body = valid({
      from: { email: 'billing@example.com', name: 'Billing, Example Inc.' },
      cc: [{ email: 'cc@example.org', name: 'Cc' }],
      bcc: [{ email: 'audit@example.org' }],
      reply_to: [{ email: 'support@example.com' }],
      html: '<p>Thank you.</p>',
      headers: { 'X-Campaign': 'spring', 'x-trace-id': 'abc-123' },
      attachments: [
        attachment(),
        attachment({ filename: 'logo.svg', content: 'PHN2Zz4=', content_type: 'image/svg+xml' }),
      ],
      tags: { kind: 'receipt', 'tenant_id.v2': '42' },
      metadata: { order: 'A-1', amount: 12.5, paid: true, coupon: null },
    });

    expect(validateEmailRequest(body)).toEqual({ ok: true, value: body });
  });

  it.each([null, [], 'a string', 42, true])('when the body is %p, then one problem at the root', (body) => {
    expect(problemsOf(body)).toEqual([{ pointer: '', detail: 'must be object' }]);
  });

  it('when the body breaks several rules, then every problem is reported', () => {
    const body = valid({ from: { email: 'nope' }, subject: 'a\nb', headers: { Received: 'x' }, unknown: 1 });

    expect(pointersOf(body).sort()).toEqual(['/from/email', '/headers/Received', '/subject', '/unknown']);
  });

  describe('addresses', () => {
    it.each(['not-an-address', 'a@', '@example.com', 'a@@example.com', 'a b@example.com', 'ä@example.com'])(
      'when from.email is %p, then a problem at /from/email',
      (email) => {
        expect(pointersOf(valid({ from: { email } }))).toEqual(['/from/email']);
      },
    );

    it('when a recipient address is invalid, then the pointer names that recipient', () => {
      const body = valid({ to: [{ email: 'ok@example.org' }], cc: [{ email: 'ok@example.org' }, { email: 'bad' }] });

      expect(problemsOf(body)).toEqual([{ pointer: '/cc/1/email', detail: 'must match format "email"' }]);
    });

    it('when an address is longer than 254 characters, then a problem at its email', () => {
      const email = `${'a'.repeat(64)}@${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.example.com`;

      expect(email.length).toBeGreaterThan(254);
      expect(pointersOf(valid({ to: [{ email }] }))).toEqual(['/to/0/email']);
    });

    it('when an address contains a line break, then it is not an address', () => {
      expect(pointersOf(valid({ from: { email: 'a@example.com\r\nBcc: victim@example.org' } }))).toEqual([
        '/from/email',
      ]);
    });

    it.each(lineBreaks)('when a display name contains %s, then a problem at that name', (_label, breakChars) => {
      expect(problemsOf(valid({ to: [{ email: 'jane@example.org', name: `Jane${breakChars}Bcc: x@y.z` }] }))).toEqual([
        { pointer: '/to/0/name', detail: 'must not contain line breaks or other control characters' },
      ]);
    });

    it('when an address has an unknown property, then it is named', () => {
      expect(problemsOf(valid({ from: { email: 'a@example.com', mail: 'x' } }))).toEqual([
        { pointer: '/from/mail', detail: 'is not an allowed property' },
      ]);
    });

    it('when from is missing, then /from is required', () => {
      const { from: _from, ...body } = valid();

      expect(problemsOf(body)).toEqual([{ pointer: '/from', detail: 'is required' }]);
    });
  });

  describe('recipients', () => {
    it('when to, cc and bcc are all absent or empty, then one problem at /to', () => {
      expect(problemsOf(valid({ to: [], cc: [] }))).toEqual([
        { pointer: '/to', detail: 'at least one recipient is required in to, cc or bcc' },
      ]);
    });

    it('when only reply_to has an address, then there is still no recipient', () => {
      const { to: _to, ...body } = valid({ reply_to: [{ email: 'a@example.org' }] });

      expect(pointersOf(body)).toEqual(['/to']);
    });

    it('when only bcc has a recipient, then ok', () => {
      const { to: _to, ...body } = valid({ bcc: [{ email: 'a@example.org' }] });

      expect(validateEmailRequest(body).ok).toBe(true);
    });

    it(`when to, cc and bcc hold ${MAX_RECIPIENTS + 1} in total, then a problem at /to naming the count`, () => {
      const body = valid({ to: recipients(20), cc: recipients(20), bcc: recipients(11) });

      expect(problemsOf(body)).toEqual([
        { pointer: '/to', detail: `at most ${MAX_RECIPIENTS} recipients in total across to, cc and bcc (got 51)` },
      ]);
    });

    it(`when to, cc and bcc hold exactly ${MAX_RECIPIENTS} in total, then ok`, () => {
      expect(validateEmailRequest(valid({ to: recipients(20), cc: recipients(20), bcc: recipients(10) })).ok).toBe(
        true,
      );
    });

    it(`when one list alone holds ${MAX_RECIPIENTS + 1}, then the schema refuses that list`, () => {
      expect(pointersOf(valid({ to: recipients(MAX_RECIPIENTS + 1) }))).toContain('/to');
    });
  });

  describe('subject', () => {
    it('when the subject is missing, then /subject is required', () => {
      const { subject: _subject, ...body } = valid();

      expect(problemsOf(body)).toEqual([{ pointer: '/subject', detail: 'is required' }]);
    });

    it('when the subject is empty, then a problem at /subject', () => {
      expect(pointersOf(valid({ subject: '' }))).toEqual(['/subject']);
    });

    it.each(lineBreaks)('when the subject contains %s, then a problem at /subject', (_label, breakChars) => {
      expect(problemsOf(valid({ subject: `Hi${breakChars}Bcc: victim@example.org` }))).toEqual([
        { pointer: '/subject', detail: 'must not contain line breaks or other control characters' },
      ]);
    });

    it.each(controlCharacters)(
      'when the subject contains the control character %s, then a problem at /subject',
      (_label, control) => {
        expect(problemsOf(valid({ subject: `Hi${control}there` }))).toEqual([
          { pointer: '/subject', detail: 'must not contain line breaks or other control characters' },
        ]);
      },
    );

    it('when the subject is 998 characters, then ok; at 999, then a problem', () => {
      expect(validateEmailRequest(valid({ subject: 's'.repeat(998) })).ok).toBe(true);
      expect(pointersOf(valid({ subject: 's'.repeat(999) }))).toEqual(['/subject']);
    });
  });

  describe('body', () => {
    it('when neither text nor html is given, then a problem at /text', () => {
      const { text: _text, ...body } = valid();

      expect(problemsOf(body)).toEqual([
        { pointer: '/text', detail: 'a non-empty text or html (or both) is required' },
      ]);
    });

    it('when text and html are both empty, then the same problem at /text', () => {
      expect(problemsOf(valid({ text: '', html: '' }))).toEqual([
        { pointer: '/text', detail: 'a non-empty text or html (or both) is required' },
      ]);
    });

    it('when text is empty but html is not, then ok', () => {
      expect(validateEmailRequest(valid({ text: '', html: '<p>Hi</p>' })).ok).toBe(true);
    });

    it('when the body holds a tab, a form feed or bare line breaks, then ok (bodies are not header lines)', () => {
      expect(validateEmailRequest(valid({ text: 'a\tb\fc\nd\re' })).ok).toBe(true);
    });

    it('when only html is given, then ok', () => {
      const { text: _text, ...body } = valid({ html: '<p>Hi</p>' });

      expect(validateEmailRequest(body).ok).toBe(true);
    });

    it('when text is not a string, then a type problem at /text', () => {
      expect(problemsOf(valid({ text: 42 }))).toEqual([{ pointer: '/text', detail: 'must be string' }]);
    });
  });

  describe('headers', () => {
    it.each(['Received', 'Bcc', 'X', 'X-', 'Y-Thing', 'X_Thing', 'X-Th ing', 'X-Thing:'])(
      'when a header is named %p, then a problem about its name',
      (name) => {
        expect(problemsOf(valid({ headers: { [name]: 'v' } }))).toEqual([
          { pointer: `/headers/${name}`, detail: headerNameDetail },
        ]);
      },
    );

    it.each(lineBreaks)('when a header name contains %s, then a problem about its name', (_label, breakChars) => {
      const name = `X-A${breakChars}Bcc`;

      expect(pointersOf(valid({ headers: { [name]: 'v' } }))).toEqual([`/headers/${name}`]);
    });

    it.each(lineBreaks)('when a header value contains %s, then a problem at that header', (_label, breakChars) => {
      expect(problemsOf(valid({ headers: { 'X-Campaign': `a${breakChars}Bcc: x@y.z` } }))).toEqual([
        { pointer: '/headers/X-Campaign', detail: 'must not contain line breaks or other control characters' },
      ]);
    });

    it.each(['X-Mailer-Email-Id', 'x-mailer-attempt', 'X-MAILER-X', 'X-Mailer'])(
      'when a caller sets the reserved header %p, then it is refused',
      (name) => {
        expect(problemsOf(valid({ headers: { [name]: 'forged' } }))).toEqual([
          { pointer: `/headers/${name}`, detail: 'X-Mailer and X-Mailer-* headers are reserved for the mailer' },
        ]);
      },
    );

    it('when a header starts with X-Mailer but not X-Mailer-, then it is allowed', () => {
      expect(validateEmailRequest(valid({ headers: { 'X-Mailerlite': 'v' } })).ok).toBe(true);
    });

    it('when a header name repeats in another case, then the repeat is named', () => {
      expect(problemsOf(valid({ headers: { 'X-Trace': 'a', 'x-trace': 'b' } }))).toEqual([
        { pointer: '/headers/x-trace', detail: 'repeats a header name (names are case-insensitive)' },
      ]);
    });

    it('when there are more than 20 headers, then a problem at /headers', () => {
      const headers = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-H${i}`, 'v']));

      expect(pointersOf(valid({ headers }))).toEqual(['/headers']);
    });
  });

  describe('attachments', () => {
    it.each(['QQ==', 'QUI=', 'QUJD', 'QUJDRA==', 'ab+/'])(
      'when the content is padded base64 %p, then ok',
      (content) => {
        expect(validateEmailRequest(valid({ attachments: [attachment({ content })] })).ok).toBe(true);
      },
    );

    it.each(['QUJDRA', 'QUJDR', 'QUJDRA=', 'QUJDRAA=='])(
      'when the content %p has a length that is not a multiple of 4, then a problem at its content',
      (content) => {
        expect(problemsOf(valid({ attachments: [attachment({ content })] }))).toEqual([
          { pointer: '/attachments/0/content', detail: 'must be padded standard base64 (length a multiple of 4)' },
        ]);
      },
    );

    it.each(['QU-D', 'QU_D', 'QU D', 'QQ=A', 'Q===', '====', 'QUJD\n', 'QQ'])(
      'when the content %p is not standard padded base64, then a problem at its content',
      (content) => {
        expect(pointersOf(valid({ attachments: [attachment({ content })] }))).toEqual(['/attachments/0/content']);
      },
    );

    it.each<readonly [string, string]>([
      ['CR', 'a\r.pdf'],
      ['LF', 'a\n.pdf'],
      ['a slash', '../etc/passwd'],
      ['a backslash', 'a\\b.pdf'],
      ['a quote', 'a".pdf'],
      ['nothing (empty)', ''],
      ...controlCharacters.map(([label, control]) => [label, `a${control}.pdf`] as const),
    ])('when the filename contains %s, then a problem at the filename', (_label, filename) => {
      const pointers = new Set(pointersOf(valid({ attachments: [attachment(), attachment({ filename })] })));

      expect(pointers).toEqual(new Set(['/attachments/1/filename']));
    });

    it.each([
      'application/pdf',
      'image/svg+xml',
      'application/vnd.ms-excel',
      'text/x.custom_type',
      'text/plain; charset=utf-8',
      'text/plain;charset=UTF-8',
      'text/plain; charset="utf-8"; format=flowed',
      'application/octet-stream; name="a b.bin"',
    ])('when the content type is %p, then ok', (contentType) => {
      expect(validateEmailRequest(valid({ attachments: [attachment({ content_type: contentType })] })).ok).toBe(true);
    });

    it.each([
      'pdf',
      'application/',
      '/pdf',
      'a/b/c',
      'text/pl ain',
      'text/plain\r\n',
      'text/plain;',
      'text/plain; charset',
      'text/plain; charset=',
      'text/plain; charset=ü',
      'text/plain; name="a\tb"',
      'text/plain; name="a"b"',
      'text/plain; charset=utf-8\r\nBcc: x@y.z',
    ])('when the content type is %p, then a problem at the content type', (contentType) => {
      expect(problemsOf(valid({ attachments: [attachment({ content_type: contentType })] }))).toEqual([
        {
          pointer: '/attachments/0/content_type',
          detail: 'must be a media type such as application/pdf or text/plain; charset=utf-8',
        },
      ]);
    });

    it.each(['multipart/mixed', 'Multipart/Related; type="text/html"'])(
      'when the content type is %p, then it is refused as multipart',
      (contentType) => {
        expect(problemsOf(valid({ attachments: [attachment({ content_type: contentType })] }))).toEqual([
          { pointer: '/attachments/0/content_type', detail: 'must not be multipart (an attachment is one body part)' },
        ]);
      },
    );

    it('when an attachment lacks its fields, then each is required', () => {
      expect(pointersOf(valid({ attachments: [{}] })).sort()).toEqual([
        '/attachments/0/content',
        '/attachments/0/content_type',
        '/attachments/0/filename',
      ]);
    });

    it('when one attachment is longer than the whole cap encodes to, then the schema refuses its content', () => {
      const content = 'A'.repeat(MAX_ATTACHMENT_BASE64_LENGTH + 4);

      expect(problemsOf(valid({ attachments: [attachment({ content })] }))).toEqual([
        {
          pointer: '/attachments/0/content',
          detail: `must NOT have more than ${MAX_ATTACHMENT_BASE64_LENGTH} characters`,
        },
      ]);
    });

    it('when there are more than 10 attachments, then a problem at /attachments', () => {
      expect(pointersOf(valid({ attachments: Array.from({ length: 11 }, () => attachment()) }))).toEqual([
        '/attachments',
      ]);
    });
  });

  describe('tags and metadata', () => {
    it.each(['with space', 'a/b', 't'.repeat(65), ''])(
      'when a tag is named %p, then a problem about its name',
      (name) => {
        const escaped = name.replaceAll('/', '~1');

        expect(problemsOf(valid({ tags: { [name]: 'v' } }))).toEqual([
          { pointer: `/tags/${escaped}`, detail: 'name must be 1-64 letters, digits, _ . or -' },
        ]);
      },
    );

    it('when a tag value is over 256 characters or has a line break, then each is named', () => {
      expect(pointersOf(valid({ tags: { long: 'v'.repeat(257), broken: 'a\nb', fine: 'v'.repeat(256) } }))).toEqual([
        '/tags/long',
        '/tags/broken',
      ]);
    });

    it('when there are more than 10 tags, then a problem at /tags', () => {
      const tags = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`t${i}`, 'v']));

      expect(pointersOf(valid({ tags }))).toEqual(['/tags']);
    });

    it.each([
      ['an object', {}],
      ['an array', [1]],
    ])('when a metadata value is %s, then a problem at that value', (_label, value) => {
      expect(problemsOf(valid({ metadata: { key: value } }))).toEqual([
        { pointer: '/metadata/key', detail: 'must be string,number,boolean,null' },
      ]);
    });

    it('when a metadata string is over 1000 characters, then a problem; at 1000, then ok', () => {
      expect(validateEmailRequest(valid({ metadata: { k: 'v'.repeat(1000) } })).ok).toBe(true);
      expect(pointersOf(valid({ metadata: { k: 'v'.repeat(1001) } }))).toEqual(['/metadata/k']);
    });

    it('when a metadata name is over 64 characters, then a problem about that name', () => {
      const name = 'n'.repeat(65);

      expect(problemsOf(valid({ metadata: { [name]: 1 } }))).toEqual([
        { pointer: `/metadata/${name}`, detail: 'name must NOT have more than 64 characters' },
      ]);
    });

    it.each(['email_id', 'EMAIL_ID', 'Email_Id'])(
      'when a caller sets metadata %p (the mailer carries the email id in it), then it is refused by name',
      (name) => {
        expect(problemsOf(valid({ metadata: { order: 1, [name]: 'forged' } }))).toEqual([
          {
            pointer: `/metadata/${name}`,
            detail: 'email_id is reserved for the mailer (it carries the email id to the provider)',
          },
        ]);
      },
    );

    it.each(['email_ids', 'my_email_id', 'emailid'])(
      'when a metadata name only looks like email_id (%p), then it is allowed',
      (name) => {
        expect(validateEmailRequest(valid({ metadata: { [name]: 'x' } })).ok).toBe(true);
      },
    );

    it('when there are more than 20 metadata entries, then a problem at /metadata', () => {
      const metadata = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`m${i}`, i]));

      expect(pointersOf(valid({ metadata }))).toEqual(['/metadata']);
    });
  });

  describe('control characters in header-bound strings', () => {
    const places: [string, (text: string) => Record<string, unknown>][] = [
      ['/subject', (text) => valid({ subject: `Hi ${text}` })],
      ['/from/name', (text) => valid({ from: { email: 'a@example.com', name: `A ${text}` } })],
      ['/cc/0/name', (text) => valid({ cc: [{ email: 'c@example.org', name: text }] })],
      ['/reply_to/0/name', (text) => valid({ reply_to: [{ email: 'r@example.org', name: text }] })],
      ['/headers/X-Campaign', (text) => valid({ headers: { 'X-Campaign': text } })],
      ['/attachments/0/filename', (text) => valid({ attachments: [attachment({ filename: `f${text}.pdf` })] })],
      ['/tags/kind', (text) => valid({ tags: { kind: text } })],
    ];

    it.each(
      places.flatMap(([pointer, body]) => controlCharacters.map(([label, c]) => [pointer, label, body(c)] as const)),
    )('when %s holds %s, then the request is refused at that pointer only', (pointer, _label, body) => {
      expect(pointersOf(body)).toEqual([pointer]);
    });

    it('when several strings hold control characters, then each pointer is named', () => {
      const body = valid({
        subject: 'a\u0000',
        from: { email: 'a@example.com', name: 'b\u001b' },
        attachments: [attachment({ filename: 'c\u007f.pdf' }), attachment({ filename: 'd\t.pdf' })],
      });

      expect(pointersOf(body).sort()).toEqual([
        '/attachments/0/filename',
        '/attachments/1/filename',
        '/from/name',
        '/subject',
      ]);
    });
  });

  describe('standard headers', () => {
    it('when List-Unsubscribe, List-Unsubscribe-Post, In-Reply-To and References are valid, then ok', () => {
      const headers = {
        'List-Unsubscribe': '<https://example.com/u/1>, <mailto:unsubscribe@example.com?subject=1>',
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        'In-Reply-To': '<a.1@example.com>',
        References: '<a.0@example.com> <a.1@example.com> <x@[127.0.0.1]>',
      };

      expect(validateEmailRequest(valid({ headers })).ok).toBe(true);
    });

    it('when standard header names come in another case, then they are recognised', () => {
      const headers = {
        'list-unsubscribe': '<https://example.com/u>',
        'LIST-UNSUBSCRIBE-POST': 'List-Unsubscribe=One-Click',
      };

      expect(validateEmailRequest(valid({ headers })).ok).toBe(true);
    });

    it.each([
      ['a bare URI', 'https://example.com/u'],
      ['an empty list', ''],
      ['a space inside the URI', '<https://example.com/a b>'],
      ['a missing comma', '<https://example.com/a> <mailto:a@example.com>'],
      ['a control character', '<https://example.com/a>\u0000'],
      ['a non-ASCII URI', '<https://exämple.com/a>'],
    ])('when List-Unsubscribe is %s, then a problem at it', (_label, value) => {
      expect(problemsOf(valid({ headers: { 'List-Unsubscribe': value } }))).toEqual([
        { pointer: '/headers/List-Unsubscribe', detail: 'must be one or more <URI>, separated by commas (RFC 2369)' },
      ]);
    });

    it('when List-Unsubscribe is too long for one header line, then a problem at it', () => {
      const value = `<https://example.com/${'u'.repeat(980)}>`;

      expect(problemsOf(valid({ headers: { 'List-Unsubscribe': value } }))).toEqual([
        { pointer: '/headers/List-Unsubscribe', detail: 'must NOT have more than 980 characters' },
      ]);
    });

    it.each(['List-Unsubscribe=one-click', 'One-Click', ' List-Unsubscribe=One-Click', ''])(
      'when List-Unsubscribe-Post is %p, then it must be exactly the RFC 8058 value',
      (value) => {
        const headers = { 'List-Unsubscribe': '<https://example.com/u>', 'List-Unsubscribe-Post': value };

        expect(problemsOf(valid({ headers }))).toEqual([
          { pointer: '/headers/List-Unsubscribe-Post', detail: 'must be exactly "List-Unsubscribe=One-Click"' },
        ]);
      },
    );

    it.each([
      ['no List-Unsubscribe', {}],
      ['a List-Unsubscribe with only mailto', { 'List-Unsubscribe': '<mailto:u@example.com>' }],
      ['a List-Unsubscribe with only http', { 'List-Unsubscribe': '<http://example.com/u>' }],
    ])('when List-Unsubscribe-Post comes with %s, then a problem at List-Unsubscribe-Post', (_label, others) => {
      const headers = { ...others, 'list-unsubscribe-post': 'List-Unsubscribe=One-Click' };

      expect(problemsOf(valid({ headers }))).toEqual([
        {
          pointer: '/headers/list-unsubscribe-post',
          detail: 'needs a List-Unsubscribe header with an https URI (RFC 8058)',
        },
      ]);
    });

    it.each([
      ['a bare id', 'a@example.com'],
      ['no @', '<a.example.com>'],
      ['two @', '<a@b@example.com>'],
      ['a comma between ids', '<a@example.com>,<b@example.com>'],
      ['a space inside an id', '<a b@example.com>'],
      ['a double dot', '<a..b@example.com>'],
      ['a line break', '<a@example.com>\r\n <b@example.com>'],
    ])('when References or In-Reply-To is %s, then a problem at each', (_label, value) => {
      const detail = 'must be one or more message ids such as <id@example.com>, separated by spaces';

      expect(problemsOf(valid({ headers: { 'In-Reply-To': value, References: value } }))).toEqual([
        { pointer: '/headers/In-Reply-To', detail },
        { pointer: '/headers/References', detail },
      ]);
    });

    it.each(['Reply-To', 'List-Id', 'List-Unsubscribe-X', 'Message-ID', 'Date', 'Sender'])(
      'when a caller sets the other standard header %p, then it is still refused by name',
      (name) => {
        expect(problemsOf(valid({ headers: { [name]: 'v' } }))).toEqual([
          { pointer: `/headers/${name}`, detail: headerNameDetail },
        ]);
      },
    );

    it('when a standard header repeats in another case, then the repeat is named', () => {
      const headers = { References: '<a@example.com>', references: '<b@example.com>' };

      expect(problemsOf(valid({ headers }))).toEqual([
        { pointer: '/headers/references', detail: 'repeats a header name (names are case-insensitive)' },
      ]);
    });
  });

  describe('inline attachments', () => {
    const inline = (overrides: Record<string, unknown> = {}) =>
      attachment({
        filename: 'logo.png',
        content_type: 'image/png',
        inline: true,
        content_id: 'logo@example.com',
        ...overrides,
      });

    it('when an attachment is inline with a content_id, then ok', () => {
      expect(
        validateEmailRequest(valid({ html: '<img src="cid:logo@example.com">', attachments: [inline()] })).ok,
      ).toBe(true);
    });

    it('when inline is true without a content_id, then content_id is required', () => {
      const { content_id: _id, ...noId } = inline();

      expect(problemsOf(valid({ attachments: [attachment(), noId] }))).toEqual([
        { pointer: '/attachments/1/content_id', detail: 'is required when inline is true' },
      ]);
    });

    it.each([
      ['inline is false', { inline: false }],
      ['inline is absent', { inline: undefined }],
    ])('when a content_id is given and %s, then a problem at inline', (_label, change) => {
      const body = JSON.parse(JSON.stringify(valid({ attachments: [inline(change)] }))) as unknown;

      expect(problemsOf(body)).toEqual([
        { pointer: '/attachments/0/inline', detail: 'must be true when content_id is given' },
      ]);
    });

    it.each(['<logo@example.com>', 'logo', 'logo@', 'a b@example.com', 'logo@example.com\r\n', 'lögo@example.com'])(
      'when the content_id is %p, then a problem at it',
      (contentId) => {
        expect(problemsOf(valid({ attachments: [inline({ content_id: contentId })] }))).toEqual([
          {
            pointer: '/attachments/0/content_id',
            detail: 'must be a content-id such as logo@example.com (RFC 2392, no angle brackets)',
          },
        ]);
      },
    );

    it('when two attachments share a content_id (in any case), then the repeat is named', () => {
      const body = valid({ attachments: [inline(), inline({ content_id: 'LOGO@example.com' })] });

      expect(problemsOf(body)).toEqual([{ pointer: '/attachments/1/content_id', detail: 'repeats a content_id' }]);
    });

    it('when inline is not a boolean, then a type problem at it', () => {
      expect(problemsOf(valid({ attachments: [inline({ inline: 'yes' })] }))).toEqual([
        { pointer: '/attachments/0/inline', detail: 'must be boolean' },
      ]);
    });
  });

  describe('well-formed Unicode', () => {
    it.each([
      ['/subject', valid({ subject: 'Hi \ud800' })],
      ['/text', valid({ text: 'a\udfffb' })],
      ['/html', valid({ html: '\ud83d' })],
      ['/from/name', valid({ from: { email: 'a@example.com', name: '\udc00x' } })],
      ['/headers/X-A', valid({ headers: { 'X-A': '\ud800' } })],
      ['/tags/kind', valid({ tags: { kind: '\ud800' } })],
      ['/metadata/m', valid({ metadata: { m: 'x\udbff' } })],
      ['/attachments/0/filename', valid({ attachments: [attachment({ filename: 'a\ud800.pdf' })] })],
    ])('when %s holds a lone surrogate, then a problem at it', (pointer, body) => {
      expect(problemsOf(body)).toContainEqual({ pointer, detail: 'must be well-formed Unicode (no lone surrogates)' });
      expect(new Set(pointersOf(body))).toEqual(new Set([pointer]));
    });

    it('when a property name holds a lone surrogate, then a problem names it', () => {
      expect(problemsOf(valid({ metadata: { 'k\ud800': 1 } }))).toEqual([
        { pointer: '/metadata/k\ud800', detail: 'name must be well-formed Unicode (no lone surrogates)' },
      ]);
    });

    it('when the JSON text escapes a lone surrogate, then the parsed request is refused', () => {
      const body: unknown = JSON.parse(
        '{"from":{"email":"a@example.com"},"to":[{"email":"b@example.org"}],"subject":"s","text":"\\ud800"}',
      );

      expect(pointersOf(body)).toEqual(['/text']);
    });

    it('when a string holds a proper surrogate pair (an emoji), then ok', () => {
      expect(
        validateEmailRequest(valid({ subject: 'Hi 😀', text: '😀', from: { email: 'a@example.com', name: '😀' } })).ok,
      ).toBe(true);
    });

    it('when a batch item holds a lone surrogate, then the pointer names the item', () => {
      expect(batchProblemsOf({ emails: [valid(), valid({ text: '\ud800' })] })).toEqual([
        { pointer: '/emails/1/text', detail: 'must be well-formed Unicode (no lone surrogates)' },
      ]);
    });

    it('when junk is nested very deeply, then the walk does not overflow', () => {
      let deep: unknown = '\ud800';
      for (let i = 0; i < 100_000; i += 1) deep = [deep];

      expect(pointersOf(valid({ metadata: { deep } }))).toContain('/metadata/deep');
    });
  });

  describe('additional properties', () => {
    it('when the body has an unknown property, then it is named', () => {
      expect(problemsOf(valid({ priority: 'high' }))).toEqual([
        { pointer: '/priority', detail: 'is not an allowed property' },
      ]);
    });

    it('when an attachment has an unknown property, then it is named', () => {
      expect(pointersOf(valid({ attachments: [attachment({ disposition: 'inline' })] }))).toEqual([
        '/attachments/0/disposition',
      ]);
    });

    it('when the body carries a __proto__ key, then it is an unknown property like any other', () => {
      const body: unknown = JSON.parse(JSON.stringify(valid()).replace('{', '{"__proto__":{"admin":true},'));

      expect(pointersOf(body)).toEqual(['/__proto__']);
    });
  });

  describe('pointers (RFC 6901)', () => {
    it('when an unknown property name has / and ~, then they are escaped as ~1 and ~0', () => {
      expect(pointersOf(valid({ 'a/b~c': 1 }))).toEqual(['/a~1b~0c']);
    });

    it('when a bad metadata value sits under a name with / and ~, then its pointer escapes them', () => {
      expect(pointersOf(valid({ metadata: { 'x/~y': {} } }))).toEqual(['/metadata/x~1~0y']);
    });

    it('when a header name with / and ~ is refused, then its pointer escapes them', () => {
      expect(pointersOf(valid({ headers: { 'X-a/~b': 'v' } }))).toEqual(['/headers/X-a~1~0b']);
    });

    it('when a property name is empty, then the pointer ends in an empty token', () => {
      expect(pointersOf(valid({ '': 1 }))).toEqual(['/']);
    });
  });
});

describe('inputs that would make validation expensive', () => {
  /** About 7 MB: what one request body can carry in a single string. */
  const huge = 3_500_000;
  const serialized = (result: unknown) => JSON.stringify(result).length;

  it.each([
    ['/headers/In-Reply-To', valid({ headers: { 'In-Reply-To': `<${'a.'.repeat(huge)}a@b>` } })],
    ['/headers/References', valid({ headers: { References: `${'<a@b> '.repeat(huge / 3)}<a@b>` } })],
    ['/headers/List-Unsubscribe', valid({ headers: { 'List-Unsubscribe': `${'<a:b>,'.repeat(huge / 3)}<a:b>` } })],
    [
      '/attachments/0/content_type',
      valid({ attachments: [attachment({ content_type: `text/plain${';a=b'.repeat(1_200_000)}` })] }),
    ],
    [
      '/attachments/0/content_id',
      valid({ attachments: [attachment({ inline: true, content_id: `${'a.'.repeat(huge)}a@b` })] }),
    ],
    ['/from/email', valid({ from: { email: `${'a.'.repeat(huge)}a@example.com` } })],
    ['/subject', valid({ subject: 'x'.repeat(2 * huge) })],
  ])('when %s is megabytes of what its pattern repeats, then only its length is refused', (pointer, body) => {
    const problems = problemsOf(body);

    expect(problems).toHaveLength(1);
    expect(problems[0]?.pointer).toBe(pointer);
    expect(problems[0]?.detail).toMatch(/^must NOT have more than \d+ characters$/);
  });

  it('when "to" has five million items, then one problem about its length, without a look at any item', () => {
    const result = validateEmailRequest(valid({ to: new Array<number>(5_000_000).fill(1) }));

    expect(result).toEqual({
      ok: false,
      problems: [{ pointer: '/to', detail: 'must NOT have more than 50 items' }],
    });
  });

  it('when a list is over its length and its items are wrong too, then only the length is named', () => {
    const to = [...recipients(50), { email: 'not an address' }];

    expect(problemsOf(valid({ to, cc: [{ email: 'also wrong' }] }))).toEqual([
      { pointer: '/to', detail: 'must NOT have more than 50 items' },
    ]);
  });

  it('when headers are far over their count, then one problem at /headers', () => {
    const headers = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`X-H${i}`, 'v']));

    expect(problemsOf(valid({ headers }))).toEqual([
      { pointer: '/headers', detail: 'must NOT have more than 20 properties' },
    ]);
  });

  it(`when the body has 200,000 unknown properties, then the first ${MAX_LISTED_PROBLEMS} are listed and the rest counted`, () => {
    const flood = valid(Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`x${i}`, 0])));

    const result = validateEmailRequest(flood);

    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toHaveLength(MAX_LISTED_PROBLEMS);
    expect(result.problems[0]).toEqual({ pointer: '/x0', detail: 'is not an allowed property' });
    expect(result.omitted).toBe(200_000 - MAX_LISTED_PROBLEMS);
    expect(serialized(result)).toBeLessThan(8 * 1024);
  });

  it(`when there are exactly ${MAX_LISTED_PROBLEMS} unknown properties and other problems, then every one is listed`, () => {
    const unknown = Object.fromEntries(Array.from({ length: MAX_LISTED_PROBLEMS }, (_, i) => [`x${i}`, 0]));
    const { subject: _subject, ...noSubject } = valid(unknown);

    const result = validateEmailRequest(noSubject);

    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((problem) => problem.pointer)).toContain('/subject');
    expect(result.problems).toHaveLength(MAX_LISTED_PROBLEMS);
    expect(result.omitted).toBe(1);
  });

  it('when a million strings hold lone surrogates, then the first ones are listed and the rest counted', () => {
    const junk = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`x${i}`, new Array(20_000).fill('\ud800')]));

    const result = validateEmailRequest(valid(junk));

    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toHaveLength(MAX_LISTED_PROBLEMS);
    expect(result.problems[0]).toEqual({
      pointer: '/x0/0',
      detail: 'must be well-formed Unicode (no lone surrogates)',
    });
    expect(result.omitted).toBe(50 * 20_000 + 50 - MAX_LISTED_PROBLEMS);
  });

  it('when an unknown property has a name of megabytes, then the problem points at its parent and says why', () => {
    const name = 'n'.repeat(7_000_000);

    const problems = problemsOf(valid({ attachments: [attachment({ [name]: 1 })] }));

    expect(problems).toEqual([
      {
        pointer: '/attachments/0',
        detail: `below this place, at a pointer of ${name.length + '/attachments/0/'.length} characters (too long to quote): is not an allowed property`,
      },
    ]);
  });

  it('when a batch has five million items, then one problem about its length', () => {
    expect(validateEmailBatch({ emails: new Array<number>(5_000_000).fill(1) })).toEqual({
      ok: false,
      problems: [{ pointer: '/emails', detail: `must NOT have more than ${MAX_BATCH_SIZE} items` }],
    });
  });

  it('when a batch item is over a size bound, then the pointer names the item', () => {
    const emails = [valid(), valid({ bcc: recipients(51) })];

    expect(batchProblemsOf({ emails })).toEqual([
      { pointer: '/emails/1/bcc', detail: 'must NOT have more than 50 items' },
    ]);
  });
});

describe('validateEmailBatch', () => {
  it('when every item is valid, then ok with the items in order', () => {
    const emails = [valid({ subject: 'one' }), valid({ subject: 'two' })];

    expect(validateEmailBatch({ emails })).toEqual({ ok: true, value: emails });
  });

  it('when the batch has 0 items, then a problem at /emails', () => {
    expect(batchProblemsOf({ emails: [] })).toEqual([
      { pointer: '/emails', detail: 'must NOT have fewer than 1 items' },
    ]);
  });

  it(`when the batch has ${MAX_BATCH_SIZE + 1} valid items, then one problem at /emails`, () => {
    const emails = Array.from({ length: MAX_BATCH_SIZE + 1 }, () => valid());

    expect(batchProblemsOf({ emails })).toEqual([
      { pointer: '/emails', detail: `must NOT have more than ${MAX_BATCH_SIZE} items` },
    ]);
  });

  it(`when the batch has ${MAX_BATCH_SIZE} valid items, then ok`, () => {
    expect(validateEmailBatch({ emails: Array.from({ length: MAX_BATCH_SIZE }, () => valid()) }).ok).toBe(true);
  });

  it('when items break schema and cross-field rules, then each pointer names the item by index', () => {
    const { text: _text, ...noBody } = valid();
    const emails = [valid(), valid({ subject: '' }), 3, noBody, valid({ headers: { 'X-Mailer-Id': 'x' } })];

    expect(batchProblemsOf({ emails }).map((p) => p.pointer)).toEqual([
      '/emails/1/subject',
      '/emails/2',
      '/emails/3/text',
      '/emails/4/headers/X-Mailer-Id',
    ]);
  });

  it('when the body is not an object, then a problem at the root', () => {
    expect(batchProblemsOf([valid()])).toEqual([{ pointer: '', detail: 'must be object' }]);
    expect(batchProblemsOf(null)).toEqual([{ pointer: '', detail: 'must be object' }]);
  });

  it('when emails is missing or not a list, then a problem at /emails', () => {
    expect(batchProblemsOf({})).toEqual([{ pointer: '/emails', detail: 'is required' }]);
    expect(batchProblemsOf({ emails: valid() })).toEqual([{ pointer: '/emails', detail: 'must be array' }]);
  });

  it('when the batch body has an unknown property, then it is named', () => {
    expect(batchProblemsOf({ emails: [valid()], dry_run: true })).toEqual([
      { pointer: '/dry_run', detail: 'is not an allowed property' },
    ]);
  });
});

describe('batchIndexOf', () => {
  it.each([
    ['/emails/3/subject', 3],
    ['/emails/12', 12],
    ['/emails/0/headers/X-A', 0],
    ['/emails', undefined],
    ['/emails/', undefined],
    ['/emails/x/subject', undefined],
    ['/emails/3x', undefined],
    ['/emailsy/3', undefined],
    ['/to', undefined],
    ['', undefined],
  ])('when the pointer is %p, then the index is %p', (pointer, index) => {
    expect(batchIndexOf(pointer)).toBe(index);
  });
});

describe('attachment size', () => {
  it.each(['QQ==', 'QUI=', 'QUJD', 'QUJDRA==', 'QUJDREU=', 'QUJDREVG'])(
    'when the content is %p, then base64DecodedLength matches what Buffer decodes',
    (content) => {
      expect(base64DecodedLength(content)).toBe(Buffer.from(content, 'base64').length);
    },
  );

  it('when an email has no attachments, then attachmentBytes is 0', () => {
    expect(attachmentBytes(valid() as EmailRequest)).toBe(0);
  });

  it('when an email has several attachments, then attachmentBytes is their decoded total', () => {
    const email = valid({ attachments: [attachment({ content: 'QQ==' }), attachment({ content: 'QUJDREU=' })] });

    expect(attachmentBytes(email as EmailRequest)).toBe(1 + 5);
  });

  /** Padded base64 (all "A") that decodes to exactly `bytes` bytes. */
  function base64OfLength(bytes: number): string {
    const tail = ['', 'AA==', 'AAA='][bytes % 3] ?? '';
    return 'A'.repeat(Math.floor(bytes / 3) * 4) + tail;
  }

  it('when the decoded total is exactly the cap, then it is not over; one byte more, then it is', () => {
    const at = valid({ attachments: [attachment({ content: base64OfLength(MAX_ATTACHMENT_BYTES) })] });
    const over = valid({ attachments: [attachment({ content: base64OfLength(MAX_ATTACHMENT_BYTES + 1) })] });

    expect(base64DecodedLength(base64OfLength(MAX_ATTACHMENT_BYTES + 1))).toBe(MAX_ATTACHMENT_BYTES + 1);
    expect(isOverAttachmentCap(at as EmailRequest)).toBe(false);
    expect(isOverAttachmentCap(over as EmailRequest)).toBe(true);
  });

  it('when two attachments are each under the cap but together over it, then the email is over', () => {
    const two = (first: number, second: number) =>
      valid({
        attachments: [attachment({ content: base64OfLength(first) }), attachment({ content: base64OfLength(second) })],
      }) as EmailRequest;
    const half = MAX_ATTACHMENT_BYTES / 2;

    expect(attachmentBytes(two(half, half - 1))).toBe(MAX_ATTACHMENT_BYTES - 1);
    expect(isOverAttachmentCap(two(half, half))).toBe(false);
    expect(isOverAttachmentCap(two(half, half + 1))).toBe(true);
  });
});
