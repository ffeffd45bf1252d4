import { once } from 'node:events';
import type { Server } from 'node:http';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import request from 'supertest';
import {
  MAX_BATCH_SIZE,
  ONE_CLICK_UNSUBSCRIBE,
  Patterns,
  batchIndexOf,
  validateEmailBatch,
  validateEmailRequest,
  type Validated,
} from '@mailer/contract';
import { queueDepth } from '@mailer/testkit';
import { useScratchLedger } from './support/ledger';
import { OTHER_KEY, TEST_KEY, startTestProducer, validEmail, type TestProducer } from './support/producer';

type Path = readonly (string | number)[];
type Mutation = (body: unknown) => unknown;

/** RFC 6901: empty, or `/`-prefixed tokens in which `~` only appears as `~0` or `~1`. */
const jsonPointer = /^(?:\/(?:[^~/]|~[01])*)*$/;

/** The reference tokens of a pointer, unescaped (`~1` first, then `~0`, as RFC 6901 says). */
function tokensOf(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** Whether `tokens` lead to a value that exists inside `root`. */
function resolves(root: unknown, tokens: readonly string[]): boolean {
  let current = root;
  for (const token of tokens) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, token)) return false;
    current = (current as Record<string, unknown>)[token];
  }
  return true;
}

/**
 * A validation result is well formed: ok with the body it was given, or a non-empty list of
 * problems, each with a valid RFC 6901 pointer whose parent exists in the body, and a detail.
 */
function expectWellFormed(result: Validated<unknown>, body: unknown, value: () => unknown): void {
  if (result.ok) {
    expect(result.value).toBe(value());
    return;
  }
  expect(result.problems.length).toBeGreaterThan(0);
  for (const problem of result.problems) {
    expect(problem.pointer).toMatch(jsonPointer);
    expect(typeof problem.detail).toBe('string');
    expect(problem.detail.length).toBeGreaterThan(0);
    expect(resolves(body, tokensOf(problem.pointer).slice(0, -1))).toBe(true);
  }
}

/** A valid request using every part of the schema, so that mutations have something to hit. */
function richEmail(): Record<string, unknown> {
  return {
    ...validEmail({ text: 'Hello.' }),
    cc: [{ email: 'cc@example.org' }],
    html: '<p>Hello.</p>',
    headers: {
      'X-Campaign': 'spring',
      'List-Unsubscribe': '<https://example.com/u/1>',
      References: '<r.1@example.com>',
    },
    attachments: [
      { filename: 'a.pdf', content: 'JVBERi0xLjQK', content_type: 'application/pdf' },
      {
        filename: 'logo.png',
        content: 'iVBORw==',
        content_type: 'image/png',
        inline: true,
        content_id: 'logo@example.com',
      },
    ],
    tags: { kind: 'receipt' },
    metadata: { order: 'A-1' },
  };
}

const fieldPaths: Path[] = [
  [],
  ['from'],
  ['from', 'email'],
  ['from', 'name'],
  ['to'],
  ['to', 0],
  ['to', 0, 'email'],
  ['cc'],
  ['bcc'],
  ['reply_to'],
  ['subject'],
  ['text'],
  ['html'],
  ['headers'],
  ['headers', 'X-Campaign'],
  ['headers', 'List-Unsubscribe'],
  ['headers', 'References'],
  ['attachments'],
  ['attachments', 0],
  ['attachments', 0, 'content'],
  ['attachments', 0, 'filename'],
  ['attachments', 0, 'content_type'],
  ['attachments', 1, 'inline'],
  ['attachments', 1, 'content_id'],
  ['tags'],
  ['tags', 'kind'],
  ['metadata'],
  ['metadata', 'order'],
];

/**
 * Strings that end up in a header line of the sent email: a line break there is header
 * injection, and no other control character may reach a header either.
 */
