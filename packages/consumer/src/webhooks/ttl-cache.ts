/**
 * A small cache of recent answers (the store's endpoint lookups), each kept `ttlMs`, at most
 * `maxEntries` (the oldest entry goes first). Concurrent asks for one key share one load.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { readonly value: Promise<V>; readonly until: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The cached value of `key`, or `load()`'s (a failed load is not kept). */
  get(key: string, load: () => Promise<V>): Promise<V> {
    const now = this.now();
    const hit = this.entries.get(key);
    if (hit !== undefined && hit.until > now) return hit.value;
    this.entries.delete(key);
    const value = load();
    this.entries.set(key, { value, until: now + this.ttlMs });
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
    return value;
  }

  /** Forgets `key` (its endpoint changed: disabled by this process). */
  delete(key: string): void {
    this.entries.delete(key);
  }
}
