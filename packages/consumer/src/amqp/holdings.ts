/**
 * What the worker holds unsettled (messages and body bytes) and how many more one new consumer
 * may take: its prefetch window. RabbitMQ's prefetch counts messages only (it has no byte limit),
 * so the byte bound is kept by sizing each consumer's window: free bytes divided by the largest
 * body among the recent ones. A consumer's window is fixed when it starts, so the worker starts a
 * new one whenever the right window has changed enough (see {@link shouldRestart}).
 *
 * Before any body has been seen a bounded window is 1 (nothing tells how big they are); once one
 * has, the window opens to what fits. A body larger than any recent one can overshoot the bound
 * by its difference; a body larger than the bound is still taken, alone.
 */
export class Holdings {
  private count = 0;
  private bytes = 0;
  private readonly recent: number[] = [];
  private nextSlot = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly maxMessages: number,
  ) {}

  /** Bytes of bodies held now. */
  get heldBytes(): number {
    return this.bytes;
  }

  /** Messages held now. */
  get heldMessages(): number {
    return this.count;
  }

  /** A message was taken. */
  add(size: number): void {
    this.count += 1;
    this.bytes += size;
    if (this.recent.length < this.maxMessages) this.recent.push(size);
    else this.recent[this.nextSlot] = size;
    this.nextSlot = (this.nextSlot + 1) % this.maxMessages;
  }

  /** A message was settled (or given back). */
  remove(size: number): void {
    this.count -= 1;
    this.bytes -= size;
  }

  /** How many messages a consumer started now may take unacked; 0: take none now. */
  window(): number {
    const free = this.maxMessages - this.count;
    if (free <= 0) return 0;
    const fits = this.fits(this.maxBytes - this.bytes);
    // With nothing held, one message is always taken, however large.
    return Math.min(free, this.count === 0 ? Math.max(1, fits) : fits);
  }

  /**
   * Whether the bodies held leave no room for another message (one is always taken while nothing
   * is held). The message count is not the worker's to watch: the broker keeps each consumer
   * within its prefetch.
   */
  bytesExhausted(): boolean {
    return this.count > 0 && this.fits(this.maxBytes - this.bytes) === 0;
  }

  /**
   * Whether a consumer with this window, holding `own` of the messages held, should make way for
   * a new one: only when it holds all of them (so a new window replaces it exactly) and the right
   * window is at least twice as wide, or narrower than what it may still take.
   */
  shouldRestart(consumerWindow: number, own: number): boolean {
    if (own !== this.count) return false;
    const right = this.window() + own;
    return right >= 2 * consumerWindow || right < consumerWindow;
  }

  private fits(room: number): number {
    if (!Number.isFinite(this.maxBytes)) return Number.POSITIVE_INFINITY;
    if (room <= 0) return 0;
    const largest = this.recent.reduce((a, b) => Math.max(a, b), 0);
    if (this.recent.length === 0) return 1;
    return Math.floor(room / Math.max(1, largest));
  }
}
