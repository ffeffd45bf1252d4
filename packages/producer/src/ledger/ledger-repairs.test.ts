import type { Logger } from '@mailer/service';
import { LedgerOutageError, type KeyReservation } from '../domain/email-ledger';
import { LedgerRepairs } from './ledger-repairs';

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const key = (n: number): KeyReservation => ({ client: 'test', key: `k${n}`, token: `t${n}` });

/** A ledger that is down until `up()`, recording the calls it answered. */
function ledger() {
  let down = true;
  const calls: string[] = [];
  const answer = <T>(call: string, value: T): Promise<T> => {
    if (down) return Promise.reject(new LedgerOutageError('down'));
    calls.push(call);
    return Promise.resolve(value);
  };
  return {
    calls,
    up: () => (down = false),
    port: {
      discardUnpublished: (ids: readonly string[]) => answer(`discard ${ids.join(',')}`, undefined),
      releaseKey: (reservation: KeyReservation) => answer(`release ${reservation.key}`, true),
    },
  };
}

describe('LedgerRepairs', () => {
  it('when the ledger is down, then a round does nothing and keeps every repair, in order', async () => {
    const l = ledger();
    const repairs = new LedgerRepairs({ ledger: l.port, logger: quiet, firstDelayMs: 60_000 });
    repairs.add({ discard: ['a'], release: key(1) });
    repairs.add({ discard: [], release: key(2) });

    expect(await repairs.round()).toBe(0);
    expect(repairs.size).toBe(2);

    l.up();
    expect(await repairs.round()).toBe(2);
    expect(l.calls).toEqual(['discard a', 'release k1', 'release k2']);
    expect(repairs.size).toBe(0);
    await repairs.stop();
  });

  it('when the ledger comes back, then the scheduled rounds apply the repairs by themselves', async () => {
    const l = ledger();
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const logger: Logger = { ...quiet, info: (message) => message === 'ledger repairs done' && done() };
    const repairs = new LedgerRepairs({ ledger: l.port, logger, firstDelayMs: 5, maxDelayMs: 20 });
    repairs.add({ discard: ['a', 'b'], release: key(1) });
    l.up();

    await finished;
    expect(l.calls).toEqual(['discard a,b', 'release k1']);
    await repairs.stop();
  });

  it('when more than maxPending wait, then the oldest is dropped', async () => {
    const l = ledger();
    const repairs = new LedgerRepairs({ ledger: l.port, logger: quiet, maxPending: 2, firstDelayMs: 60_000 });
    for (const n of [1, 2, 3]) repairs.add({ discard: [], release: key(n) });
    l.up();

    await repairs.round();
    expect(l.calls).toEqual(['release k2', 'release k3']);
    await repairs.stop();
  });

  it('when a repair fails for another reason than an outage, then it is dropped and the next goes on', async () => {
    const l = ledger();
    l.up();
    const errors: string[] = [];
    const port = {
      ...l.port,
      discardUnpublished: (ids: readonly string[]) =>
        ids.includes('bad') ? Promise.reject(new Error('bug')) : l.port.discardUnpublished(ids),
    };
    const repairs = new LedgerRepairs({
      ledger: port,
      logger: { ...quiet, error: (message) => errors.push(message) },
      firstDelayMs: 60_000,
    });
    repairs.add({ discard: ['bad'] });
    repairs.add({ discard: ['good'] });

    expect(await repairs.round()).toBe(2);
    expect(l.calls).toEqual(['discard good']);
    expect(errors).toEqual(['a ledger repair failed; dropped']);
    await repairs.stop();
  });

  it('when stopped, then nothing more is kept or tried', async () => {
    const l = ledger();
    const repairs = new LedgerRepairs({ ledger: l.port, logger: quiet, firstDelayMs: 1 });
    await repairs.stop();
    repairs.add({ discard: ['a'] });
    expect(repairs.size).toBe(0);
  });
});
