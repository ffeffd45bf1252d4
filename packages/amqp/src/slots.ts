/**
 * A counting semaphore whose waiters give up at a deadline. Bounds the publishes awaiting a
 * confirm: amqplib itself buffers without limit.
 */
export class Slots {
  private used = 0;
  private readonly waiters: { grant: () => void; timer: NodeJS.Timeout }[] = [];

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

  /** Gives a slot back, handing it straight to the longest waiter if there is one. */
  release(): void {
    if (this.used === 0) throw new Error('Slots.release() without a matching acquire()');
    const next = this.waiters.shift();
    if (next === undefined) this.used -= 1;
    else next.grant();
  }
}
