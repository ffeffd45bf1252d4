import type { Logger } from '@mailer/service';
import { LedgerOutageError, type KeyReservation } from '../domain/email-ledger';
import { KeyAnswers } from './key-answers';

const reservation = (key: string): KeyReservation => ({ client: 'test', key, token: `t-${key}` });

/** A ledger whose `completeKey` calls wait until the test answers them. */
function ledger() {
  const calls: { key: string; status: number; resolve: () => void; reject: (error: Error) => void }[] = [];
  return {
    calls,
    port: {
      completeKey: (held: KeyReservation, status: number) =>
        new Promise<boolean>((resolve, reject) => {
          calls.push({ key: held.key, status, resolve: () => resolve(true), reject });
        }),
    },
  };
}

function recordingLogger() {
  const lines: string[] = [];
  const log = (level: string) => (message: string) => void lines.push(`${level} ${message}`);
  const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  return { lines, logger };
}

describe('KeyAnswers', () => {
  it('when an answer is being stored, then its key is pending until the ledger answers, and other keys are not', async () => {
    const l = ledger();
    const answers = new KeyAnswers({ ledger: l.port, logger: recordingLogger().logger });

    answers.store(reservation('k1'), 202, { id: 'a' });

    expect(l.calls.map((c) => [c.key, c.status])).toEqual([['k1', 202]]);
    const pending = answers.settled('test', 'k1');
    expect(pending).toBeInstanceOf(Promise);
    expect(answers.settled('test', 'k2')).toBeUndefined();
    expect(answers.settled('other-client', 'k1')).toBeUndefined();

    l.calls[0]?.resolve();
    await pending;
    expect(answers.settled('test', 'k1')).toBeUndefined();
    expect(answers.size).toBe(0);
  });

  it('when the ledger is out of reach, then the store resolves all the same and says the key goes stale', async () => {
    const l = ledger();
    const log = recordingLogger();
    const answers = new KeyAnswers({ ledger: l.port, logger: log.logger });

    answers.store(reservation('k1'), 202, {});
    l.calls[0]?.reject(new LedgerOutageError('down'));
    await answers.drain();

    expect(log.lines).toEqual(['warn idempotency answer not stored: a retry takes the key over once it is stale']);
    expect(answers.size).toBe(0);
  });

  it('when the same key is stored again before the first store ends, then the later store is the one waited for', async () => {
    const l = ledger();
    const answers = new KeyAnswers({ ledger: l.port, logger: recordingLogger().logger });

    answers.store(reservation('k1'), 202, {});
    answers.store(reservation('k1'), 202, {});
    const second = answers.settled('test', 'k1');
    l.calls[0]?.resolve();
    await Promise.resolve();
    await Promise.resolve();

    expect(answers.settled('test', 'k1')).toBe(second);
    l.calls[1]?.resolve();
    await second;
    expect(answers.size).toBe(0);
  });

  it('when stopping, then drain waits for every store under way', async () => {
    const l = ledger();
    const answers = new KeyAnswers({ ledger: l.port, logger: recordingLogger().logger });
    answers.store(reservation('k1'), 202, {});
    answers.store(reservation('k2'), 202, {});
    let drained = false;
    const draining = answers.drain().then(() => (drained = true));

    l.calls[0]?.resolve();
    await Promise.resolve();
    expect(drained).toBe(false);
    l.calls[1]?.resolve();
    await draining;
    expect(drained).toBe(true);
  });
});
