import { execFile } from 'node:child_process';
import { once } from 'node:events';
import type { Server } from 'node:http';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import request from 'supertest';
import { emailRequestSchema } from '@mailer/contract';
import { queueDepth } from '@mailer/testkit';
import { openApiDocument } from '../src/http/openapi';
import { useScratchLedger } from './support/ledger';
import { TEST_KEY, startTestProducer, testApiKeys, type TestProducer } from './support/producer';

/** A JSON Schema as the document carries it: an object of keywords, or a boolean schema. */
type Schema = boolean | { readonly [keyword: string]: unknown };

/**
 * Validates an OpenAPI document with @seriousme/openapi-schema-validator (the official OpenAPI
 * 3.0/3.1/3.2 JSON Schemas). The package is ESM only, so it runs in a Node process of its own.
 */
function validateOpenApi(document: unknown): Promise<{ valid: boolean; errors?: unknown }> {
  const script = `
    import { Validator } from '@seriousme/openapi-schema-validator';
    let input = '';
    for await (const chunk of process.stdin) input += chunk;
    const validator = new Validator();
    const result = await validator.validate(JSON.parse(input));
    process.stdout.write(JSON.stringify({ valid: result.valid, version: validator.version, errors: result.errors }));
  `;
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { cwd: path.join(__dirname, '..') },
      (error, stdout) => {
        if (error !== null) reject(new Error('the OpenAPI validator did not run', { cause: error }));
        else resolve(JSON.parse(stdout) as { valid: boolean; errors?: unknown });
      },
    );
    child.stdin?.end(JSON.stringify(document));
  });
}

/** Every `description` in a document, so that a test can check that a refusal is named in one. */
function descriptions(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) =>
    key === 'description' && typeof inner === 'string' ? [inner] : descriptions(inner),
  );
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The errors the request schema's descriptions name in quotes, as patterns (`N` stands for a
 * number): a request the schema allows may be refused with these and no others.
 */
const namedDetails: RegExp[] = descriptions(openApiDocument.components.schemas.EmailRequest).flatMap((text) =>
  [...text.matchAll(/"([^"]+)"/g)].map(
    (match) => new RegExp(`^${escapeRegExp(match[1] ?? '').replace(/\bN\b/g, '\\d+')}$`),
  ),
);

function keywords(schema: Schema): { readonly [keyword: string]: unknown } {
  return typeof schema === 'boolean' ? {} : schema;
}

/** Strings of every kind, now and then with a lone surrogate or a control character in them. */
const anyText = (maxLength: number, minLength = 0) =>
  fc.string({
    minLength,
    maxLength,
    unit: fc.oneof(
      { weight: 30, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
      { weight: 1, arbitrary: fc.constantFrom('\ud800', '\udfff', '\u0000', '\t', '\n', '\u0085') },
    ),
  });

/**
 * Values for a schema, derived from its keywords: types, properties and `required`,
 * `patternProperties`, `propertyNames` and `additionalProperties`, `pattern`, lengths, sizes,
 * `const`, `format: email`. Combinators (`allOf`, `anyOf`, `if`, `not`) are left to the filter
 * that keeps only what the schema allows; sizes are kept small, lists sometimes at their maximum.
 */
function arbitraryFor(schema: Schema): fc.Arbitrary<unknown> {
  const s = keywords(schema);
  if (schema === true || Object.keys(s).length === 0) return fc.jsonValue({ maxDepth: 2 });
  if ('const' in s) return fc.constant(s['const']);
  const type = s['type'];
  if (Array.isArray(type)) return fc.oneof(...type.map((t: unknown) => arbitraryFor({ ...s, type: t })));
  const minLength = typeof s['minLength'] === 'number' ? s['minLength'] : 0;
  const maxLength = typeof s['maxLength'] === 'number' ? s['maxLength'] : Number.POSITIVE_INFINITY;
  switch (type) {
    case 'string': {
      if (s['format'] === 'email') return fc.emailAddress().filter((email) => email.length <= maxLength);
      if (typeof s['pattern'] === 'string') {
        return fc
          .stringMatching(new RegExp(s['pattern']))
          .filter((text) => text.length >= minLength && text.length <= maxLength);
      }
      return anyText(Math.min(maxLength, 60), minLength);
    }
    case 'boolean':
      return fc.boolean();
    case 'number':
    case 'integer':
      return fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }));
    case 'null':
      return fc.constant(null);
    case 'array': {
      const item = arbitraryFor(s['items'] as Schema);
      const max = typeof s['maxItems'] === 'number' ? s['maxItems'] : 5;
      const min = typeof s['minItems'] === 'number' ? s['minItems'] : 0;
      return fc.oneof(
        { weight: 12, arbitrary: fc.array(item, { minLength: min, maxLength: Math.max(min, Math.min(max, 3)) }) },
        { weight: 1, arbitrary: fc.array(item, { minLength: Math.min(max, 20), maxLength: max }) },
      );
    }
    case 'object':
      return objectArbitrary(s);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function objectArbitrary(s: { readonly [keyword: string]: unknown }): fc.Arbitrary<unknown> {
  const properties = (s['properties'] ?? {}) as Record<string, Schema>;
  const required = (s['required'] ?? []) as string[];
  const named = fc.record(
    Object.fromEntries(Object.entries(properties).map(([name, inner]) => [name, arbitraryFor(inner)])),
    { requiredKeys: required },
  );
  const patterns = Object.entries((s['patternProperties'] ?? {}) as Record<string, Schema>);
  const names = keywords((s['propertyNames'] ?? {}) as Schema);
  const nameOf = (allOf: unknown): string | undefined =>
    (Array.isArray(allOf) ? allOf : [])
      .map((inner) => (inner as { pattern?: unknown }).pattern)
      .find((pattern): pattern is string => typeof pattern === 'string');
  const namePattern = typeof names['pattern'] === 'string' ? names['pattern'] : nameOf(names['allOf']);
  const additional = s['additionalProperties'];
  const extras: fc.Arbitrary<[string, unknown]>[] = patterns.map(([pattern, inner]) =>
    fc.tuple(fc.stringMatching(new RegExp(pattern)), arbitraryFor(inner)),
  );
  if (additional !== undefined && additional !== false) {
    const key =
      namePattern === undefined
        ? anyText(typeof names['maxLength'] === 'number' ? names['maxLength'] : 20)
        : fc.stringMatching(new RegExp(namePattern));
    extras.push(fc.tuple(key, arbitraryFor(additional as Schema)));
  }
  const maxKeys = Math.min(typeof s['maxProperties'] === 'number' ? s['maxProperties'] : 5, 4);
  const entries = extras.length === 0 ? fc.constant([]) : fc.array(fc.oneof(...extras), { maxLength: maxKeys });
  return fc.tuple(named, entries).map(([fixed, more]) => {
    const value: Record<string, unknown> = { ...(fixed as Record<string, unknown>) };
    for (const [key, inner] of more) {
      if (!Object.hasOwn(properties, key))
        Reflect.defineProperty(value, key, { value: inner, enumerable: true, writable: true, configurable: true });
    }
    return value;
  });
}

