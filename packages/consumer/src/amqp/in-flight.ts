/**
 * The handlings under way, so the worker can count them and wait for them at stop. Handlings of
 * one email run one after the other: a redelivery that arrives while an earlier delivery of the
 * same email is still being handled (its channel closed mid-send) starts once that one has ended,
 * so the ledger has the earlier send's outcome before the redelivery claims.
 */
export class InFlight {
  private readonly works = new Set<Promise<void>>();
  /** Per email id, the handling of its latest delivery. */
  private readonly latest = new Map<string, Promise<void>>();

  /** Handlings under way. */
  get size(): number {
    return this.works.size;
  }

  /** Starts a handling of the email `id` once its earlier one here, if any, has ended. */
  run(id: string | undefined, start: () => Promise<void>): void {
    const earlier = id === undefined ? undefined : this.latest.get(id);
    const work = (earlier === undefined ? start() : earlier.then(start, start)).finally(() => {
      this.works.delete(work);
      if (id !== undefined && this.latest.get(id) === work) this.latest.delete(id);
    });
    this.works.add(work);
    if (id !== undefined) this.latest.set(id, work);
  }

  /** Starts a handling now, counted until it ends; `ended` is called then. */
  track(start: () => Promise<void>, ended?: () => void): void {
    const work = start().finally(() => {
      this.works.delete(work);
      ended?.();
    });
    this.works.add(work);
  }

  /** Resolves once the handlings under way now have ended, or after `timeoutMs`, whichever is first. */
  async drain(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.works]),
      new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }
}
