/** How a {@link Batcher} groups calls. */
export interface BatcherOptions<I, O> {
  /** Runs one batch; resolves with one result per item, in the items' order. */
  readonly run: (items: readonly I[]) => Promise<readonly O[]>;
  /** Most items in one batch; 1 turns batching off (one statement per call). */
  readonly maxItems: number;
  /**
   * Most batches under way at once (at most the pool size). Calls made while all are busy wait
   * and go out together in the next one: the busier the database, the larger the batches.
   */
  readonly maxConcurrent: number;
}

/** The grouping part of {@link BatcherOptions}: the same for every batcher of one ledger. */
export type BatchShape = Pick<BatcherOptions<unknown, unknown>, 'maxItems' | 'maxConcurrent'>;

interface Waiting<I, O> {
  readonly item: I;
  readonly resolve: (value: O) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Collects the calls made within one turn of the event loop (or until `maxItems`) and runs them
 * as one batch, resolving each caller's promise with its own result. When a batch fails, every
 * caller in it is rejected with that error.
 */
export class Batcher<I, O> {
  private queue: Waiting<I, O>[] = [];
  private running = 0;
  private scheduled = false;

  constructor(private readonly options: BatcherOptions<I, O>) {
    if (options.maxItems < 1 || options.maxConcurrent < 1)
      throw new RangeError('maxItems and maxConcurrent must be >= 1');
  }

  /** Adds one call to the next batch; settles when that batch has run. */
  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.options.maxItems) this.flush();
      else this.schedule();
    });
  }

  /** Calls waiting for a batch. */
  get pending(): number {
    return this.queue.length;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.queue.length > 0 && this.running < this.options.maxConcurrent) {
      const batch = this.queue.splice(0, this.options.maxItems);
      this.running++;
      void this.runBatch(batch);
    }
  }

  private async runBatch(batch: Waiting<I, O>[]): Promise<void> {
    try {
      const results = await this.options.run(batch.map((w) => w.item));
      if (results.length !== batch.length) throw new Error(`batch of ${batch.length} gave ${results.length} results`);
      batch.forEach((w, k) => w.resolve(results[k] as O));
    } catch (error) {
      for (const w of batch) w.reject(error);
    } finally {
      this.running--;
      // What arrived while every batch was busy goes out now, grouped.
      if (this.queue.length > 0) this.schedule();
    }
  }
}
