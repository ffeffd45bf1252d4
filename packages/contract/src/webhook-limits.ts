/**
 * Bounds and errors of the webhook API and store (docs/events.md), beside the records of
 * ./webhooks.ts: the producer's routes check them before the ledger does.
 */

/** The most endpoints or deliveries on one page of a {@link WebhookStore} list. */
export const MAX_WEBHOOK_PAGE_LIMIT = 100;
/** The longest endpoint URL taken. */
export const MAX_WEBHOOK_URL_LENGTH = 2048;
/** The longest endpoint description taken. */
export const MAX_WEBHOOK_DESCRIPTION_LENGTH = 200;
/** The longest delivery error kept. */
export const MAX_WEBHOOK_ERROR_LENGTH = 300;
/** How long a rotated-out secret keeps signing beside the new one (docs/events.md). */
export const WEBHOOK_SECRET_OVERLAP_MS = 24 * 60 * 60 * 1000;

/** Thrown by a {@link WebhookStore} list for a cursor it did not hand out (the API answers 400). */
export class InvalidWebhookCursorError extends Error {
  override readonly name = 'InvalidWebhookCursorError';
}
