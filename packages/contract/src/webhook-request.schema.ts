import { Patterns } from './email-request.schema';
import { LIFECYCLE_EVENT_TYPES, WEBHOOK_TEST_EVENT_TYPE } from './lifecycle-event';
import { PAGE_LIMIT_PATTERN, RFC3339_PATTERN } from './suppression-request.schema';
import { MAX_WEBHOOK_DESCRIPTION_LENGTH, MAX_WEBHOOK_URL_LENGTH } from './webhook-limits';

/** Endpoints or deliveries on one page of the webhooks API when `limit` is not given (at most 100). */
export const DEFAULT_WEBHOOK_PAGE_SIZE = 50;

/** The longest `cursor` taken back (the ledger's cursors are about 70 characters). */
export const MAX_WEBHOOK_CURSOR_LENGTH = 200;

/** The outcomes a delivery can have (`WebhookDeliveryOutcome`), for the API's filter. */
export const WEBHOOK_DELIVERY_OUTCOMES = ['succeeded', 'retrying', 'parked', 'skipped'] as const;

const url = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_WEBHOOK_URL_LENGTH,
  description:
    'Where deliveries are POSTed. Rules checked beyond this schema, each a 400 /problems/validation at /url: an ' +
    'absolute URL; https (http only where WEBHOOK_ALLOW_HTTP=true); no user or password; host not localhost or ' +
    '*.localhost; a host that is an IP address (as the URL parser reads it: http://2130706433/ is 127.0.0.1) must ' +
    'not be in a private, loopback, link-local or other non-public range unless WEBHOOK_ALLOW_NETWORKS allows it. ' +
    'Host names are resolved and checked at each delivery, not here.',
} as const;

const eventTypes = {
  type: 'array',
  uniqueItems: true,
  maxItems: LIFECYCLE_EVENT_TYPES.length,
  items: { type: 'string', enum: [...LIFECYCLE_EVENT_TYPES] },
  description: 'The lifecycle event types to deliver; empty or absent: every type.',
} as const;

const description = {
  type: 'string',
  maxLength: MAX_WEBHOOK_DESCRIPTION_LENGTH,
  pattern: Patterns.noControlCharacters,
  description: 'Yours, to tell endpoints apart: no control characters.',
} as const;

/** The body of `POST /v1/webhooks`. */
export const webhookCreateSchema = {
  $id: 'https://mailer.local/schemas/webhook-create.json',
  title: 'WebhookCreate',
  description: "Registers an endpoint for lifecycle events of the API key's own emails.",
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: { url, event_types: eventTypes, description },
} as const;

/** The body of `PATCH /v1/webhooks/{id}`: at least one field; absent fields stay. */
export const webhookPatchSchema = {
  $id: 'https://mailer.local/schemas/webhook-patch.json',
  title: 'WebhookPatch',
  description:
    'Changes an endpoint; absent fields stay. `enabled: true` re-enables a disabled endpoint and clears its failure ' +
    'run; `enabled: false` disables it (reason manual). `description: null` removes the description.',
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    url,
    event_types: eventTypes,
    description: { ...description, type: ['string', 'null'] },
    enabled: { type: 'boolean' },
  },
} as const;

const limit = { type: 'string', pattern: PAGE_LIMIT_PATTERN } as const;
const cursor = { type: 'string', maxLength: MAX_WEBHOOK_CURSOR_LENGTH } as const;

/** The query of `GET /v1/webhooks`. */
export const webhookListQuerySchema = {
  $id: 'https://mailer.local/schemas/webhook-list-query.json',
  type: 'object',
  additionalProperties: false,
  properties: { limit, cursor },
} as const;

/** The query of `GET /v1/webhooks/{id}/deliveries`. */
export const webhookDeliveriesQuerySchema = {
  $id: 'https://mailer.local/schemas/webhook-deliveries-query.json',
  type: 'object',
  additionalProperties: false,
  properties: {
    limit,
    cursor,
    since: { type: 'string', format: 'date-time', pattern: RFC3339_PATTERN },
    event_type: { type: 'string', enum: [...LIFECYCLE_EVENT_TYPES, WEBHOOK_TEST_EVENT_TYPE] },
    outcome: { type: 'string', enum: [...WEBHOOK_DELIVERY_OUTCOMES] },
  },
} as const;
