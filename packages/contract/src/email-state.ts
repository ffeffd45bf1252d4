/**
 * Where an email is in its life: the ledger's states and the `status` of `GET /v1/emails/{id}`.
 * After `sent`, the state summarizes what providers reported per recipient: `complained` if any
 * recipient complained, else `bounced` if any bounced, else `delivered` once every recipient was
 * delivered, else `sent` (docs/ledger.md). `suppressed`: every recipient was on the suppression
 * list at intake, so it was never queued. `abandoned`: recorded, but its
 * request was answered 503 (or not at all) and nothing took it from the queue for
 * `QUEUED_ABANDON_AFTER`: as far as the service can tell it was never queued, and nothing will
 * send it (a consumer that does get it after all moves it on).
 */
export type EmailState =
  | 'queued'
  | 'sending'
  | 'retrying'
  | 'parked'
  | 'suppressed'
  | 'abandoned'
  | 'sent'
  | 'delivered'
  | 'bounced'
  | 'complained';

/** Every state, in rank order (the order an email usually passes them). */
export const EMAIL_STATES: readonly EmailState[] = [
  'queued',
  'sending',
  'retrying',
  'parked',
  'suppressed',
  'abandoned',
  'sent',
  'delivered',
  'bounced',
  'complained',
];
