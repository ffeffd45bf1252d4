import type { LifecycleEvent, LifecycleEventType, WebhookTestEvent } from './lifecycle-event';

/**
 * Webhook endpoints and their deliveries (docs/events.md): the records the ledger keeps, the
 * message one delivery travels as, and the store the producer (API), the consumer (delivery
 * workers) and the CLI use. The ledger implements {@link WebhookStore}; nothing else touches its
 * tables.
 */

/** Why an endpoint no longer gets deliveries. */
export type WebhookDisabledReason = 'failing' | 'gone' | 'manual';

/** One registered endpoint, as the ledger holds it (never its secret). */
export interface WebhookEndpointRecord {
  readonly id: string;
  /** The API key name that registered it: it gets that client's events only. */
  readonly client: string;
  readonly url: string;
  /** The event types it wants; empty: every type. */
  readonly eventTypes: readonly LifecycleEventType[];
  readonly description: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** Set when deliveries stopped: failing for `WEBHOOK_DISABLE_AFTER`, a 410 answer, or a PATCH. */
  readonly disabledAt: Date | null;
  readonly disabledReason: WebhookDisabledReason | null;
  /** The first failure of the current run of failures; null after a success. */
  readonly failingSince: Date | null;
  /** Until when the secret before the last rotation still signs (beside the new one); null when none. */
  readonly previousSecretExpiresAt: Date | null;
}

/** An endpoint with what signs its deliveries: the current secret first, then one still in its overlap. */
export interface SigningEndpoint {
  readonly endpoint: WebhookEndpointRecord;
  /** `whsec_…` secrets; two during the 24 h after a rotation. */
  readonly secrets: readonly string[];
}

/** What one delivery try ended as. */
export type WebhookDeliveryOutcome =
  /** A 2xx within the timeout. */
  | 'succeeded'
  /** Failed; another try is scheduled. */
  | 'retrying'
  /** Failed on its last try (or its endpoint was disabled meanwhile): parked in the dead queue. */
  | 'parked'
  /** Not sent: the endpoint is disabled or deleted. */
  | 'skipped';

/** The body of a message on `<prefix>.webhooks.deliveries` (and its retry, wait and dead queues). */
export interface WebhookDeliveryMessage {
  /** Unique per (event, endpoint); the same on every try. */
  readonly delivery_id: string;
  readonly endpoint_id: string;
  readonly client: string;
  /** 1 for the first try; the retry schedule's index is `try - 1`. */
  readonly try: number;
  /** ISO 8601: when the first try was scheduled. */
  readonly first_try_at: string;
  /** Set by `mailer webhooks replay`: a replayed delivery starts its schedule again. */
  readonly replayed?: boolean;
  readonly event: LifecycleEvent | WebhookTestEvent;
}

/** One try's record, as the delivery worker reports it. */
export interface WebhookDeliveryReport {
  readonly deliveryId: string;
  readonly endpointId: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly emailId: string | null;
  readonly try: number;
  readonly outcome: WebhookDeliveryOutcome;
  /** The HTTP status, or null when no answer came (timeout, refused destination, network error). */
  readonly status: number | null;
  /** A short reason (`timeout`, `refused destination: loopback`, the first 200 characters of the answer); never a secret. */
  readonly error: string | null;
  readonly durationMs: number | null;
  readonly at: Date;
}

/** A delivery as the ledger keeps it: the latest try of one (event, endpoint). */
export interface WebhookDeliveryRecord {
  readonly id: string;
  readonly endpointId: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly emailId: string | null;
  readonly tries: number;
  readonly outcome: WebhookDeliveryOutcome;
  readonly status: number | null;
  readonly error: string | null;
  readonly durationMs: number | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** What a PATCH may change; absent fields stay. `enabled: true` clears a disable and the failure run. */
export interface WebhookEndpointPatch {
  readonly url?: string;
  readonly eventTypes?: readonly LifecycleEventType[];
  readonly description?: string | null;
  readonly enabled?: boolean;
}

/** A page of records, newest first; `next` is the cursor of the next page, when there is one. */
export interface WebhookPage<T> {
  readonly items: readonly T[];
  readonly next: string | null;
}

/** The ledger's webhook tables. Every read and change is scoped by client, except the worker's. */
export interface WebhookStore {
  /** Registers an endpoint; the returned secret (`whsec_…`) is shown once and kept only encrypted. */
  createEndpoint(input: {
    readonly client: string;
    readonly url: string;
    readonly eventTypes: readonly LifecycleEventType[];
    readonly description: string | null;
  }): Promise<{ readonly endpoint: WebhookEndpointRecord; readonly secret: string }>;
  listEndpoints(
    client: string,
    page: { readonly limit: number; readonly cursor?: string },
  ): Promise<WebhookPage<WebhookEndpointRecord>>;
  getEndpoint(client: string, id: string): Promise<WebhookEndpointRecord | undefined>;
  updateEndpoint(client: string, id: string, patch: WebhookEndpointPatch): Promise<WebhookEndpointRecord | undefined>;
  /** Deletes the endpoint; its delivery records go with it. */
  deleteEndpoint(client: string, id: string): Promise<boolean>;
  /** A new secret; the previous one keeps signing for `overlapMs` (24 h in the service). */
  rotateSecret(
    client: string,
    id: string,
    overlapMs: number,
  ): Promise<{ readonly endpoint: WebhookEndpointRecord; readonly secret: string } | undefined>;

  /** The client's enabled endpoints that want `eventType`, with their secrets (the fan-out). */
  endpointsFor(client: string, eventType: LifecycleEventType): Promise<readonly SigningEndpoint[]>;
  /** One endpoint with its secrets, enabled or not (a delivery's try); undefined when deleted. */
  signingEndpoint(id: string): Promise<SigningEndpoint | undefined>;
  /**
   * Records tries (batched by the caller or the store) and keeps each endpoint's failure run: a
   * success clears it; a failure starts it; a failure when the run is older than `disableAfterMs`,
   * or any 410, disables the endpoint. Returns the endpoints this call disabled.
   */
  recordDeliveries(
    reports: readonly WebhookDeliveryReport[],
    options: { readonly disableAfterMs: number },
  ): Promise<readonly { readonly endpointId: string; readonly reason: WebhookDisabledReason }[]>;
  /** One endpoint's deliveries, newest first (the CLI and `GET /v1/webhooks/{id}/deliveries`). */
  listDeliveries(
    endpointId: string,
    page: {
      readonly limit: number;
      readonly cursor?: string;
      readonly since?: Date;
      readonly eventTypes?: readonly string[];
      readonly outcomes?: readonly WebhookDeliveryOutcome[];
    },
  ): Promise<WebhookPage<WebhookDeliveryRecord>>;
  /** Endpoints of every client (the CLI's `mailer webhooks list`; an operator's view). */
  listAllEndpoints(page: {
    readonly limit: number;
    readonly cursor?: string;
  }): Promise<WebhookPage<WebhookEndpointRecord>>;
  /** Any client's endpoint by id (the CLI). */
  endpointById(id: string): Promise<WebhookEndpointRecord | undefined>;
  /** Counts by state for the metrics: enabled, disabled. */
  endpointCounts(): Promise<{ readonly enabled: number; readonly disabled: number }>;
}
