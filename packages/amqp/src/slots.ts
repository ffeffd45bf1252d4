/**
 * A counting semaphore whose waiters give up at a deadline. Bounds the publishes awaiting a
 * confirm: amqplib itself buffers without limit.
 */
export class Slots {
  private used = 0;
  private readonly waiters: { grant: () => void; refuse: () => void; deadline: number; timer: NodeJS.Timeout }[] = [];

  constructor(private readonly capacity: number) {}

  /** Publishes currently holding a slot. */
  get inUse(): number {
    return this.used;
  }

  /** Takes a slot, waiting until `deadline` (epoch ms) at the latest; false if none came free. */
  acquire(deadline: number): Promise<boolean> {
    if (this.used < this.capacity) {
      this.used += 1;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const waiter = {
        grant: () => {
          clearTimeout(waiter.timer);
          resolve(true);
        },
        refuse: () => {
          clearTimeout(waiter.timer);
          resolve(false);
        },
        deadline,
        timer: setTimeout(
          () => {
            this.waiters.splice(this.waiters.indexOf(waiter), 1);
            resolve(false);
          },
          Math.max(0, deadline - Date.now()),
        ),
      };
      this.waiters.push(waiter);
    });
  }

  /**
   * Gives a slot back, handing it straight to the longest waiter if there is one. A waiter whose
   * deadline has passed (its timer not run yet: both fell due in the same millisecond) is told
   * false instead: a slot freed at the deadline came too late.
   */
  release(): void {
    if (this.used === 0) throw new Error('Slots.release() without a matching acquire()');
    for (;;) {
      const next = this.waiters.shift();
      if (next === undefined) {
        this.used -= 1;
        return;
      }
      if (Date.now() < next.deadline) {
        next.grant();
        return;
      }
      next.refuse();
    }
  }
}
