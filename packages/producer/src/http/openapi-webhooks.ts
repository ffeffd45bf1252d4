import {
  DEFAULT_WEBHOOK_PAGE_SIZE,
  LIFECYCLE_EVENT_TYPES,
  MAX_LISTED_PROBLEMS,
  MAX_WEBHOOK_DESCRIPTION_LENGTH,
  MAX_WEBHOOK_PAGE_LIMIT,
  MAX_WEBHOOK_URL_LENGTH,
  WEBHOOK_DELIVERY_OUTCOMES,
  WEBHOOK_TEST_EVENT_TYPE,
  lifecycleEventSchema,
  webhookCreateSchema,
  webhookPatchSchema,
} from '@mailer/contract';
import { MAX_WEBHOOK_BODY_BYTES } from './routes/webhooks';

/**
 * The webhooks part of the OpenAPI document (openapi.ts spreads it in): the `/v1/webhooks` paths,
 * their components, `LifecycleEvent`, and the top-level `webhooks` object describing the POST this
 * service sends to a registered endpoint.
 */

const { $id: _createId, ...webhookCreate } = webhookCreateSchema;
const { $id: _patchId, ...webhookPatch } = webhookPatchSchema;
const { $id: _eventId, ...lifecycleEvent } = lifecycleEventSchema;

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

const security = [{ apiKey: [] }];
const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;
const timestamp = { type: 'string', format: 'date-time' } as const;

/** What every `/v1/webhooks` operation may answer besides its own. */
const webhookProblems = {
  '401': problem('No valid API key (/problems/unauthorized).'),
  '403': problem('The API key lacks the `webhooks` scope (/problems/insufficient-scope, `scope: webhooks`).'),
  '500': problem('A fault of the server (/problems/internal).'),
  '503': problem(
    'Webhooks are off on this producer, `detail` says why: LEDGER=off or WEBHOOK_SECRETS_KEY empty ' +
      '(/problems/webhooks-off); or the ledger cannot be reached (/problems/ledger-unavailable, ' +
      '`reason: ledger-unavailable`; retry after Retry-After).',
  ),
} as const;

const notFound = problem(
  "No endpoint with this id for this API key (/problems/not-found): an unknown id and another client's are alike.",
);

const idParameter = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } } as const;

const pageParameters = [
  {
    name: 'limit',
    in: 'query',
    schema: { type: 'integer', minimum: 1, maximum: MAX_WEBHOOK_PAGE_LIMIT, default: DEFAULT_WEBHOOK_PAGE_SIZE },
  },
  {
    name: 'cursor',
    in: 'query',
    description: 'next_cursor of the previous page; empty is the first page.',
    schema: { type: 'string' },
  },
] as const;

const invalidQuery = problem(
  'A parameter is unknown, repeated or malformed, or the cursor is not one this API gave (/problems/invalid-query).',
);

const invalidBody = (schema: string) =>
  problem(
    `The body breaks the ${schema} schema or a rule its url description names (/problems/validation: \`errors\` ` +
      `lists each problem with a \`pointer\` and a \`detail\`, at most ${MAX_LISTED_PROBLEMS}; a refused URL is at ` +
      '`/url`, its detail naming the rule or the address range), or is not JSON (/problems/malformed-json).',
  );

const bodyProblems = {
  '413': problem(`The body is over ${MAX_WEBHOOK_BODY_BYTES} bytes (/problems/too-large).`),
  '415': problem('The body is not application/json in UTF-8 (/problems/unsupported-media-type).'),
} as const;

const json = (ref: string) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } });

const endpointProperties = {
  id: { type: 'string', format: 'uuid' },
  url: { type: 'string', maxLength: MAX_WEBHOOK_URL_LENGTH },
  event_types: {
    type: 'array',
    items: { type: 'string', enum: [...LIFECYCLE_EVENT_TYPES] },
    description: 'The event types delivered; empty: every type.',
  },
  description: { type: ['string', 'null'], maxLength: MAX_WEBHOOK_DESCRIPTION_LENGTH },
  status: {
    type: 'string',
    enum: ['enabled', 'disabled'],
    description: 'disabled: nothing is delivered until PATCH {"enabled": true}; `disabled_reason` says why.',
  },
  disabled_reason: {
    type: ['string', 'null'],
    enum: ['failing', 'gone', 'manual', null],
    description:
      'failing: every delivery failed for WEBHOOK_DISABLE_AFTER (5 days by default); gone: the endpoint answered ' +
      '410; manual: PATCH {"enabled": false}.',
  },
  disabled_at: nullableTime,
  failing_since: {
    ...nullableTime,
    description: 'The first failed try of the current run of failures; null after a success.',
  },
  previous_secret_expires_at: {
    ...nullableTime,
    description: 'After a rotation: until when the previous secret still signs, beside the new one (24 h).',
  },
  created_at: timestamp,
  updated_at: timestamp,
} as const;

const endpointRequired = Object.keys(endpointProperties);

/** Components of the webhooks API, beside the document's own. */
export const webhookSchemas = {
  WebhookCreate: webhookCreate,
  WebhookPatch: webhookPatch,
  WebhookEndpoint: {
    description: 'A registered endpoint. Its signing secret is never shown here: only when made and rotated.',
    type: 'object',
    required: endpointRequired,
    properties: endpointProperties,
  },
  WebhookEndpointWithSecret: {
    description: 'A WebhookEndpoint with its signing secret: shown only by the create and by rotate-secret.',
    type: 'object',
    required: [...endpointRequired, 'secret'],
    properties: {
      ...endpointProperties,
      secret: {
        type: 'string',
        pattern: '^whsec_[A-Za-z0-9+/]{43}=$',
        description:
          'The Standard Webhooks signing secret: whsec_ and 32 random bytes in base64. Keep it: it is not shown again.',
      },
    },
  },
  WebhookEndpointList: {
    type: 'object',
    required: ['webhooks'],
    properties: {
      webhooks: { type: 'array', items: { $ref: '#/components/schemas/WebhookEndpoint' } },
      next_cursor: { type: 'string', description: 'Absent on the last page; pass it as `cursor`.' },
    },
  },
  WebhookDelivery: {
    description: 'The latest try of one event to one endpoint.',
    type: 'object',
    required: [
      'id',
      'event_id',
      'event_type',
      'email_id',
      'tries',
      'outcome',
      'http_status',
      'error',
      'duration_ms',
      'created_at',
      'updated_at',
    ],
    properties: {
      id: { type: 'string', format: 'uuid', description: 'The delivery id: the same on every try.' },
      event_id: { type: 'string', format: 'uuid', description: 'The event (webhook-id header of the POST).' },
      event_type: { type: 'string' },
      email_id: { type: ['string', 'null'], format: 'uuid' },
      tries: { type: 'integer', minimum: 1 },
      outcome: {
        type: 'string',
        enum: [...WEBHOOK_DELIVERY_OUTCOMES],
        description:
          'succeeded: a 2xx in time; retrying: failed, another try is scheduled; parked: failed its last try; ' +
          'skipped: not sent (the endpoint was disabled or deleted).',
      },
      http_status: { type: ['integer', 'null'], description: "The answer's status; null when none came." },
      error: {
        type: ['string', 'null'],
        maxLength: 300,
        description: 'Why the try failed: timeout, refused destination: <range>, the start of the answer.',
      },
      duration_ms: { type: ['integer', 'null'] },
      created_at: { ...timestamp, description: 'The first try.' },
      updated_at: { ...timestamp, description: 'The latest try.' },
    },
  },
  WebhookDeliveryList: {
    type: 'object',
    required: ['deliveries'],
    properties: {
      deliveries: { type: 'array', items: { $ref: '#/components/schemas/WebhookDelivery' } },
      next_cursor: { type: 'string', description: 'Absent on the last page; pass it as `cursor`.' },
    },
  },
  WebhookTestQueued: {
    type: 'object',
    required: ['delivery_id', 'event_id'],
    properties: {
      delivery_id: { type: 'string', format: 'uuid' },
      event_id: { type: 'string', format: 'uuid', description: 'The webhook-id the endpoint will receive.' },
    },
  },
  LifecycleEvent: lifecycleEvent,
  WebhookTestEvent: {
    description: 'The body of a test delivery (POST /v1/webhooks/{id}/test), to that endpoint only.',
    type: 'object',
    additionalProperties: false,
    required: ['id', 'type', 'timestamp', 'sequence', 'data'],
    properties: {
      id: { type: 'string', format: 'uuid' },
      type: { const: WEBHOOK_TEST_EVENT_TYPE },
      timestamp,
      sequence: { const: 0 },
      data: {
        type: 'object',
        additionalProperties: false,
        required: ['endpoint_id', 'client'],
        properties: { endpoint_id: { type: 'string', format: 'uuid' }, client: { type: 'string' } },
      },
    },
  },
} as const;

