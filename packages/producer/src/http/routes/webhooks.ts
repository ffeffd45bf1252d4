import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import {
  DEFAULT_WEBHOOK_PAGE_SIZE,
  PublishError,
  WEBHOOK_SECRET_OVERLAP_MS,
  checkWebhookDeliveriesQuery,
  checkWebhookListQuery,
  validateWebhookCreate,
  validateWebhookPatch,
  type ValidationProblem,
  type WebhookDeliveryRecord,
  type WebhookEndpointRecord,
} from '@mailer/contract';
import type { Logger } from '@mailer/service';
import { BadCursorError, LedgerOutageError } from '../../domain/email-ledger';
import { testDelivery, type WebhookDeps, type WebhooksSetting } from '../../domain/webhooks';
import { locals } from '../locals';
import { jsonBody, rejectDeclaredOversize } from '../middleware/json-body';
import {
  ProblemType,
  sendBodyTooLarge,
  sendInvalidQuery,
  sendLedgerUnavailable,
  sendProblem,
  sendTestDeliveryUnavailable,
  sendWebhookDisabled,
  sendWebhookNotFound,
  sendWebhooksOff,
} from '../problems';

/** The largest body of `POST /v1/webhooks` and `PATCH /v1/webhooks/{id}` (a 2,048-character URL fits many times). */
export const MAX_WEBHOOK_BODY_BYTES = 16 * 1024;

/** What the webhook routes need. */
export interface WebhookRoutesDeps {
  readonly webhooks: WebhooksSetting;
  readonly logger: Logger;
  /** Authentication with the `webhooks` scope. */
  readonly authenticate: RequestHandler;
  /** The largest body: {@link MAX_WEBHOOK_BODY_BYTES}, or `MAX_BODY_BYTES` if that is smaller. */
  readonly maxBodyBytes: number;
}

const PATH = '/v1/webhooks';

/** An endpoint as the API shows it: never its secret. */
export function endpointJson(endpoint: WebhookEndpointRecord): Record<string, unknown> {
  return {
    id: endpoint.id,
    url: endpoint.url,
    event_types: endpoint.eventTypes,
    description: endpoint.description,
    status: endpoint.disabledAt === null ? 'enabled' : 'disabled',
    disabled_reason: endpoint.disabledReason,
    disabled_at: endpoint.disabledAt?.toISOString() ?? null,
    failing_since: endpoint.failingSince?.toISOString() ?? null,
    previous_secret_expires_at: endpoint.previousSecretExpiresAt?.toISOString() ?? null,
    created_at: endpoint.createdAt.toISOString(),
    updated_at: endpoint.updatedAt.toISOString(),
  };
}

/** A delivery as the API shows it. */
export function deliveryJson(delivery: WebhookDeliveryRecord): Record<string, unknown> {
  return {
    id: delivery.id,
    event_id: delivery.eventId,
    event_type: delivery.eventType,
    email_id: delivery.emailId,
    tries: delivery.tries,
    outcome: delivery.outcome,
    http_status: delivery.status,
    error: delivery.error,
    duration_ms: delivery.durationMs,
    created_at: delivery.createdAt.toISOString(),
    updated_at: delivery.updatedAt.toISOString(),
  };
}

const clientOf = (res: Response): string => {
  const { client } = locals(res);
  if (client === undefined) throw new Error('authenticate must run before the handler');
  return client.name;
};

/** 400 for a body that breaks the schema or the URL rules, as the suppression routes' `validation`. */
function sendInvalidBody(res: Response, problems: readonly ValidationProblem[], omitted = 0): void {
  const found = problems.length + omitted;
  sendProblem(res, {
    type: ProblemType.validation,
    title: 'Request is invalid',
    status: 400,
    detail:
      omitted === 0
        ? `${found} problem(s) found; nothing was changed.`
        : `${found} problems found, the first ${problems.length} listed; nothing was changed.`,
    errors: problems,
    ...(omitted === 0 ? {} : { errors_omitted: omitted }),
  });
}

/** The path of a list's next page: the same filters, the next cursor. */
function nextPagePath(path: string, query: Readonly<Record<string, unknown>>, cursor: string): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (name !== 'cursor' && typeof value === 'string') params.set(name, value);
  }
  params.set('cursor', cursor);
  return `${path}?${params.toString()}`;
}

