import { Batcher } from './batcher';

/** A run that records each batch it gets and answers when told to. */
function recordingRun() {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  const run = (items: readonly number[]): Promise<number[]> => {
    batches.push([...items]);
    return new Promise((resolve) => gates.push(() => resolve(items.map((n) => n * 10))));
  };
  const openAll = () => gates.splice(0).forEach((open) => open());
  return { batches, run, openAll };
}

describe('Batcher', () => {
  test('when calls are made in one turn, then they run as one batch and each gets its own result', async () => {
    const { batches, run, openAll } = recordingRun();
    const batcher = new Batcher({ run, maxItems: 100, maxConcurrent: 1 });
    const results = Promise.all([1, 2, 3].map((n) => batcher.add(n)));
    await new Promise((resolve) => setImmediate(resolve));
    openAll();
    expect(await results).toEqual([10, 20, 30]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  test('when maxItems calls are waiting, then a batch goes out without waiting for the turn to end', () => {
    const { batches, run } = recordingRun();
    const batcher = new Batcher({ run, maxItems: 2, maxConcurrent: 5 });
    void batcher.add(1);
    void batcher.add(2);
    void batcher.add(3);
    expect(batches).toEqual([[1, 2]]);
    expect(batcher.pending).toBe(1);
  });

  test('when every batch is busy, then later calls wait and go out together once one finishes', async () => {
    const { batches, run, openAll } = recordingRun();
    const batcher = new Batcher({ run, maxItems: 100, maxConcurrent: 1 });
    const first = batcher.add(1);
    await new Promise((resolve) => setImmediate(resolve));
    const later = [2, 3, 4].map((n) => batcher.add(n));
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([[1]]);
    openAll();
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([[1], [2, 3, 4]]);
    openAll();
    expect(await Promise.all(later)).toEqual([20, 30, 40]);
  });

  test('when a batch fails, then every caller in it is rejected with that error and later batches still run', async () => {
    let fail = true;
    const batcher = new Batcher<number, number>({
      run: (items) => (fail ? Promise.reject(new Error('down')) : Promise.resolve(items.map((n) => n + 1))),
      maxItems: 10,
      maxConcurrent: 1,
    });
    const failed = await Promise.allSettled([1, 2, 3].map((n) => batcher.add(n)));
    expect(failed.map((r) => r.status === 'rejected' && (r.reason as Error).message)).toEqual(['down', 'down', 'down']);
    fail = false;
    expect(await batcher.add(7)).toBe(8);
  });

  test('when a run returns the wrong number of results, then its callers are rejected rather than given wrong answers', async () => {
    const batcher = new Batcher<number, number>({ run: () => Promise.resolve([1]), maxItems: 10, maxConcurrent: 1 });
    const results = await Promise.allSettled([batcher.add(1), batcher.add(2)]);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
  });

  test('when maxItems or maxConcurrent is below 1, then it is refused', () => {
    const run = () => Promise.resolve([]);
    expect(() => new Batcher({ run, maxItems: 0, maxConcurrent: 1 })).toThrow(RangeError);
    expect(() => new Batcher({ run, maxItems: 1, maxConcurrent: 0 })).toThrow(RangeError);
  });
});