/** The `/v1/webhooks` paths. */
export const webhookPaths = {
  '/v1/webhooks': {
    post: {
      summary: 'Register a webhook endpoint',
      description:
        "The endpoint then gets a signed POST for each lifecycle event of this API key's emails (the types in " +
        '`event_types`, or all). The answer carries the signing secret: the only time it is shown besides a ' +
        'rotation. Needs the `webhooks` scope. IP addresses in the URL are checked here; host names are resolved ' +
        'and checked at each delivery (docs/events.md, SSRF).',
      security,
      requestBody: { required: true, content: json('WebhookCreate') },
      responses: {
        '201': {
          description: 'Registered; Location names the endpoint',
          headers: { Location: { schema: { type: 'string' } }, 'Cache-Control': { schema: { const: 'no-store' } } },
          content: json('WebhookEndpointWithSecret'),
        },
        '400': invalidBody('WebhookCreate'),
        ...bodyProblems,
        ...webhookProblems,
      },
    },
    get: {
      summary: "List this API key's webhook endpoints, newest first",
      security,
      parameters: pageParameters,
      responses: {
        '200': {
          description: 'One page (Link rel="next" names the next one)',
          headers: { Link: { schema: { type: 'string' } } },
          content: json('WebhookEndpointList'),
        },
        '400': invalidQuery,
        ...webhookProblems,
      },
    },
  },
  '/v1/webhooks/{id}': {
    parameters: [idParameter],
    get: {
      summary: 'One webhook endpoint, with whether it is enabled and why not',
      security,
      responses: {
        '200': { description: 'The endpoint', content: json('WebhookEndpoint') },
        '404': notFound,
        ...webhookProblems,
      },
    },
    patch: {
      summary: 'Change a webhook endpoint, or disable or re-enable it',
      description:
        '`enabled: true` re-enables a disabled endpoint (whatever disabled it) and clears its failure run; events ' +
        'that came while it was disabled were not delivered (`mailer webhooks replay` sends them).',
      security,
      requestBody: { required: true, content: json('WebhookPatch') },
      responses: {
        '200': { description: 'The endpoint as it now is', content: json('WebhookEndpoint') },
        '400': invalidBody('WebhookPatch'),
        '404': notFound,
        ...bodyProblems,
        ...webhookProblems,
      },
    },
    delete: {
      summary: 'Delete a webhook endpoint and its delivery records',
      security,
      responses: { '204': { description: 'Deleted' }, '404': notFound, ...webhookProblems },
    },
  },
  '/v1/webhooks/{id}/rotate-secret': {
    parameters: [idParameter],
    post: {
      summary: 'Give the endpoint a new signing secret; the old one keeps signing for 24 h',
      description:
        'Deliveries are signed with both secrets (two v1 signatures in webhook-signature) until ' +
        '`previous_secret_expires_at`, so the receiver can switch without losing one. The answer carries the new ' +
        'secret, shown only here.',
      security,
      responses: {
        '200': {
          description: 'Rotated',
          headers: { 'Cache-Control': { schema: { const: 'no-store' } } },
          content: json('WebhookEndpointWithSecret'),
        },
        '404': notFound,
        ...webhookProblems,
      },
    },
  },
  '/v1/webhooks/{id}/test': {
    parameters: [idParameter],
    post: {
      summary: 'Send a webhook.test event to this endpoint',
      description:
        'Queued (broker confirm) for the delivery workers, which sign and POST it as any delivery, with retries; ' +
        'its outcome is in /deliveries. No body is read.',
      security,
      responses: {
        '202': { description: 'Queued', content: json('WebhookTestQueued') },
        '404': notFound,
        '409': problem('The endpoint is disabled (/problems/webhook-disabled); re-enable it first.'),
        ...webhookProblems,
        '503': problem(
          'Webhooks are off (/problems/webhooks-off), the ledger cannot be reached (/problems/ledger-unavailable), ' +
            'or the broker did not confirm the test (/problems/broker-unavailable, `reason`); retry after Retry-After.',
        ),
      },
    },
  },
  '/v1/webhooks/{id}/deliveries': {
    parameters: [idParameter],
    get: {
      summary: "The endpoint's deliveries, newest first (the latest try of each)",
      security,
      parameters: [
        ...pageParameters,
        {
          name: 'since',
          in: 'query',
          description: 'Only deliveries first tried at or after this time (RFC 3339 with an offset).',
          schema: timestamp,
        },
        {
          name: 'event_type',
          in: 'query',
          schema: { type: 'string', enum: [...LIFECYCLE_EVENT_TYPES, WEBHOOK_TEST_EVENT_TYPE] },
        },
        { name: 'outcome', in: 'query', schema: { type: 'string', enum: [...WEBHOOK_DELIVERY_OUTCOMES] } },
      ],
      responses: {
        '200': {
          description: 'One page (Link rel="next" names the next one)',
          headers: { Link: { schema: { type: 'string' } } },
          content: json('WebhookDeliveryList'),
        },
        '400': invalidQuery,
        '404': notFound,
        ...webhookProblems,
      },
    },
  },
} as const;