const headerBoundStrings: Path[] = [
  ['subject'],
  ['from', 'name'],
  ['to', 0, 'name'],
  ['headers', 'X-Campaign'],
  ['headers', 'List-Unsubscribe'],
  ['headers', 'References'],
  ['attachments', 0, 'filename'],
  ['attachments', 0, 'content_type'],
  ['attachments', 1, 'content_id'],
  ['tags', 'kind'],
];

/** Every string of {@link richEmail}: each must be well-formed Unicode. */
const allStrings: Path[] = [
  ...headerBoundStrings,
  ['from', 'email'],
  ['text'],
  ['html'],
  ['attachments', 0, 'content'],
  ['metadata', 'order'],
];

const objectPaths: Path[] = [[], ['from'], ['to', 0], ['headers'], ['attachments', 0], ['tags'], ['metadata']];

const longStringPaths: Path[] = [
  ['subject'],
  ['text'],
  ['html'],
  ['from', 'name'],
  ['headers', 'X-Campaign'],
  ['tags', 'kind'],
  ['metadata', 'order'],
];

const listPaths: Path[] = [['to'], ['cc'], ['bcc'], ['reply_to'], ['attachments']];

/** The container at `path` (all but its last token), if every step exists and is an object. */
function parentOf(body: unknown, path: Path): Record<string | number, unknown> | undefined {
  let current = body;
  for (const token of path.slice(0, -1)) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string | number, unknown>)[token];
  }
  return typeof current === 'object' && current !== null ? (current as Record<string | number, unknown>) : undefined;
}

/**
 * Puts `value` at `key` as an own property. Junk containers may refuse (typed arrays, boxed
 * strings): then nothing changes. A `__proto__` key stays an ordinary property, as JSON.parse makes it.
 */
