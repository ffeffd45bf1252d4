/**
 * Why the broker did not confirm a publish. The producer's 503 problems carry it as `reason`, so
 * it is part of the API as well as of the AMQP adapter that detects it:
 *
 * - `not-connected`, `blocked`, `busy`, `unroutable`, `nacked`: the message is not queued.
 * - `timeout`, `channel-closed`: the confirm was late or lost; the message may be queued.
 */
export type PublishFailureReason =
  'not-connected' | 'blocked' | 'busy' | 'timeout' | 'nacked' | 'unroutable' | 'channel-closed';

/** Every {@link PublishFailureReason}, for documents and tables. */
export const PUBLISH_FAILURE_REASONS: readonly PublishFailureReason[] = [
  'not-connected',
  'blocked',
  'busy',
  'timeout',
  'nacked',
  'unroutable',
  'channel-closed',
];

/** The broker did not confirm a publish; the caller must not be told the message was accepted. */
export class PublishError extends Error {
  override readonly name = 'PublishError';
  constructor(
    readonly reason: PublishFailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Whether a message whose publish failed this way may be in the queue all the same: the broker
 * may have taken it before its confirm was lost or late. A retry can then queue it twice.
 */
export function mayHaveBeenQueued(error: PublishError): boolean {
  return error.reason === 'timeout' || error.reason === 'channel-closed';
}

/** Whether a service can take work now, and if not, why (answers `GET /readyz`). */
export interface Readiness {
  readonly ready: boolean;
  readonly reason?: string;
}