const signedHeader = (name: string, description: string, schema: object) => ({
  name,
  in: 'header',
  required: true,
  description,
  schema,
});

/** The document's top-level `webhooks`: the POST this service sends to each registered endpoint. */
export const webhookCallbacks = {
  'lifecycle-event': {
    post: {
      summary: 'A lifecycle event (or a test), signed per Standard Webhooks',
      description:
        "Sent to each enabled endpoint of the email's client that wants the event's type. Verify the signature " +
        '(e.g. with the standardwebhooks package and the whsec_ secret) and the timestamp (refuse one more than 5 ' +
        'minutes off), then dedupe on webhook-id: delivery is at least once. Order events of one email by ' +
        '`sequence`. A 2xx within 15 s is success; anything else is retried after 5 s, 5 min, 30 min, 2 h, 5 h, ' +
        '10 h and 10 h; a 410 disables the endpoint at once. Redirects are not followed.',
      parameters: [
        signedHeader('webhook-id', "The event's id: the same on every try and replay.", { type: 'string' }),
        signedHeader('webhook-timestamp', 'Seconds since the epoch when this try was signed.', {
          type: 'string',
          pattern: '^[0-9]+$',
        }),
        signedHeader(
          'webhook-signature',
          'Space-separated `v1,<base64 HMAC-SHA256>` of `<webhook-id>.<webhook-timestamp>.<body>` under the ' +
            'base64-decoded secret (after whsec_); two during the 24 h after a rotation, one per secret.',
          { type: 'string' },
        ),
      ],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              oneOf: [
                { $ref: '#/components/schemas/LifecycleEvent' },
                { $ref: '#/components/schemas/WebhookTestEvent' },
              ],
            },
          },
        },
      },
      responses: {
        '2XX': { description: 'Received: the delivery succeeded' },
        '410': { description: 'Gone: the endpoint is disabled at once' },
        default: { description: 'Any other answer, or none within 15 s: the delivery is retried' },
      },
    },
  },
} as const;
