import {
  DEFAULT_SUPPRESSION_PAGE_SIZE,
  EMAIL_STATES,
  RECIPIENT_OUTCOMES,
  MAX_ATTACHMENT_BYTES,
  MAX_SUPPRESSION_NOTE_LENGTH,
  MAX_SUPPRESSION_PAGE_SIZE,
  SUPPRESSION_REASONS,
  MAX_LISTED_PROBLEMS,
  MAX_BATCH_SIZE,
  PUBLISH_FAILURE_REASONS,
  emailBatchSchema,
  emailRequestSchema,
  suppressionAddSchema,
} from '@mailer/contract';
import { MAX_IDEMPOTENCY_KEY_LENGTH } from '../domain/idempotency-key';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './email-views';
import { MAX_POSTMARK_BODY_BYTES, MAX_SNS_BODY_BYTES } from './routes/provider-events';
import { MAX_SUPPRESSION_BODY_BYTES } from './routes/suppressions';
import { webhookCallbacks, webhookPaths, webhookSchemas } from './openapi-webhooks';

const { $id: _requestId, ...emailRequest } = emailRequestSchema;
const { $id: _suppressionAddId, ...suppressionAdd } = suppressionAddSchema;
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
    '`errors` lists each problem with an RFC 6901 `pointer` and a `detail`, the first ' +
    `${MAX_LISTED_PROBLEMS}, and \`errors_omitted\` counts any more), or is not JSON (/problems/malformed-json), ` +
    'or the Idempotency-Key header is malformed (/problems/invalid-idempotency-key).',
  '401': 'No valid API key (/problems/unauthorized).',
  '403':
    'The API key may not send from the `from` address (/problems/forbidden-sender); senders are set per key. Or ' +
    'the key lacks the `send` scope (/problems/insufficient-scope, `scope: send`).',
  '413':
    `The body is over MAX_BODY_BYTES, or the attachments of one email decode to more than ${MAX_ATTACHMENT_BYTES} ` +
    'bytes in total (/problems/too-large).',
  '415': 'The body is not application/json in UTF-8 (/problems/unsupported-media-type).',
  '409':
    'A request with this Idempotency-Key is still under way (/problems/idempotency-key-in-flight); retry after ' +
    'Retry-After to get its answer, or to take it over if it died.',
  '422': 'This Idempotency-Key was used with another body or route (/problems/idempotency-key-reused).',
  '500': 'A fault of the server (/problems/internal).',
  '501':
    'An Idempotency-Key was sent to a producer running with LEDGER=off (/problems/ledger-off); nothing was queued.',
  '503':
    'The broker did not confirm the email (/problems/broker-unavailable; `reason` says why), or the ledger cannot ' +
    'be reached (/problems/ledger-unavailable, `reason: ledger-unavailable`); retry after Retry-After.',
} as const;

const refusalResponses = Object.fromEntries(
  Object.entries(refusals).map(([status, description]) => [status, problem(description)]),
) as { readonly [Status in keyof typeof refusals]: ReturnType<typeof problem> };

const security = [{ apiKey: [] }];

const idempotencyKey = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Makes a retry safe: the same key with the same body, from the same API key, within IDEMPOTENCY_KEY_TTL ' +
    '(24 h by default), gets the first answer again (same ids, same status, header Idempotent-Replayed: true) ' +
    'and queues nothing more. Another body with the key is a 422; while the first request is under way, a 409.',
  schema: { type: 'string', minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY_LENGTH, pattern: '^[\\x20-\\x7E]+$' },
} as const;

const replayed = {
  'Idempotent-Replayed': {
    description: 'Present, `true`, when this is the stored answer of an earlier request with the same Idempotency-Key.',
    schema: { const: 'true' },
  },
} as const;

const statusProblems = {
  '401': problem('No valid API key (/problems/unauthorized).'),
  '403': problem('The API key lacks the `read` scope (/problems/insufficient-scope, `scope: read`).'),
  '500': problem('A fault of the server (/problems/internal).'),
  '501': problem('This producer runs with LEDGER=off and keeps no status (/problems/ledger-off).'),
  '503': problem(
    'The ledger cannot be reached (/problems/ledger-unavailable, `reason: ledger-unavailable`); retry after Retry-After.',
  ),
} as const;

