export * from './batcher';
export * from './database';
export * from './errors';
export * from './ledger';
export { hashRequest, IDEMPOTENCY_KEY_PATTERN, type KeyCompletion, type KeyedRecording, type KeyRequest } from './keys';
export { InvalidCursorError } from './reads';
export { MAX_DIAGNOSTIC_LENGTH } from './feedback';
export {
  DEFAULT_SUPPRESSION_LIMIT,
  InvalidSuppressionCursorError,
  MAX_NOTE_LENGTH,
  MAX_SUPPRESSION_LIMIT,
} from './suppressions';
export { jsonbSafe } from './accepted-rows';
export * from './migrate';
export * from './migrate-database';
export * from './open-ledger';
export * from './states';
export * from './types';
export { firstUuidv7At } from './reputation';
export { maskedDeliveryError, newWebhookSecret, SecretBox, Webhooks } from './webhooks';
