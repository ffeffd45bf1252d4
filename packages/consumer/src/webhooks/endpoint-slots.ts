import { performance } from 'node:perf_hooks';

/** A delivery held for a slot of its endpoint. */
interface Waiter {
  /** Hands the waiter a slot (already taken for it), or tells it to go to the wait queue. */
  readonly give: (release: (() => void) | undefined) => void;
  readonly timer: NodeJS.Timeout;
}

interface Slot {
  /** When each request in flight to the endpoint started (`performance.now()`). */
  readonly starts: number[];
  readonly waiting: Waiter[];
}

/**
 * The requests in flight to each webhook endpoint, at most `max` at once. A delivery over the bound
 * waits here, in the worker, while the endpoint keeps up: it takes the slot of the next request
 * that finishes. Once the endpoint is slow (its oldest request in flight started over `holdMs`
 * ago), or a delivery has waited `holdMs` without a slot, it is told to wait in the wait queue
 * instead: a slow endpoint then holds no more than `max` of the worker's prefetch, and a fast one
 * uses all of it without sending its deliveries round the wait queue.
 */
export class EndpointSlots {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly max: number,
    private readonly holdMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Requests in flight to `endpointId` now. */
  inFlight(endpointId: string): number {
    return this.slots.get(endpointId)?.starts.length ?? 0;
  }

  /**
   * Resolves with the function that frees the slot once the delivery may go; with undefined when
   * it should wait in the wait queue instead, or when `signal` aborted meanwhile.
   */
  acquire(endpointId: string, signal: AbortSignal): Promise<(() => void) | undefined> {
    let slot = this.slots.get(endpointId);
    if (slot === undefined) {
      slot = { starts: [], waiting: [] };
      this.slots.set(endpointId, slot);
    }
    if (slot.starts.length < this.max) return Promise.resolve(this.take(endpointId, slot));
    if (signal.aborted || this.now() - Math.min(...slot.starts) > this.holdMs) return Promise.resolve(undefined);
    const held = slot;
    return new Promise((resolve) => {
      const give = (release: (() => void) | undefined): void => {
        const at = held.waiting.indexOf(waiter);
        if (at >= 0) held.waiting.splice(at, 1);
        clearTimeout(waiter.timer);
        signal.removeEventListener('abort', onAbort);
        if (release === undefined) this.leave(endpointId, held);
        resolve(release);
      };
      const onAbort = (): void => give(undefined);
      const waiter: Waiter = { give, timer: setTimeout(() => give(undefined), this.holdMs) };
      waiter.timer.unref();
      held.waiting.push(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private take(endpointId: string, slot: Slot): () => void {
    const started = this.now();
    slot.starts.push(started);
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      slot.starts.splice(slot.starts.indexOf(started), 1);
      // The first waiter gets the freed slot, taken for it here: no other delivery can slip in
      // before it resumes.
      const next = slot.waiting[0];
      if (next !== undefined) next.give(this.take(endpointId, slot));
      else this.leave(endpointId, slot);
    };
  }

  /** Forgets an endpoint with nothing in flight and nothing waiting. */
  private leave(endpointId: string, slot: Slot): void {
    if (slot.starts.length === 0 && slot.waiting.length === 0 && this.slots.get(endpointId) === slot) {
      this.slots.delete(endpointId);
    }
  }
}
