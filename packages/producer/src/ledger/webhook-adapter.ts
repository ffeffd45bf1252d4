import {
  InvalidWebhookCursorError,
  type LifecycleEventType,
  type WebhookDeliveryOutcome,
  type WebhookDeliveryRecord,
  type WebhookEndpointPatch,
  type WebhookEndpointRecord,
  type WebhookPage,
  type WebhookStore,
} from '@mailer/contract';
import { LedgerUnavailableError } from '@mailer/ledger';
import { BadCursorError, LedgerOutageError } from '../domain/email-ledger';
import type { WebhookEndpoints } from '../domain/webhooks';

/** The ledger's errors in the domain's terms; anything else is a fault and passes unchanged. */
function translate(error: unknown): unknown {
  if (error instanceof LedgerUnavailableError) return new LedgerOutageError(error.message, { cause: error });
  if (error instanceof InvalidWebhookCursorError) return new BadCursorError(error.message, { cause: error });
  return error;
}

async function translated<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw translate(error);
  }
}

/** The domain's {@link WebhookEndpoints} on the ledger's `WebhookStore` (`openLedger`'s `webhooks`). */
export class WebhookAdapter implements WebhookEndpoints {
  constructor(private readonly store: WebhookStore) {}

  createEndpoint(input: {
    readonly client: string;
    readonly url: string;
    readonly eventTypes: readonly LifecycleEventType[];
    readonly description: string | null;
  }): Promise<{ readonly endpoint: WebhookEndpointRecord; readonly secret: string }> {
    return translated(() => this.store.createEndpoint(input));
  }

  listEndpoints(
    client: string,
    page: { readonly limit: number; readonly cursor?: string },
  ): Promise<WebhookPage<WebhookEndpointRecord>> {
    return translated(() => this.store.listEndpoints(client, page));
  }

  getEndpoint(client: string, id: string): Promise<WebhookEndpointRecord | undefined> {
    return translated(() => this.store.getEndpoint(client, id));
  }

  updateEndpoint(client: string, id: string, patch: WebhookEndpointPatch): Promise<WebhookEndpointRecord | undefined> {
    return translated(() => this.store.updateEndpoint(client, id, patch));
  }

  deleteEndpoint(client: string, id: string): Promise<boolean> {
    return translated(() => this.store.deleteEndpoint(client, id));
  }

  rotateSecret(
    client: string,
    id: string,
    overlapMs: number,
  ): Promise<{ readonly endpoint: WebhookEndpointRecord; readonly secret: string } | undefined> {
    return translated(() => this.store.rotateSecret(client, id, overlapMs));
  }

  listDeliveries(
    endpointId: string,
    page: {
      readonly limit: number;
      readonly cursor?: string;
      readonly since?: Date;
      readonly eventTypes?: readonly string[];
      readonly outcomes?: readonly WebhookDeliveryOutcome[];
    },
  ): Promise<WebhookPage<WebhookDeliveryRecord>> {
    return translated(() => this.store.listDeliveries(endpointId, page));
  }
}
