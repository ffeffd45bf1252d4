/**
 * Where an email is in its life: the ledger's states and the `status` of `GET /v1/emails/{id}`.
 * `suppressed` and `bounced` are reserved for what comes next.
 */
export type EmailState = 'queued' | 'sending' | 'retrying' | 'parked' | 'suppressed' | 'sent' | 'bounced';

/** Every state, in rank order (the order an email usually passes them). */
export const EMAIL_STATES: readonly EmailState[] = [
  'queued',
  'sending',
  'retrying',
  'parked',
  'suppressed',
  'sent',
  'bounced',
];