/** What every `/v1/suppressions` operation may answer besides its own. */
const suppressionProblems = {
  '401': problem('No valid API key (/problems/unauthorized).'),
  '403': problem('The API key lacks the `suppressions` scope (/problems/insufficient-scope, `scope: suppressions`).'),
  '500': problem('A fault of the server (/problems/internal).'),
  '501': problem('This producer runs with LEDGER=off and has no suppression list (/problems/ledger-off).'),
  '503': problem(
    'The ledger cannot be reached (/problems/ledger-unavailable, `reason: ledger-unavailable`); retry after Retry-After.',
  ),
} as const;

const nullableString = { type: ['string', 'null'] } as const;
const timestamp = { type: 'string', format: 'date-time' } as const;

/** The fields of an email in a list (`GET /v1/emails`); the email's own page has them too, `recipients` as objects. */
const emailSummaryProperties = {
  id: { type: 'string', format: 'uuid' },
  status: { $ref: '#/components/schemas/EmailStatus' },
  attempt: { type: 'integer', description: 'The attempt the status belongs to; 0 before the first.' },
  accepted_at: timestamp,
  updated_at: timestamp,
  provider: { ...nullableString, description: 'The provider of the last try.' },
  provider_message_id: { ...nullableString, description: "The provider's id for the sent email, once sent." },
  recipient_count: { type: 'integer' },
  recipients: {
    type: 'array',
    description:
      "Every recipient, masked (j***@example.org); the full addresses are not kept. The email's own page " +
      '(GET /v1/emails/{id}) shows each with its outcome.',
    items: { type: 'string' },
  },
  tags: { type: 'object', additionalProperties: { type: 'string' } },
  metadata: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean', 'null'] } },
  in_doubt: { type: 'boolean', description: 'A try was started and never finished: it may have been sent.' },
} as const;

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
      'Queue transactional email. A 202 means the email is durably queued in RabbitMQ, delivery happening in the ' +
      'background (or, every recipient being on the suppression list, recorded as suppressed and never sent).',
  },
  components: {
    securitySchemes: {
      apiKey: { type: 'http', scheme: 'bearer', description: 'An API key from API_KEYS.' },
      postmarkBasic: {
        type: 'http',
        scheme: 'basic',
        description:
          'POSTMARK_WEBHOOK_USER and POSTMARK_WEBHOOK_PASSWORD, carried in the webhook URL Postmark posts to.',
      },
    },
    schemas: {
      EmailRequest: emailRequest,
      EmailBatch: {
        ...emailBatch,
        properties: {
          emails: { ...emailBatch.properties.emails, items: { $ref: '#/components/schemas/EmailRequest' } },
        },
      },
      Queued: {
        description:
          'One accepted email. queued: on the queue for every recipient not on the suppression list; suppressed: ' +
          'every recipient is on it, so the email is recorded suppressed and not queued. `suppressed` names the ' +
          'recipients left out, masked; it is absent when there are none.',
        type: 'object',
        required: ['id', 'status'],
        properties: {
          id: { type: 'string', format: 'uuid' },
          status: { type: 'string', enum: ['queued', 'suppressed'] },
          suppressed: { type: 'array', minItems: 1, items: { type: 'string' } },
        },
      },
      EmailStatus: {
        description:
          'Where the email is: queued (accepted, on the queue), sending (a provider is being tried), retrying ' +
          '(waiting in a delay tier), parked (in the dead-letter queue for an operator), suppressed (every ' +
          'recipient was on the suppression list at intake: never queued), sent (a provider accepted it), ' +
          'abandoned (its request was answered 503 or never answered, and nothing took it from the queue for ' +
          'QUEUED_ABANDON_AFTER: it will not be sent; if it was on the queue after all, it moves on when taken). ' +
          'After sent, what the providers reported for its recipients: complained if any recipient complained, ' +
          'else bounced if any bounced, else delivered once every recipient not suppressed was delivered.',
        type: 'string',
        enum: [...EMAIL_STATES],
      },
      Recipient: {
        description: 'One recipient of the email, in to, cc, bcc order, with what became of it.',
        type: 'object',
        required: ['address', 'status'],
        properties: {
          address: { type: 'string', description: 'Masked (j***@example.org); the full address is not kept.' },
          status: {
            description:
              'What a provider reported for this recipient (delivery_delayed, delivered, bounced, complained), or ' +
              "suppressed (on the suppression list at intake: left out). With no report yet: the email's status " +
              'until it was sent, then sent.',
            type: 'string',
            enum: [...new Set([...RECIPIENT_OUTCOMES, ...EMAIL_STATES])],
          },
          bounce: {
            description: "A bounced recipient only: the provider's classification and the remote answer.",
            type: 'object',
            required: ['kind', 'type', 'subtype', 'diagnostic'],
            properties: {
              kind: { type: ['string', 'null'], enum: ['hard', 'soft', 'undetermined', null] },
              type: { ...nullableString, description: 'SES bounceType, Postmark Type.' },
              subtype: { ...nullableString, description: 'SES bounceSubType, Postmark TypeCode.' },
              diagnostic: {
                ...nullableString,
                description: "The remote server's answer, addresses masked, at most 500 characters.",
              },
            },
          },
          updated_at: { ...timestamp, description: 'When the outcome was last recorded; absent without one.' },
        },
      },
      Attempt: {
        type: 'object',
        required: ['attempt', 'provider', 'started_at', 'finished_at', 'outcome', 'error', 'ambiguous'],
        properties: {
          attempt: { type: 'integer', description: 'Delivery attempt, from 1; failing over keeps the number.' },
          provider: nullableString,
          started_at: timestamp,
          finished_at: { type: ['string', 'null'], format: 'date-time' },
          outcome: {
            description: 'null while under way',
            type: ['string', 'null'],
            enum: ['sent', 'transient', 'provider-unavailable', 'recipient-rejected', 'in-doubt', null],
          },
          error: { ...nullableString, description: "The provider's error text, at most 1000 characters." },
          ambiguous: { type: 'boolean', description: 'The provider may have sent it anyway.' },
          provider_message_id: nullableString,
        },
      },
      EmailSummary: {
        type: 'object',
        required: ['id', 'status', 'accepted_at', 'updated_at', 'recipients', 'in_doubt'],
        properties: emailSummaryProperties,
      },
      Email: {
        description:
          "One email as the ledger records it, with every try, oldest first, and each recipient's outcome. Never " +
          'the body. Its `recipients` are objects, where a list entry (EmailSummary) has masked addresses only.',
        type: 'object',
        required: ['id', 'status', 'accepted_at', 'updated_at', 'recipients', 'in_doubt', 'attempts'],
        properties: {
          ...emailSummaryProperties,
          recipients: { type: 'array', items: { $ref: '#/components/schemas/Recipient' } },
          attempts: { type: 'array', items: { $ref: '#/components/schemas/Attempt' } },
        },
      },
      EmailList: {
        type: 'object',
        required: ['emails'],
        properties: {
          emails: { type: 'array', items: { $ref: '#/components/schemas/EmailSummary' } },
          next_cursor: { type: 'string', description: 'Absent on the last page; pass it as `cursor`.' },
        },
      },
      SuppressionAdd: suppressionAdd,
      Suppression: {
        description:
          'One entry of the suppression list. The address is masked: the list keeps only the recipient key (HMAC) ' +
          'and the masked form.',
        type: 'object',
        required: ['address', 'reason', 'created_at', 'expires_at', 'note', 'created_by', 'source'],
        properties: {
          address: { type: 'string', description: 'Masked: j***@example.org.' },
          reason: {
            type: 'string',
            enum: [...SUPPRESSION_REASONS],
            description:
              'hard-bounce and complaint from provider events, recipient-rejected from a send the provider refused, ' +
              'unsubscribed from a provider, manual from this API or the CLI.',
          },
          created_at: timestamp,
          expires_at: { type: ['string', 'null'], format: 'date-time', description: 'null: until removed.' },
          note: { ...nullableString, maxLength: MAX_SUPPRESSION_NOTE_LENGTH },
          created_by: { ...nullableString, description: 'The API key name, provider, or cli:<user>.' },
          source: {
            description: 'The email (and its provider) the entry first came from; null for a manual entry.',
            type: ['object', 'null'],
            required: ['email_id', 'provider'],
            properties: { email_id: { type: ['string', 'null'], format: 'uuid' }, provider: nullableString },
          },
        },
      },
      SuppressionList: {
        type: 'object',
        required: ['suppressions'],
        properties: {
          suppressions: { type: 'array', items: { $ref: '#/components/schemas/Suppression' } },
          next_cursor: { type: 'string', description: 'Absent on the last page; pass it as `cursor`.' },
        },
      },
      ...webhookSchemas,
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
            description: '503 only: why the broker did not confirm, or ledger-unavailable',
            enum: [...PUBLISH_FAILURE_REASONS, 'ledger-unavailable'],
          },
          items: {
            type: 'array',
            description:
              'Batch 503 only: per item, queued or suppressed (with its id, and the suppressed recipients, masked), or failed',
            items: {
              type: 'object',
              required: ['index', 'status'],
              properties: {
                index: { type: 'integer' },
                status: { type: 'string', enum: ['queued', 'suppressed', 'failed'] },
                id: { type: 'string', format: 'uuid' },
                suppressed: { type: 'array', items: { type: 'string' } },
                reason: { type: 'string' },
                detail: { type: 'string' },
              },
            },
          },
          scope: {
            type: 'string',
            description: 'insufficient-scope only: the scope the API key lacks',
            enum: ['send', 'read', 'suppressions', 'webhooks'],
          },
          errors_omitted: {
            type: 'integer',
            minimum: 1,
            description: `validation only: problems found beyond the ${MAX_LISTED_PROBLEMS} listed in errors`,
          },
          errors: {
            type: 'array',
            description: `Validation problems: where (RFC 6901 pointer into the body), what, and for a batch the item index; at most ${MAX_LISTED_PROBLEMS}.`,
            items: {
              type: 'object',
              required: ['detail'],
              properties: {
                pointer: { type: 'string' },
                parameter: { type: 'string', description: 'invalid-query only: the query parameter' },
                detail: { type: 'string' },
                index: { type: 'integer' },
              },
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
        parameters: [idempotencyKey],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/EmailRequest' } } },
        },
        responses: {
          '202': {
            description:
              'Queued (recorded in the ledger and confirmed by the broker) for the recipients not on the suppression ' +
              'list, or suppressed (every recipient on it: recorded, not queued); Location names the email',
            headers: { Location: { schema: { type: 'string' } }, ...replayed },
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Queued' } } },
          },
          ...refusalResponses,
        },
      },
      get: {
        summary: "List this API key's emails, newest first",
        security,
        parameters: [
          { name: 'status', in: 'query', schema: { $ref: '#/components/schemas/EmailStatus' } },
          {
            name: 'since',
            in: 'query',
            description: 'Accepted at or after this RFC 3339 time.',
            schema: { type: 'string', format: 'date-time' },
          },
          {
            name: 'in_doubt',
            in: 'query',
            description: 'Only emails with an in-doubt try.',
            schema: { type: 'boolean' },
          },
          {
            name: 'cursor',
            in: 'query',
            description: 'next_cursor of the previous page; empty is the first page.',
            schema: { type: 'string' },
          },
          {
            name: 'limit',
            in: 'query',
            schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE },
          },
        ],
        responses: {
          '200': {
            description: 'One page; Link rel="next" names the next one when there is one',
            headers: { Link: { schema: { type: 'string' } } },
            content: { 'application/json': { schema: { $ref: '#/components/schemas/EmailList' } } },
          },
          '400': problem(
            'A parameter is unknown, repeated or malformed, or the cursor is not one this API gave this API key (/problems/invalid-query).',
          ),
          ...statusProblems,
        },
      },
    },
    '/v1/emails/{id}': {
      get: {
        summary: 'One email: its status and every try',
        security,
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': {
            description: 'The email',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Email' } } },
          },
          '404': problem(
            "No such email for this API key (/problems/not-found): an unknown id, a malformed one and another key's email get the same answer.",
          ),
          ...statusProblems,
        },
      },
    },
    '/v1/emails/batch': {
      post: {
        summary: `Queue up to ${MAX_BATCH_SIZE} emails`,
        description:
          'Validation is all or nothing. If the broker fails part-way the 503 lists, item by item, which were queued (with their ids) and which were not.',
        security,
        parameters: [idempotencyKey],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/EmailBatch' } } },
        },
        responses: {
          '202': {
            description: 'All queued (or suppressed, as for one email), ids in request order',
            headers: replayed,
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
    '/v1/suppressions': {
      get: {
        summary: 'Look one address up on the suppression list, or list the entries, newest first',
        description:
          "With `email`: that address's entry, or 404 (`email` alone; the address is hashed with the recipient keys " +
          'and never stored or logged, but a proxy in front may log query strings). Without it: one page of the list, ' +
          'each address masked, optionally of one `reason`. Needs the `suppressions` scope. The list is the ' +
          "deployment's, shared by every API key.",
        security,
        parameters: [
          {
            name: 'email',
            in: 'query',
            description: 'An address to look up; not with the other parameters.',
            schema: { type: 'string', format: 'email', maxLength: 254 },
          },
          { name: 'reason', in: 'query', schema: { type: 'string', enum: [...SUPPRESSION_REASONS] } },
          {
            name: 'limit',
            in: 'query',
            schema: {
              type: 'integer',
              minimum: 1,
              maximum: MAX_SUPPRESSION_PAGE_SIZE,
              default: DEFAULT_SUPPRESSION_PAGE_SIZE,
            },
          },
          {
            name: 'cursor',
            in: 'query',
            description: 'next_cursor of the previous page; empty is the first page.',
            schema: { type: 'string' },
          },
        ],
        responses: {
          '200': {
            description: 'The entry (with `email`), or one page (Link rel="next" names the next one)',
            headers: { Link: { schema: { type: 'string' } } },
            content: {
              'application/json': {
                schema: {
                  oneOf: [
                    { $ref: '#/components/schemas/Suppression' },
                    { $ref: '#/components/schemas/SuppressionList' },
                  ],
                },
              },
            },
          },
          '400': problem(
            'A parameter is unknown, repeated or malformed, `email` is given with another one, or the cursor is not ' +
              'one this API gave (/problems/invalid-query).',
          ),
          '404': problem('The address is not on the list, or its entry expired (/problems/not-found).'),
          ...suppressionProblems,
        },
      },
      post: {
        summary: 'Put an address on the suppression list',
        description:
          'Intake then drops that recipient from every email (named in the 202 as suppressed), and the consumer ' +
          'does not send to it. Adding an address already listed keeps its reason and first source; a later ' +
          '`expires_at` extends it. Idempotency-Key is not used here: the same request twice changes nothing more.',
        security,
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/SuppressionAdd' } } },
        },
        responses: {
          '201': {
            description: 'Added',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Suppression' } } },
          },
          '200': {
            description: 'Already on the list: the entry as it now is',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Suppression' } } },
          },
          '400': problem(
            'The body breaks the SuppressionAdd schema or a rule its description names (/problems/validation), ' +
              'or is not JSON (/problems/malformed-json).',
          ),
          '413': problem(`The body is over ${MAX_SUPPRESSION_BODY_BYTES} bytes (/problems/too-large).`),
          '415': problem('The body is not application/json in UTF-8 (/problems/unsupported-media-type).'),
          ...suppressionProblems,
        },
      },
      delete: {
        summary: 'Take an address off the suppression list',
        description: "The removal, with its note, stays in the list's history.",
        security,
        parameters: [
          {
            name: 'email',
            in: 'query',
            required: true,
            schema: { type: 'string', format: 'email', maxLength: 254 },
          },
          {
            name: 'note',
            in: 'query',
            description: 'Why, for the history; no control characters.',
            schema: { type: 'string', minLength: 1, maxLength: MAX_SUPPRESSION_NOTE_LENGTH },
          },
        ],
        responses: {
          '204': { description: 'Removed' },
          '400': problem('A parameter is missing, unknown, repeated or malformed (/problems/invalid-query).'),
          '404': problem('The address is not on the list (/problems/not-found).'),
          ...suppressionProblems,
        },
      },
    },
    ...webhookPaths,
    '/v1/providers/ses/events': {
      post: {
        summary: 'Amazon SNS HTTPS subscription carrying SES events (docs/feedback.md)',
        description:
          'Called by SNS, not by API callers: no API key, the SNS signature authenticates. The raw body is read whatever ' +
          `its Content-Type (SNS sends text/plain; charset=UTF-8), at most ${MAX_SNS_BODY_BYTES} bytes. Every message is ` +
          'verified (SignatureVersion 1 or 2, certificate on an SNS host) and its TopicArn must be in SNS_TOPIC_ARNS. ' +
          'A Notification is answered 200 only once it is on the provider-events queue (broker confirm); a ' +
          'SubscriptionConfirmation is confirmed by fetching its SubscribeURL; an UnsubscribeConfirmation is logged.',
        requestBody: { required: true, content: { 'text/plain': { schema: { type: 'string' } } } },
        responses: {
          '200': { description: 'Queued (Notification), confirmed (SubscriptionConfirmation) or noted; empty body' },
          '400': problem('Not JSON or not an SNS message (/problems/invalid-provider-event).'),
          '403': problem(
            'Refused, nothing queued (/problems/sns-message-refused; `reason`: topic-not-allowed, bad-certificate-url, ' +
              'unsupported-signature-version, bad-signature, subscribe-url-not-allowed).',
          ),
          '404': problem('SNS_TOPIC_ARNS is empty (/problems/not-configured).'),
          '413': problem(`The body is over ${MAX_SNS_BODY_BYTES} bytes (/problems/too-large).`),
          '503': problem(
            'Not queued, retry after Retry-After (SNS does): the broker did not confirm (/problems/broker-unavailable), ' +
              'the signing certificate could not be had (/problems/certificate-unavailable), or the SubscribeURL did ' +
              'not confirm (/problems/subscription-not-confirmed).',
          ),
        },
      },
    },
    '/v1/providers/postmark/events': {
      post: {
        summary: 'Postmark webhooks: Bounce, SpamComplaint, Delivery, SubscriptionChange (docs/feedback.md)',
        description:
          'Called by Postmark, not by API callers: HTTP Basic credentials (POSTMARK_WEBHOOK_USER and ' +
          `POSTMARK_WEBHOOK_PASSWORD) authenticate. A JSON object with a string RecordType, at most ${MAX_POSTMARK_BODY_BYTES} ` +
          'bytes, queued as received and answered 200 only after the broker confirm. Open and Click: 200, not queued.',
        security: [{ postmarkBasic: [] }],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: { type: 'object', required: ['RecordType'], properties: { RecordType: { type: 'string' } } },
            },
          },
        },
        responses: {
          '200': { description: 'Queued (or, for Open and Click, accepted and ignored); empty body' },
          '400': problem('Not JSON, or no string RecordType (/problems/invalid-provider-event).'),
          '401': problem(
            'Wrong or missing Basic credentials (/problems/unauthorized); header WWW-Authenticate: Basic.',
          ),
          '404': problem('POSTMARK_WEBHOOK_USER and POSTMARK_WEBHOOK_PASSWORD are empty (/problems/not-configured).'),
          '413': problem(`The body is over ${MAX_POSTMARK_BODY_BYTES} bytes (/problems/too-large).`),
          '503': problem('The broker did not confirm (/problems/broker-unavailable); retry after Retry-After.'),
        },
      },
    },
    '/healthz': { get: { summary: 'Process is alive', responses: { '200': { description: 'Alive' } } } },
    '/readyz': {
      get: {
        summary: 'Broker connected and not blocked, and the ledger reachable (unless LEDGER=off)',
        responses: {
          '200': { description: 'Ready' },
          '503': { description: 'Not ready; `reason` says why (e.g. ledger-unavailable)' },
        },
      },
    },
  },
  webhooks: webhookCallbacks,
} as const;
