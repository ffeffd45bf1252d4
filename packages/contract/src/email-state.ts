/**
 * Where an email is in its life: the ledger's states and the `status` of `GET /v1/emails/{id}`.
 * `suppressed` and `bounced` are reserved for what comes next. `abandoned`: recorded, but its
 * request was answered 503 (or not at all) and nothing took it from the queue for
 * `QUEUED_ABANDON_AFTER`: as far as the service can tell it was never queued, and nothing will
 * send it (a consumer that does get it after all moves it on).
 */
export type EmailState = 'queued' | 'sending' | 'retrying' | 'parked' | 'suppressed' | 'abandoned' | 'sent' | 'bounced';

/** Every state, in rank order (the order an email usually passes them). */
export const EMAIL_STATES: readonly EmailState[] = [
  'queued',
  'sending',
  'retrying',
  'parked',
  'suppressed',
  'abandoned',
  'sent',
  'bounced',
];