/** The published request schema, compiled by a validator of its own: what "the schema allows" means here. */
const schemaAllows = (() => {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv, ['email']);
  return ajv.compile(openApiDocument.components.schemas.EmailRequest);
})();

const allowedSender = 'no-reply@example.com';

/** Requests generated from the published schema and allowed by it; most from a sender the test key may use. */
const allowedRequest = fc
  .tuple(arbitraryFor(openApiDocument.components.schemas.EmailRequest as Schema), fc.nat(9))
  .map(([generated, dice]) => {
    const body = generated as { from?: { email?: string } };
    if (dice > 0 && body.from !== undefined) body.from = { ...body.from, email: allowedSender };
    return body;
  })
  .filter((body): boolean => schemaAllows(body));

describe('the OpenAPI document', () => {
  it('when it is checked with @seriousme/openapi-schema-validator, then it is valid OpenAPI 3.1', async () => {
    const result = await validateOpenApi(openApiDocument);

    expect(result).toMatchObject({ valid: true, version: '3.1' });
  });

  it('when a document is broken, then the same validator says so (the check can fail)', async () => {
    const broken = { ...openApiDocument, paths: { '/v1/emails': { post: { responses: { '202': {} } } } } };

    expect((await validateOpenApi(broken)).valid).toBe(false);
  });

  it('when its EmailRequest schema is compared with the contract, then it is that one schema (without its $id)', () => {
    const { $id: _id, ...schema } = emailRequestSchema;

    expect(openApiDocument.components.schemas.EmailRequest).toEqual(schema);
  });

  it('when its descriptions are read, then they name each error a schema-valid request can still get', () => {
    const named = namedDetails.map((pattern) => pattern.source);

    expect(named).toEqual(
      expect.arrayContaining([
        '^at most 50 recipients in total across to, cc and bcc \\(got \\d+\\)$',
        '^must be padded standard base64 \\(length a multiple of 4\\)$',
        '^must be well-formed Unicode \\(no lone surrogates\\)$',
        '^repeats a header name \\(names are case-insensitive\\)$',
        '^repeats a content_id$',
      ]),
    );
  });
});

describe('requests generated from the OpenAPI schema, posted to the real producer (real broker and ledger)', () => {
  const scratch = useScratchLedger('openapi');
  let producer: TestProducer;
  let server: Server;

  beforeAll(async () => {
    producer = await startTestProducer('openapi', { ledger: scratch.current().adapter });
    server = producer.app.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });

  afterAll(async () => {
    server.close();
    await producer.close();
  });

  it('when a request the schema allows is posted, then it is queued (202) or refused only for a reason the document names', async () => {
    const outcomes = new Map<string, number>();
    const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    const operation = openApiDocument.paths['/v1/emails'].post;
    let queued = 0;

    await fc.assert(
      fc.asyncProperty(allowedRequest, async (body) => {
        const response = await request(server).post('/v1/emails').set('authorization', `Bearer ${TEST_KEY}`).send(body);

        if (response.status === 202) {
          queued += 1;
          count('202');
          return;
        }
        const type = String(response.body.type);
        const documented = operation.responses as Readonly<Record<string, { description: string } | undefined>>;
        // The status is documented, and its description names the problem type.
        expect(documented[String(response.status)]?.description).toContain(type);
        if (type === '/problems/validation') {
          for (const { detail } of response.body.errors as { detail: string }[]) {
            expect(namedDetails.some((pattern) => pattern.test(detail))).toBe(true);
            count(`400 ${detail.replace(/\(got \d+\)/, '(got N)')}`);
          }
          return;
        }
        // Senders are set per API key, not by the schema: only a sender the key lacks is refused.
        expect(type).toBe('/problems/forbidden-sender');
        expect(testApiKeys[0]?.senders).not.toContain(body.from?.email?.split('@')[1]?.toLowerCase());
        count('403');
      }),
      { numRuns: 300 },
    );

    // Meaningful only if most requests went through and some of the named refusals were met.
    expect(outcomes.get('202') ?? 0).toBeGreaterThan(100);
    expect([...outcomes.keys()].some((key) => key.startsWith('400 '))).toBe(true);
    expect(await queueDepth(producer.topology.workQueue.name)).toBe(queued);
  });
});
