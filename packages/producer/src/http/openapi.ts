import { MAX_BATCH_SIZE, emailBatchSchema, emailRequestSchema } from '@mailer/contract';

const { $id: _requestId, ...emailRequest } = emailRequestSchema;
const { $id: _batchId, ...emailBatch } = emailBatchSchema;

const problem = {
  description: 'RFC 9457 problem details',
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
};

const security = [{ apiKey: [] }];

/** The OpenAPI 3.1 document served at `GET /openapi.json`, built from the one request schema. */
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
            items: {
              type: 'object',
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
          '400': problem,
          '401': problem,
          '403': problem,
          '413': problem,
          '415': problem,
          '500': problem,
          '503': problem,
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
          '400': problem,
          '401': problem,
          '403': problem,
          '413': problem,
          '415': problem,
          '500': problem,
          '503': problem,
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