/**
 * `/v1/webhooks`: a caller's webhook endpoints (docs/events.md, docs/api.md), for keys with the
 * `webhooks` scope. Every endpoint belongs to the key's client: another client's id is a 404. The
 * signing secret is answered only by the create and the rotation, never logged or shown again.
 */
export function webhookRoutes(deps: WebhookRoutesDeps): Router {
  const router = Router();
  // Webhooks off: refused before any body is read, saying why.
  const requireOn: RequestHandler = (_req: Request, res: Response, next: NextFunction) => {
    if ('off' in deps.webhooks) sendWebhooksOff(res, deps.webhooks.off);
    else next();
  };
  const on = (): WebhookDeps => {
    if ('off' in deps.webhooks) throw new Error('requireOn must run before the handler');
    return deps.webhooks.on;
  };
  /** Runs a handler, answering the ledger's outage and a bad cursor; any other error is a fault (500). */
  const handle =
    (handler: (req: Request, res: Response, webhooks: WebhookDeps, client: string) => Promise<void>) =>
    async (req: Request, res: Response): Promise<void> => {
      try {
        await handler(req, res, on(), clientOf(res));
      } catch (error) {
        if (error instanceof LedgerOutageError) {
          deps.logger.warn('webhooks not reached: ledger unavailable', {
            request_id: locals(res).requestId,
            error: error.message,
          });
          sendLedgerUnavailable(res, 'webhooks');
        } else if (error instanceof BadCursorError) {
          sendInvalidQuery(res, [{ parameter: 'cursor', detail: 'is not a cursor this API gave' }]);
        } else {
          throw error;
        }
      }
    };
  const withBody = [
    rejectDeclaredOversize(deps.maxBodyBytes),
    deps.authenticate,
    requireOn,
    ...jsonBody(deps.maxBodyBytes),
  ];
  const idOf = (req: Request): string => String(req.params['id']);

  router.post(
    PATH,
    ...withBody,
    handle(async (req, res, webhooks, client) => {
      const checked = validateWebhookCreate(req.body, webhooks.urlRules);
      if (!checked.ok) {
        sendInvalidBody(res, checked.problems, checked.omitted);
        return;
      }
      const { endpoint, secret } = await webhooks.endpoints.createEndpoint({ client, ...checked.value });
      deps.logger.info('webhook endpoint registered', { client, endpoint_id: endpoint.id });
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Location', `${PATH}/${endpoint.id}`);
      res.status(201).json({ ...endpointJson(endpoint), secret });
    }),
  );

  router.get(
    PATH,
    deps.authenticate,
    requireOn,
    handle(async (req, res, webhooks, client) => {
      const query = req.query as Record<string, unknown>;
      const checked = checkWebhookListQuery(query);
      if (!checked.ok) {
        sendInvalidQuery(res, checked.errors);
        return;
      }
      const { limit = DEFAULT_WEBHOOK_PAGE_SIZE, cursor } = checked.value;
      const page = await webhooks.endpoints.listEndpoints(client, {
        limit,
        ...(cursor === undefined ? {} : { cursor }),
      });
      if (page.next !== null) res.setHeader('Link', `<${nextPagePath(PATH, query, page.next)}>; rel="next"`);
      res.json({ webhooks: page.items.map(endpointJson), ...(page.next === null ? {} : { next_cursor: page.next }) });
    }),
  );

  router.get(
    `${PATH}/:id`,
    deps.authenticate,
    requireOn,
    handle(async (req, res, webhooks, client) => {
      const endpoint = await webhooks.endpoints.getEndpoint(client, idOf(req));
      if (endpoint === undefined) sendWebhookNotFound(res);
      else res.json(endpointJson(endpoint));
    }),
  );

  router.patch(
    `${PATH}/:id`,
    ...withBody,
    handle(async (req, res, webhooks, client) => {
      const checked = validateWebhookPatch(req.body, webhooks.urlRules);
      if (!checked.ok) {
        sendInvalidBody(res, checked.problems, checked.omitted);
        return;
      }
      const endpoint = await webhooks.endpoints.updateEndpoint(client, idOf(req), checked.value);
      if (endpoint === undefined) {
        sendWebhookNotFound(res);
        return;
      }
      deps.logger.info('webhook endpoint changed', {
        client,
        endpoint_id: endpoint.id,
        fields: Object.keys(req.body as object),
      });
      res.json(endpointJson(endpoint));
    }),
  );

  router.delete(
    `${PATH}/:id`,
    deps.authenticate,
    requireOn,
    handle(async (req, res, webhooks, client) => {
      if (await webhooks.endpoints.deleteEndpoint(client, idOf(req))) {
        deps.logger.info('webhook endpoint deleted', { client, endpoint_id: idOf(req) });
        res.status(204).end();
      } else {
        sendWebhookNotFound(res);
      }
    }),
  );

  router.post(
    `${PATH}/:id/rotate-secret`,
    deps.authenticate,
    requireOn,
    handle(async (req, res, webhooks, client) => {
      const rotated = await webhooks.endpoints.rotateSecret(client, idOf(req), WEBHOOK_SECRET_OVERLAP_MS);
      if (rotated === undefined) {
        sendWebhookNotFound(res);
        return;
      }
      deps.logger.info('webhook secret rotated', { client, endpoint_id: rotated.endpoint.id });
      res.setHeader('Cache-Control', 'no-store');
      res.json({ ...endpointJson(rotated.endpoint), secret: rotated.secret });
    }),
  );

  router.post(
    `${PATH}/:id/test`,
    deps.authenticate,
    requireOn,
    handle(async (req, res, webhooks, client) => {
      const endpoint = await webhooks.endpoints.getEndpoint(client, idOf(req));
      if (endpoint === undefined) {
        sendWebhookNotFound(res);
        return;
      }
      if (endpoint.disabledAt !== null) {
        sendWebhookDisabled(res);
        return;
      }
      const message = testDelivery(
        endpoint,
        { deliveryId: webhooks.newId(), eventId: webhooks.newId() },
        webhooks.now(),
      );
      try {
        await webhooks.publisher.publish(message);
      } catch (error) {
        if (!(error instanceof PublishError)) throw error;
        sendTestDeliveryUnavailable(res, error);
        return;
      }
      res.status(202).json({ delivery_id: message.delivery_id, event_id: message.event.id });
    }),
  );

  router.get(
    `${PATH}/:id/deliveries`,
    deps.authenticate,
    requireOn,
    handle(async (req, res, webhooks, client) => {
      const query = req.query as Record<string, unknown>;
      const checked = checkWebhookDeliveriesQuery(query);
      if (!checked.ok) {
        sendInvalidQuery(res, checked.errors);
        return;
      }
      // The endpoint must be this client's: deliveries are listed by endpoint id alone.
      const endpoint = await webhooks.endpoints.getEndpoint(client, idOf(req));
      if (endpoint === undefined) {
        sendWebhookNotFound(res);
        return;
      }
      const { limit = DEFAULT_WEBHOOK_PAGE_SIZE, cursor, since, eventType, outcome } = checked.value;
      const page = await webhooks.endpoints.listDeliveries(endpoint.id, {
        limit,
        ...(cursor === undefined ? {} : { cursor }),
        ...(since === undefined ? {} : { since }),
        ...(eventType === undefined ? {} : { eventTypes: [eventType] }),
        ...(outcome === undefined ? {} : { outcomes: [outcome] }),
      });
      const path = `${PATH}/${endpoint.id}/deliveries`;
      if (page.next !== null) res.setHeader('Link', `<${nextPagePath(path, query, page.next)}>; rel="next"`);
      res.json({ deliveries: page.items.map(deliveryJson), ...(page.next === null ? {} : { next_cursor: page.next }) });
    }),
  );

  // The body parser's own cap is these routes', not MAX_BODY_BYTES: say so in the 413.
  router.use(PATH, (error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if ((error as { type?: unknown }).type !== 'entity.too.large' || res.headersSent) {
      next(error);
      return;
    }
    res.setHeader('Connection', 'close');
    sendBodyTooLarge(res, deps.maxBodyBytes);
  });

  return router;
}
