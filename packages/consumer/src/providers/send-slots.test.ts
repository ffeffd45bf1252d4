import { ProviderError, SendAbandonedError, SendDeadline } from './provider';
import { SendSlots } from './send-slots';

const forever = new AbortController().signal;

describe('SendSlots', () => {
  it('when fewer sends than slots are asked for, then each gets one at once', async () => {
    const slots = new SendSlots('test', 2);

    await slots.acquire(forever);
    await slots.acquire(forever);

    expect(slots.busy).toBe(2);
    expect(slots.waiting).toBe(0);
  });

  it('when every slot is taken, then the next waits and gets the first one given back, in order', async () => {
    const slots = new SendSlots('test', 1);
    const release = await slots.acquire(forever);
    const order: string[] = [];

    const second = slots.acquire(forever).then((r) => (order.push('second'), r));
    const third = slots.acquire(forever).then((r) => (order.push('third'), r));
    expect(slots.waiting).toBe(2);
    release();
    release(); // a second call gives nothing back twice
    (await second)();
    (await third)();

    expect(order).toEqual(['second', 'third']);
    expect(slots.busy).toBe(0);
  });

  it('when a waiting send is abandoned, then it leaves the queue with SendAbandonedError and the slot goes to the next', async () => {
    const slots = new SendSlots('test', 1);
    const release = await slots.acquire(forever);
    const abandon = new AbortController();

    const abandoned = slots.acquire(forever, { abandon: abandon.signal });
    const next = slots.acquire(forever);
    abandon.abort();
    await expect(abandoned).rejects.toBeInstanceOf(SendAbandonedError);
    expect(slots.waiting).toBe(1);

    release();
    await expect(next).resolves.toBeInstanceOf(Function);
  });

  it('when a waiting send times out, then it rejects with a transient, not ambiguous ProviderError', async () => {
    const slots = new SendSlots('test', 1);
    await slots.acquire(forever);
    const timeout = new AbortController();

    const waiting = slots.acquire(timeout.signal);
    timeout.abort(new Error('timeout'));
    const error: unknown = await waiting.catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ kind: 'transient', ambiguous: false });
    expect(slots.waiting).toBe(0);
  });

  it('when both signals have fired, then abandoned wins: nothing was sent and the provider is not to blame', async () => {
    const slots = new SendSlots('test', 1);

    await expect(slots.acquire(AbortSignal.abort(), { abandon: AbortSignal.abort() })).rejects.toBeInstanceOf(
      SendAbandonedError,
    );
  });

  it('when run settles, then its slot is given back, whether the send resolved or failed', async () => {
    const slots = new SendSlots('test', 1);

    await expect(slots.run(forever, {}, () => Promise.resolve('ok'))).resolves.toBe('ok');
    await expect(slots.run(forever, {}, () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(slots.busy).toBe(0);
  });

  it('when a waiting send runs past its wait bound, then it fails as WAIT_TIMEOUT, not ambiguous, and never starts', async () => {
    const slots = new SendSlots('test', 1);
    await slots.acquire(forever);
    const deadline = new AbortController();
    const onStart = jest.fn(() => Promise.resolve());

    const waiting = slots.start(deadline.signal, { onStart });
    deadline.abort(new SendDeadline('wait', 50));

    await expect(waiting).rejects.toMatchObject({ kind: 'transient', code: 'WAIT_TIMEOUT', ambiguous: false });
    expect(onStart).not.toHaveBeenCalled();
  });

  it('when a send gets a slot, then onStart is called once it owns it, before the send', async () => {
    const slots = new SendSlots('test', 1);
    const order: string[] = [];
    const release = await slots.acquire(forever);

    const running = slots.run(
      forever,
      {
        onStart: () => {
          order.push(`start with ${slots.busy} busy`);
          return Promise.resolve();
        },
      },
      () => (order.push('send'), Promise.resolve('sent')),
    );
    order.push('released');
    release();

    await expect(running).resolves.toBe('sent');
    expect(order).toEqual(['released', 'start with 1 busy', 'send']);
  });

  it('when onStart rejects, then nothing is sent, the slot is given back and run rejects with that error', async () => {
    const slots = new SendSlots('test', 1);
    const send = jest.fn(() => Promise.resolve('sent'));
    const refused = new Error('the ledger says no');

    await expect(slots.run(forever, { onStart: () => Promise.reject(refused) }, send)).rejects.toBe(refused);

    expect(send).not.toHaveBeenCalled();
    expect(slots.busy).toBe(0);
  });

  it('when the send is abandoned while onStart runs, then it is not sent', async () => {
    const slots = new SendSlots('test', 1);
    const abandon = new AbortController();
    const send = jest.fn(() => Promise.resolve('sent'));
    const onStart = (): Promise<void> => {
      abandon.abort();
      return Promise.resolve();
    };

    await expect(slots.run(forever, { abandon: abandon.signal, onStart }, send)).rejects.toBeInstanceOf(
      SendAbandonedError,
    );
    expect(send).not.toHaveBeenCalled();
    expect(slots.busy).toBe(0);
  });

  it('when the size is not at least one, then construction fails', () => {
    expect(() => new SendSlots('test', 0)).toThrow(RangeError);
  });
});
