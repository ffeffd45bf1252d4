import { MAX_ATTACHMENT_BYTES, MAX_BATCH_SIZE, emailBatchSchema, emailRequestSchema } from '@mailer/contract';

const { $id: _requestId, ...emailRequest } = emailRequestSchema;
const { $id: _batchId, ...emailBatch } = emailBatchSchema;

/** A problem+json answer; `description` names the problem types it carries and why. */
const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

/**
 * The refusals every sending endpoint may give. A request the EmailRequest schema allows is
 * refused only for the reasons named here and in the schema's descriptions.
 */
const refusals = {
  '400':
    'The body breaks the EmailRequest schema, or a rule its descriptions name (/problems/validation: ' +
    '`errors` lists each problem with an RFC 6901 `pointer` and a `detail`), or is not JSON (/problems/malformed-json).',
  '401': 'No valid API key (/problems/unauthorized).',
  '403': 'The API key may not send from the `from` address (/problems/forbidden-sender); senders are set per key.',
  '413':
    `The body is over MAX_BODY_BYTES, or the attachments of one email decode to more than ${MAX_ATTACHMENT_BYTES} ` +
    'bytes in total (/problems/too-large).',
  '415': 'The body is not application/json in UTF-8 (/problems/unsupported-media-type).',
  '500': 'A fault of the server (/problems/internal).',
  '503':
    'The broker did not confirm the email (/problems/broker-unavailable; `reason` says why); retry after Retry-After.',
} as const;

const refusalResponses = Object.fromEntries(
  Object.entries(refusals).map(([status, description]) => [status, problem(description)]),
) as { readonly [Status in keyof typeof refusals]: ReturnType<typeof problem> };

const security = [{ apiKey: [] }];

/**
 * The OpenAPI 3.1 document served at `GET /openapi.json`, built from the one request schema: every
 * rule JSON Schema can say is in it, and the others are named in its descriptions with their error.
 */
export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Distributed mailer',
    version: '1.0.0',
    description:
      'Queue transactional email. A 202 means the email is durably queued in RabbitMQ; delivery happens in the background.',
  },
  components: {
    securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key from API_KEYS.' } },
    schemas: {
      EmailRequest: emailRequest,
      EmailBatch: {
        ...emailBatch,
        properties: {
          emails: { ...emailBatch.properties.emails, items: { $ref: '#/components/schemas/EmailRequest' } },
        },
      },
      Queued: {
        type: 'object',
        required: ['id', 'status'],
        properties: { id: { type: 'string', format: 'uuid' }, status: { const: 'queued' } },
      },
      Problem: {
        type: 'object',
        required: ['type', 'title', 'status'],
        properties: {
          type: { type: 'string' },
          title: { type: 'string' },
          status: { type: 'integer' },
          detail: { type: 'string' },
          reason: {
            type: 'string',
            description: '503 only: why the broker did not confirm',
            enum: ['not-connected', 'blocked', 'busy', 'timeout', 'nacked', 'unroutable', 'channel-closed'],
          },
          items: {
            type: 'array',
            description: 'Batch 503 only: per item, queued (with its id) or failed',
            items: {
              type: 'object',
              required: ['index', 'status'],
              properties: {
                index: { type: 'integer' },
                status: { enum: ['queued', 'failed'] },
                id: { type: 'string', format: 'uuid' },
                reason: { type: 'string' },
                detail: { type: 'string' },
              },
            },
          },
          errors: {
            type: 'array',
            description:
              'Validation problems: where (RFC 6901 pointer into the body), what, and for a batch the item index.',
            items: {
              type: 'object',
              required: ['pointer', 'detail'],
              properties: { pointer: { type: 'string' }, detail: { type: 'string' }, index: { type: 'integer' } },
            },
          },
        },
      },
    },
  },
  paths: {
    '/v1/emails': {
      post: {
        summary: 'Queue one email',
        security,
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/EmailRequest' } } },
        },
        responses: {
          '202': {
            description: 'Queued; Location names the email',
            headers: { Location: { schema: { type: 'string' } } },
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Queued' } } },
          },
          ...refusalResponses,
        },
      },
    },
    '/v1/emails/batch': {
      post: {
        summary: `Queue up to ${MAX_BATCH_SIZE} emails`,
        description:
          'Validation is all or nothing. If the broker fails part-way the 503 lists, item by item, which were queued (with their ids) and which were not.',
        security,
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/EmailBatch' } } },
        },
        responses: {
          '202': {
            description: 'All queued, ids in request order',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    items: {
                      type: 'array',
                      items: {
                        allOf: [
                          { $ref: '#/components/schemas/Queued' },
                          { type: 'object', properties: { index: { type: 'integer' } } },
                        ],
                      },
                    },
                  },
                },
              },
            },
          },
          ...refusalResponses,
        },
      },
    },
    '/healthz': { get: { summary: 'Process is alive', responses: { '200': { description: 'Alive' } } } },
    '/readyz': {
      get: {
        summary: 'Broker connected and not blocked',
        responses: { '200': { description: 'Ready' }, '503': { description: 'Not ready' } },
      },
    },
  },
} as const;
