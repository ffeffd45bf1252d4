import { SendAbandonedError, stoppedSendError, type SendOptions } from './provider';

/** Gives a slot back; calling it again does nothing. */
export type ReleaseSlot = () => void;

interface Waiter {
  readonly grant: (release: ReleaseSlot) => void;
}

/**
 * The sends one adapter may have on the wire at once (as many as the connections it really has),
 * and the queue of sends waiting for one. A waiter leaves the queue the moment its send is
 * abandoned ({@link SendAbandonedError}) or its signal aborts (a transient, not ambiguous
 * `ProviderError`, see {@link stoppedSendError}: nothing was sent), so an adapter never holds back
 * work that the broker will deliver again, and never sends it after its channel closed. A send
 * that owns a slot has started: `options.onStart` is called then, and only then. Waiters are
 * served in order.
 */
export class SendSlots {
  private inUse = 0;
  private readonly queue: Waiter[] = [];

  /**
   * @param provider the adapter's name, for error messages
   * @param size sends on the wire at once; `Infinity` for an adapter with nothing to wait for
   */
  constructor(
    private readonly provider: string,
    readonly size: number,
  ) {
    if (!(size >= 1)) throw new RangeError(`${provider}: a send needs at least one slot, got ${size}`);
  }

  /** Sends owning a slot now. */
  get busy(): number {
    return this.inUse;
  }

  /** Sends waiting for a slot now. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Runs `send` once it owns a slot and has started (see {@link start}), and frees the slot when it settles. */
  async run<T>(signal: AbortSignal, options: SendOptions, send: () => Promise<T>): Promise<T> {
    const release = await this.start(signal, options);
    try {
      return await send();
    } finally {
      release();
    }
  }

  /**
   * Resolves with a slot once the send owns one and `options.onStart` resolved, the signals
   * looked at again after it: the caller puts the send on the wire in the same turn (before any
   * await), so a send given up meanwhile never goes. Rejects, with the slot freed, when
   * `onStart` rejects or a signal fired.
   */
  async start(signal: AbortSignal, options: SendOptions = {}): Promise<ReleaseSlot> {
    const release = await this.acquire(signal, options);
    try {
      if (options.onStart !== undefined) await options.onStart();
      const refusal = this.refusal(signal, options.abandon);
      if (refusal !== undefined) throw refusal;
    } catch (error) {
      release();
      throw error;
    }
    return release;
  }

  /**
   * Resolves with a slot, or rejects (and leaves the queue) when `options.abandon` or `signal`
   * fires first. An abandon wins over a timeout that fired at the same time: both mean nothing
   * was sent, and an abandoned send is no failure of the provider.
   */
  acquire(signal: AbortSignal, options: SendOptions = {}): Promise<ReleaseSlot> {
    const { abandon } = options;
    const refusal = this.refusal(signal, abandon);
    if (refusal !== undefined) return Promise.reject(refusal);
    if (this.inUse < this.size) return Promise.resolve(this.take());
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.queue.indexOf(waiter);
        if (index >= 0) this.queue.splice(index, 1);
        cleanUp();
        reject(this.refusal(signal, abandon) ?? new SendAbandonedError(this.provider));
      };
      const cleanUp = (): void => {
        signal.removeEventListener('abort', onAbort);
        abandon?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        grant: (release) => {
          cleanUp();
          resolve(release);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      abandon?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private refusal(signal: AbortSignal, abandon: AbortSignal | undefined): Error | undefined {
    if (abandon?.aborted === true) return new SendAbandonedError(this.provider, { cause: abandon.reason });
    if (signal.aborted) return stoppedSendError(this.provider, signal.reason, false);
    return undefined;
  }

  private take(): ReleaseSlot {
    this.inUse += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse -= 1;
      const next = this.queue.shift();
      if (next !== undefined) next.grant(this.take());
    };
  }
}