function define(target: object, key: string | number, value: unknown): void {
  Reflect.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function setAt(body: unknown, path: Path, value: unknown): unknown {
  const last = path.at(-1);
  if (last === undefined) return value;
  const parent = parentOf(body, path);
  if (parent !== undefined) define(parent, last, value);
  return body;
}

function pointerOf(path: Path): string {
  return path.map((token) => `/${String(token).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

const lineBreak = fc.constantFrom('\r', '\n', '\r\n');

/** Line breaks and the other control characters (C0 with tab, DEL, C1). */
const controlCharacter = fc.oneof(
  lineBreak,
  fc.integer({ min: 0, max: 0x1f }).map((code) => String.fromCharCode(code)),
  fc.integer({ min: 0x7f, max: 0x9f }).map((code) => String.fromCharCode(code)),
);

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code));

/** Kinds of damage done to a valid request; `junk` supplies wrong values. */
function mutations(junk: fc.Arbitrary<unknown>): fc.Arbitrary<Mutation> {
  return fc.oneof(
    fc.tuple(fc.constantFrom(...fieldPaths), junk).map(
      ([path, value]): Mutation =>
        (body) =>
          setAt(body, path, structuredClone(value)),
    ),
    fc
      .tuple(fc.constantFrom(...objectPaths), fc.dictionary(fc.string(), junk, { minKeys: 1, maxKeys: 3 }))
      .map(([path, extra]): Mutation => (body) => {
        const target = parentOf(body, [...path, '']);
        if (target !== undefined) {
          for (const [key, value] of Object.entries(extra)) define(target, key, structuredClone(value));
        }
        return body;
      }),
    fc
      .tuple(fc.constantFrom(...headerBoundStrings), lineBreak, fc.nat())
      .map(([path, breakChars, at]): Mutation => (body) => {
        const current = parentOf(body, path)?.[path.at(-1) ?? ''];
        const text = typeof current === 'string' ? current : 'x';
        const cut = at % (text.length + 1);
        return setAt(body, path, text.slice(0, cut) + breakChars + text.slice(cut));
      }),
    fc.tuple(fc.constantFrom(...longStringPaths), fc.constantFrom(0, 998, 999, 1001, 100_000, 200_000)).map(
      ([path, length]): Mutation =>
        (body) =>
          setAt(body, path, 'x'.repeat(length)),
    ),
    fc
      .constantFrom(
        'ceo@elsewhere.com',
        'NO-REPLY@EXAMPLE.COM',
        'alerts@example.org',
        'billing@example.org',
        'a@mail.example.com',
      )
      .map(
        (email): Mutation =>
          (body) =>
            setAt(body, ['from', 'email'], email),
      ),
    fc.constantFrom(...fieldPaths).map((path): Mutation => (body) => {
      const parent = parentOf(body, path);
      const last = path.at(-1);
      if (parent !== undefined && last !== undefined) Reflect.deleteProperty(parent, last);
      return body;
    }),
    fc
      .tuple(fc.constantFrom(...listPaths), fc.oneof(fc.constant(0), fc.integer({ min: 40, max: 120 })))
      .map(([path, length]): Mutation => (body) => {
        const attachments = path[0] === 'attachments';
        const item = (i: number) =>
          attachments
            ? { filename: `f${i}.txt`, content: 'QUJD', content_type: 'text/plain' }
            : { email: `r${i}@example.org` };
        return setAt(
          body,
          path,
          Array.from({ length }, (_, i) => item(i)),
        );
      }),
  );
}

/** Valid requests damaged by one to three mutations. */
function mutatedEmail(junk: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc
    .array(mutations(junk), { minLength: 1, maxLength: 3 })
    .map((steps) => steps.reduce<unknown>((body, step) => step(body), richEmail()));
}

/** Batches: mutated and valid items, sometimes over the size limit, and damaged batch bodies. */
function batchBody(junk: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const item = fc.oneof(
    mutatedEmail(junk),
    fc.constant(null).map(() => richEmail()),
  );
  return fc.oneof(
    fc.array(item, { maxLength: 5 }).map((emails) => ({ emails })),
    fc
      .integer({ min: MAX_BATCH_SIZE - 1, max: MAX_BATCH_SIZE + 10 })
      .map((length) => ({ emails: Array.from({ length }, () => richEmail()) })),
    fc.tuple(fc.array(item, { maxLength: 3 }), junk).map(([emails, extra]) => ({ emails, extra })),
    junk.map((emails) => ({ emails })),
    junk,
  );
}

const anything = fc.anything({
  withBoxedValues: true,
  withMap: true,
  withSet: true,
  withDate: true,
  withBigInt: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
});

const noControlCharacters = new RegExp(Patterns.noControlCharacters, 'u');

/** Text that may go into a header line: no control characters. */
const headerSafe = (text: string) => noControlCharacters.test(text);

const address = fc.record(
  {
    email: fc.emailAddress().filter((email) => email.length <= 254),
    name: fc.string({ unit: 'grapheme', maxLength: 40 }).filter(headerSafe),
  },
  { requiredKeys: ['email'] },
);

const msgId = fc
  .tuple(fc.stringMatching(/^[A-Za-z0-9.$%+-]{1,20}$/), fc.domain())
  .map(([left, domain]) => `<${left.replace(/^\.+|\.+$/g, 'x').replace(/\.{2,}/g, '.')}@${domain}>`);

/** The standard headers a caller may set, in any case, valid together (one-click only with an https URI). */
const standardHeaders = fc
  .record(
    {
      unsubscribe: fc.array(
        fc.constantFrom('<https://example.com/u/1>', '<mailto:u@example.com>', '<http://e.com/u>'),
        {
          minLength: 1,
          maxLength: 3,
        },
      ),
      oneClick: fc.boolean(),
      inReplyTo: msgId,
      references: fc.array(msgId, { minLength: 1, maxLength: 5 }),
      lowerCase: fc.boolean(),
    },
    { requiredKeys: ['lowerCase', 'oneClick'] },
  )
  .map(({ unsubscribe, oneClick, inReplyTo, references, lowerCase }) => {
    const name = (text: string) => (lowerCase ? text.toLowerCase() : text);
    const headers: Record<string, string> = {};
    if (unsubscribe !== undefined) headers[name('List-Unsubscribe')] = unsubscribe.join(', ');
    if (oneClick && unsubscribe?.some((uri) => uri.startsWith('<https:')) === true) {
      headers[name('List-Unsubscribe-Post')] = ONE_CLICK_UNSUBSCRIBE;
    }
    if (inReplyTo !== undefined) headers[name('In-Reply-To')] = inReplyTo;
    if (references !== undefined) headers[name('References')] = references.join(' ');
    return headers;
  });

/** Requests that keep every rule, built from generated parts (not mutations of one example). */
const validRequest = fc
  .record(
    {
      from: address,
      to: fc.array(address, { minLength: 1, maxLength: 5 }),
      cc: fc.array(address, { maxLength: 5 }),
      reply_to: fc.array(address, { maxLength: 2 }),
      subject: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 100 }).filter(headerSafe),
      text: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }),
      html: fc.string({ maxLength: 200 }),
      headers: fc
        .tuple(
          fc.dictionary(
            fc.stringMatching(/^[Xx]-[A-Za-z0-9-]{1,76}$/).filter((name) => !/^x-mailer(?:-|$)/i.test(name)),
            fc.string({ maxLength: 100 }).filter(headerSafe),
            { maxKeys: 5 },
          ),
          standardHeaders,
        )
        .map(([custom, standard]) => ({ ...custom, ...standard })),
      attachments: fc
        .array(
          fc.record({
            filename: fc
              .string({ unit: 'grapheme', minLength: 1, maxLength: 40 })
              .filter((name) => headerSafe(name) && !/[/\\"]/.test(name)),
            content: fc
              .uint8Array({ minLength: 1, maxLength: 100 })
              .map((bytes) => Buffer.from(bytes).toString('base64')),
            content_type: fc.constantFrom(
              'application/pdf',
              'image/png',
              'text/csv',
              'application/vnd.ms-excel',
              'image/svg+xml',
              'text/plain; charset=utf-8',
              'text/plain; charset="utf-8"; format=flowed',
            ),
            inline: fc.boolean(),
          }),
          { maxLength: 3 },
        )
        .map((attachments) =>
          // Inline ones get a content_id of their own (each may be used once); the others none.
          attachments.map(({ inline, ...rest }, i) =>
            inline ? { ...rest, inline, content_id: `part${i}.${i}@example.com` } : rest,
          ),
        ),
      tags: fc.dictionary(
        fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/),
        fc.string({ maxLength: 50 }).filter(headerSafe),
        {
          maxKeys: 10,
        },
      ),
      metadata: fc.dictionary(
        fc.string({ maxLength: 64 }),
        fc.oneof(
          fc.string({ maxLength: 50 }),
          fc.double({ noNaN: true, noDefaultInfinity: true }),
          fc.boolean(),
          fc.constant(null),
        ),
        { maxKeys: 20 },
      ),
    },
    { requiredKeys: ['from', 'to', 'subject', 'text'] },
  )
  .filter((request) => {
    // Header names are case-insensitive: a repeat in another case is refused, so none is generated.
    const names = Object.keys(request.headers ?? {}).map((name) => name.toLowerCase());
    return new Set(names).size === names.length;
  });

const emailJunk = fc.oneof(anything, fc.jsonValue(), mutatedEmail(anything));

describe('validation of generated requests', () => {
  it('when junk is validated as one email, then it never throws and the result is ok or well-formed problems', () => {
    fc.assert(
      fc.property(emailJunk, (body) => {
        expectWellFormed(validateEmailRequest(body), body, () => body);
      }),
      { numRuns: 2000 },
    );
  });

  it('when junk is validated as a batch, then it never throws, and problems point into the batch by item index', () => {
    fc.assert(
      fc.property(fc.oneof(batchBody(anything), emailJunk), (body) => {
        const result = validateEmailBatch(body);
        expectWellFormed(result, body, () => (body as { emails: unknown }).emails);
        const emails = (body as { emails?: unknown } | null)?.emails;
        for (const problem of result.ok ? [] : result.problems) {
          const index = batchIndexOf(problem.pointer);
          if (index !== undefined) expect(Array.isArray(emails) && index < emails.length).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('when a request keeps every rule, then it is accepted as it is', () => {
    fc.assert(
      fc.property(validRequest, (body) => {
        expect(validateEmailRequest(body)).toEqual({ ok: true, value: body });
      }),
      { numRuns: 500 },
    );
  });

  it('when a control character is put into any string that becomes a header line, then the request is refused at that string', () => {
    fc.assert(
      fc.property(fc.constantFrom(...headerBoundStrings), controlCharacter, fc.nat(), (path, breakChars, at) => {
        const body = richEmail();
        const before = parentOf(body, path)?.[path.at(-1) ?? ''];
        const text = typeof before === 'string' ? before : 'Name';
        const cut = at % (text.length + 1);
        setAt(body, path, text.slice(0, cut) + breakChars + text.slice(cut));

        const result = validateEmailRequest(body);

        expect(result.ok).toBe(false);
        expect(result.ok ? [] : result.problems.map((p) => p.pointer)).toContain(pointerOf(path));
      }),
      { numRuns: 300 },
    );
  });

  it('when a lone surrogate is put into any string, then the request is refused at that string', () => {
    fc.assert(
      fc.property(fc.constantFrom(...allStrings), loneSurrogate, fc.nat(), (path, surrogate, at) => {
        const body = richEmail();
        const before = parentOf(body, path)?.[path.at(-1) ?? ''];
        const text = typeof before === 'string' ? before : 'x';
        const cut = at % (text.length + 1);
        setAt(body, path, text.slice(0, cut) + surrogate + text.slice(cut));

        const result = validateEmailRequest(body);

        expect(result.ok ? [] : result.problems).toContainEqual({
          pointer: pointerOf(path),
          detail: 'must be well-formed Unicode (no lone surrogates)',
        });
      }),
      { numRuns: 300 },
    );
  });

  it("when any string holds megabytes of a pattern's repeating unit, then validation never throws and answers small", () => {
    // What made V8 run out of regexp stack ("Maximum call stack size exceeded") before patterns ran
    // only within their maxLength: the unit a grouped pattern repeats, repeated past any bound.
    const unit = fc.constantFrom('a.', '<a@b> ', ';a=b', '<a:b>,', 'a', 'A/', '=?');
    fc.assert(
      fc.property(
        fc.constantFrom(...allStrings),
        unit,
        fc.integer({ min: 100_000, max: 1_500_000 }),
        (path, repeated, times) => {
          const body = setAt(richEmail(), path, `${repeated.repeat(times)}@b`);

          const result = validateEmailRequest(body);

          expectWellFormed(result, body, () => body);
          expect(JSON.stringify(result.ok ? [] : result.problems).length).toBeLessThan(8 * 1024);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('when text and html are both empty or absent, then the request is refused at /text', () => {
    fc.assert(
      fc.property(fc.constantFrom(undefined, ''), fc.constantFrom(undefined, ''), (text, html) => {
        const { text: _text, html: _html, ...rest } = richEmail();
        const body = { ...rest, ...(text === undefined ? {} : { text }), ...(html === undefined ? {} : { html }) };

        expect(validateEmailRequest(body)).toEqual({
          ok: false,
          problems: [{ pointer: '/text', detail: 'a non-empty text or html (or both) is required' }],
        });
      }),
      { numRuns: 20 },
    );
  });

  it('when a line break is put into a header name, then the request is refused at that name', () => {
    fc.assert(
      fc.property(lineBreak, fc.integer({ min: 0, max: 10 }), (breakChars, at) => {
        const name = 'X-Campaign'.slice(0, at) + breakChars + 'X-Campaign'.slice(at);
        const body = { ...richEmail(), headers: { [name]: 'spring' } };

        const result = validateEmailRequest(body);

        expect(result.ok ? [] : result.problems.map((p) => p.pointer)).toContain(pointerOf(['headers', name]));
      }),
      { numRuns: 100 },
    );
  });
});

const allowedStatuses = [202, 400, 401, 403, 413, 415];

/** The body of one generated HTTP request: JSON text, any text, or any bytes. */
type Payload =
  | { readonly kind: 'json'; readonly value: unknown }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array };

interface JunkRequest {
  readonly path: '/v1/emails' | '/v1/emails/batch';
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  readonly contentEncoding: { readonly name: string; readonly compress: boolean } | undefined;
  readonly payload: Payload;
}

/** JSON-safe junk only: it is sent as JSON text. */
const jsonJunk = fc.jsonValue({ maxDepth: 4 });

const json = (value: unknown): Payload => ({ kind: 'json', value });

/** What `/v1/emails` expects: valid or damaged requests, so that most runs reach validation or the broker. */
const singlePayload = fc.oneof(
  { weight: 3, arbitrary: mutatedEmail(jsonJunk).map(json) },
  { weight: 2, arbitrary: fc.constant(null).map(() => json(richEmail())) },
);

/** What `/v1/emails/batch` expects: valid or damaged batches. */
const batchPayload = fc.oneof(
  { weight: 3, arbitrary: batchBody(jsonJunk).map(json) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.constant(null).map(richEmail), { minLength: 1, maxLength: 5 })
      .map((emails) => json({ emails })),
  },
);

/** Anything at all: JSON junk, text, bytes, or a body meant for the other endpoint. */
const anyPayload = fc.oneof(
  jsonJunk.map(json),
  fc.string({ unit: 'binary', maxLength: 200 }).map((text): Payload => ({ kind: 'text', text })),
  fc.uint8Array({ maxLength: 300 }).map((bytes): Payload => ({ kind: 'bytes', bytes })),
  fc
    .tuple(
      fc.constantFrom(['', ''], ['{"emails":', '}'], ['{"emails":[', ']}'], ['{"metadata":{"k":', '}}']),
      fc.integer({ min: 1, max: 20_000 }),
    )
    .map(([[open, close], depth]): Payload => ({
      kind: 'text',
      text: `${open}${'['.repeat(depth)}${']'.repeat(depth)}${close}`,
    })),
  singlePayload,
  batchPayload,
);

const contentType = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'Application/JSON'),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      undefined,
      'application/json; charset=utf-16le',
      'application/json; charset=latin1',
      'application/json; charset=utf-99',
      'application/json; charset',
      'application/json; charset="utf-8"',
      'application/json, text/plain',
      'application/problem+json',
      'application/vnd.api+json',
      'text/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/octet-stream',
      ';',
      '/',
    ),
  },
  { weight: 1, arbitrary: fc.stringMatching(/^[\x20-\x7e]{1,40}$/) },
);

/** How a request is sent, apart from its path and body. */
const envelope = {
  authorization: fc.oneof(
    { weight: 8, arbitrary: fc.constant(`Bearer ${TEST_KEY}`) },
    { weight: 2, arbitrary: fc.constant(`Bearer ${OTHER_KEY}`) },
    { weight: 1, arbitrary: fc.constantFrom(undefined, 'Bearer', `Basic ${TEST_KEY}`, 'Bearer not-a-key') },
  ),
  contentType,
  contentEncoding: fc.oneof(
    { weight: 8, arbitrary: fc.constant(undefined) },
    {
      weight: 2,
      arbitrary: fc.record({
        name: fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'GZIP', 'x-unknown'),
        compress: fc.boolean(),
      }),
    },
  ),
};

const junkRequest: fc.Arbitrary<JunkRequest> = fc.oneof(
  fc.record({ path: fc.constant('/v1/emails' as const), payload: singlePayload, ...envelope }),
  fc.record({ path: fc.constant('/v1/emails/batch' as const), payload: batchPayload, ...envelope }),
  fc.record({
    path: fc.constantFrom('/v1/emails' as const, '/v1/emails/batch' as const),
    payload: anyPayload,
    ...envelope,
  }),
);

function bytesOf(payload: Payload): Buffer {
  switch (payload.kind) {
    case 'json':
      return Buffer.from(JSON.stringify(payload.value), 'utf8');
    case 'text':
      return Buffer.from(payload.text, 'utf8');
    case 'bytes':
      return Buffer.from(payload.bytes);
  }
}

function encode(body: Buffer, encoding: JunkRequest['contentEncoding']): Buffer {
  if (encoding === undefined || !encoding.compress) return body;
  switch (encoding.name.toLowerCase()) {
    case 'gzip':
      return gzipSync(body);
    case 'deflate':
      return deflateSync(body);
    case 'br':
      return brotliCompressSync(body);
    default:
      return body;
  }
}

/** superagent would JSON-encode a Buffer sent as application/json; this sends the bytes as they are. */
const bytesAsIs = (body: Buffer): string => body as unknown as string;

describe('the HTTP intake under generated junk (real broker and ledger)', () => {
  const scratch = useScratchLedger('property');
  let producer: TestProducer;
  let server: Server;
  let queued = 0;

  const crashes: unknown[] = [];
  const recordCrash = (error: unknown) => crashes.push(error);

  beforeAll(async () => {
    process.on('uncaughtException', recordCrash);
    process.on('unhandledRejection', recordCrash);
    // A small body cap so that huge arrays reach the 413 path without megabytes of traffic.
    producer = await startTestProducer('property', { maxBodyBytes: 128 * 1024, ledger: scratch.current().adapter });
    server = producer.app.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });

  afterAll(async () => {
    process.off('uncaughtException', recordCrash);
    process.off('unhandledRejection', recordCrash);
    server.close();
    await producer.close();
  });

  function send(junk: JunkRequest): request.Test {
    let test = request(server).post(junk.path);
    if (junk.authorization !== undefined) test = test.set('authorization', junk.authorization);
    if (junk.contentEncoding !== undefined) test = test.set('content-encoding', junk.contentEncoding.name);
    test = test
      .set('content-type', junk.contentType ?? 'application/octet-stream')
      .serialize(bytesAsIs)
      .send(encode(bytesOf(junk.payload), junk.contentEncoding));
    return junk.contentType === undefined ? test.unset('content-type') : test;
  }

  it('when junk is posted to either endpoint, then the answer is never 500, every 4xx is problem+json, and each 202 is queued', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(junkRequest, async (junk) => {
        const response = await send(junk);
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);

        expect(allowedStatuses).toContain(response.status);
        if (response.status === 202) {
          if (junk.path === '/v1/emails') {
            expect(typeof response.body.id).toBe('string');
            queued += 1;
          } else {
            const items = response.body.items as { status: string }[];
            expect(items.every((item) => item.status === 'queued')).toBe(true);
            queued += items.length;
          }
          return;
        }
        expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(response.body).toMatchObject({ status: response.status, type: expect.any(String) });
        expect(typeof response.body.title).toBe('string');
        if (response.body.type === '/problems/validation') {
          const errors = response.body.errors as { pointer: string }[];
          expect(errors.length).toBeGreaterThan(0);
          for (const error of errors) expect(error.pointer).toMatch(jsonPointer);
        }
      }),
      { numRuns: 200 },
    );

    // The run is only meaningful if it reached the accepted path and the common refusals.
    expect([...statuses.keys()]).toEqual(expect.arrayContaining([202, 400, 401, 403, 415]));
    expect(await queueDepth(producer.topology.workQueue.name)).toBe(queued);
  });

  it('when the junk is over, then nothing went unhandled and the app still serves: healthy, ready, and a valid email gets 202', async () => {
    expect(crashes).toEqual([]);
    expect((await request(server).get('/healthz')).status).toBe(200);
    expect((await request(server).get('/readyz')).body).toEqual({ status: 'ready' });
    const response = await request(server)
      .post('/v1/emails')
      .set('authorization', `Bearer ${TEST_KEY}`)
      .send(validEmail());
    expect(response.status).toBe(202);
  });
});
