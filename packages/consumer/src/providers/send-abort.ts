import { stoppedSendError } from './provider';

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
