import { ProviderError } from './provider';

/**
 * The codes of a send that was stopped rather than answered, the same for every adapter (a
 * provider's own codes, such as an SMTP reply code or a Postmark ErrorCode, are for its answers):
 * - `WAIT_TIMEOUT`: no connection of the adapter (or no rate-limit token) came free in time. The
 *   send never started: nothing was sent, never ambiguous.
 * - `TIMEOUT`: the provider did not answer in time once the send was on the wire. Ambiguous when
 *   the message had been handed over (SMTP: the end-of-data dot written; HTTP: the request body
 *   sent); otherwise it was withdrawn and not sent.
 * - `ABORTED`: the send's signal aborted for any other reason; ambiguous by the same rule.
 */
export const SendStopCode = {
  waitTimeout: 'WAIT_TIMEOUT',
  timeout: 'TIMEOUT',
  aborted: 'ABORTED',
} as const;

/** How long a send waited or ran before the delivery layer gave up on it: the reason its signal aborts with. */
export class SendDeadline extends Error {
  override readonly name = 'TimeoutError';

  /**
   * @param phase `wait`: still waiting for a connection or the rate limit; `wire`: on the wire
   * @param ms the bound that ran out
   */
  constructor(
    readonly phase: 'wait' | 'wire',
    readonly ms: number,
  ) {
    super(phase === 'wait' ? `no connection came free within ${ms} ms` : `no answer within ${ms} ms`);
  }
}

/**
 * The failure of a send whose signal aborted: `WAIT_TIMEOUT`, `TIMEOUT` or `ABORTED` by the
 * signal's reason (see {@link SendStopCode}), ambiguous only when `handedOver` (the provider may
 * have taken the message). Transient: another try may work.
 */
export function stoppedSendError(provider: string, reason: unknown, handedOver: boolean): ProviderError {
  const deadline = reason instanceof SendDeadline ? reason : undefined;
  if (deadline?.phase === 'wait' && !handedOver) {
    return new ProviderError('transient', `${provider}: ${deadline.message}; not sent`, {
      code: SendStopCode.waitTimeout,
      cause: reason,
    });
  }
  const what = deadline === undefined ? 'send aborted' : deadline.message;
  const code =
    deadline !== undefined || (reason as { name?: unknown } | null)?.name === 'TimeoutError'
      ? SendStopCode.timeout
      : SendStopCode.aborted;
  return new ProviderError(
    'transient',
    handedOver
      ? `${provider}: ${what} after the message was handed over; the provider may have taken it`
      : `${provider}: ${what} before the message was handed over; it was withdrawn and not sent`,
    { code, ambiguous: handedOver, cause: reason },
  );
}

/**
 * Settles with `sending`, or rejects with {@link stoppedSendError} as soon as `signal` aborts,
 * even when the request underneath does not listen to it (a caller-supplied fetch may not), with
 * `handedOver()` read at that moment. What `sending` says after that is dropped.
 */
export async function untilStopped<T>(
  sending: Promise<T>,
  signal: AbortSignal,
  provider: string,
  handedOver: () => boolean,
): Promise<T> {
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    onAbort = () => reject(stoppedSendError(provider, signal.reason, handedOver()));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([sending, stopped]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}
