export type { Logger } from '@mailer/service';

/** Whether the broker can take work now, and if not, why (for `GET /readyz`). */
export interface Readiness {
  readonly ready: boolean;
  readonly reason?: string;
}

/** Why a publish was not confirmed. */
export type PublishFailureReason =
  'not-connected' | 'blocked' | 'busy' | 'timeout' | 'nacked' | 'unroutable' | 'channel-closed';

/** The broker did not confirm a publish. */
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
