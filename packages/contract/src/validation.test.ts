import { MAX_ATTACHMENT_BYTES, MAX_RECIPIENTS, type EmailRequest } from './email-request.schema';
import {
  MAX_BATCH_SIZE,
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

const lineBreaks = [
  ['CR', '\r'],
  ['LF', '\n'],
  ['CRLF', '\r\n'],
] as const;

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

    it.each([
      ['NUL', '\u0000'],
      ['vertical tab', '\u000B'],
      ['escape', '\u001B'],
      ['DEL', '\u007F'],
    ])('when the subject contains the control character %s, then a problem at /subject', (_label, control) => {
      expect(pointersOf(valid({ subject: `Hi${control}there` }))).toEqual(['/subject']);
    });

    it('when the subject contains a tab, then it is allowed (folded headers use tabs)', () => {
      expect(validateEmailRequest(valid({ subject: 'Hi\tthere' })).ok).toBe(true);
    });

    it('when the subject is 998 characters, then ok; at 999, then a problem', () => {
      expect(validateEmailRequest(valid({ subject: 's'.repeat(998) })).ok).toBe(true);
      expect(pointersOf(valid({ subject: 's'.repeat(999) }))).toEqual(['/subject']);
    });
  });

  describe('body', () => {
    it('when neither text nor html is given, then a problem at /text', () => {
      const { text: _text, ...body } = valid();

      expect(problemsOf(body)).toEqual([{ pointer: '/text', detail: 'text or html (or both) is required' }]);
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
          { pointer: `/headers/${name}`, detail: 'name must be a header name starting with X-' },
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

    it.each([
      ['CR', 'a\r.pdf'],
      ['LF', 'a\n.pdf'],
      ['a slash', '../etc/passwd'],
      ['a backslash', 'a\\b.pdf'],
      ['a quote', 'a".pdf'],
      ['nothing (empty)', ''],
    ])('when the filename contains %s, then a problem at the filename', (_label, filename) => {
      const pointers = new Set(pointersOf(valid({ attachments: [attachment(), attachment({ filename })] })));

      expect(pointers).toEqual(new Set(['/attachments/1/filename']));
    });

    it.each(['application/pdf', 'image/svg+xml', 'application/vnd.ms-excel', 'text/x.custom_type'])(
      'when the content type is %p, then ok',
      (contentType) => {
        expect(validateEmailRequest(valid({ attachments: [attachment({ content_type: contentType })] })).ok).toBe(true);
      },
    );

    it.each(['pdf', 'application/', '/pdf', 'a/b/c', 'text/plain; charset=utf-8', 'text/pl ain', 'text/plain\r\n'])(
      'when the content type is %p, then a problem at the content type',
      (contentType) => {
        expect(problemsOf(valid({ attachments: [attachment({ content_type: contentType })] }))).toEqual([
          { pointer: '/attachments/0/content_type', detail: 'must be a media type such as application/pdf' },
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

    it('when there are more than 20 metadata entries, then a problem at /metadata', () => {
      const metadata = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`m${i}`, i]));

      expect(pointersOf(valid({ metadata }))).toEqual(['/metadata']);
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
