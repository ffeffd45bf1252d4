import { Registry } from '@mailer/service';
import type { PauseReason } from '../amqp/delivery-worker';
import { ConsumerHttpPort, consumerReadiness } from './http-port';

describe('consumerReadiness', () => {
  const state = (connected: boolean, paused: PauseReason | undefined) =>
    consumerReadiness({
      broker: {
        readiness: () => (connected ? { ready: true } : { ready: false, reason: 'not connected to the broker' }),
      },
      worker: { paused },
    });

  it.each<[boolean, PauseReason | undefined, boolean]>([
    [true, undefined, true],
    [true, 'held-bytes', true],
    [true, 'ledger-unavailable', false],
    [true, 'providers-unavailable', false],
    [true, 'stopping', false],
    [false, undefined, false],
  ])('connected %s, paused %s: ready %s', (connected, paused, ready) => {
    const answer = state(connected, paused);
    expect(answer.ready).toBe(ready);
    if (!ready) expect(answer.reason).toEqual(expect.any(String));
  });
});

describe('consumerReadiness with the providers checked', () => {
  const broker = { readiness: () => ({ ready: true }) };
  const noProvider = { readiness: () => ({ ready: false, reason: 'no provider answered its check (ses)' }) };

  it('when every provider failed its check, then it is not ready and says so', () => {
    expect(consumerReadiness({ broker, worker: { paused: undefined }, providers: noProvider })).toEqual({
      ready: false,
      reason: 'no provider answered its check (ses)',
    });
  });

  it('when the worker is paused as well, then the pause is the reason given', () => {
    expect(consumerReadiness({ broker, worker: { paused: 'ledger-unavailable' }, providers: noProvider })).toEqual({
      ready: false,
      reason: 'the ledger is unavailable; nothing is sent until it answers',
    });
  });

  it('when the checks say ready, then it is ready', () => {
    const some = { readiness: () => ({ ready: true }) };
    expect(consumerReadiness({ broker, worker: { paused: undefined }, providers: some })).toEqual({ ready: true });
  });
});

describe('ConsumerHttpPort', () => {
  it('answers /readyz 503 problem+json with the reason while not ready, 200 once ready', async () => {
    let ready = false;
    const port = new ConsumerHttpPort(new Registry(), () =>
      ready ? { ready: true } : { ready: false, reason: 'the ledger is unavailable' },
    );
    const url = `http://127.0.0.1:${await port.listen(0, '127.0.0.1')}`;
    try {
      const refused = await fetch(`${url}/readyz`);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-type')).toBe('application/problem+json');
      expect(await refused.json()).toMatchObject({ status: 503, reason: 'the ledger is unavailable' });
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect((await fetch(`${url}/metrics`, { method: 'POST' })).status).toBe(405);
      ready = true;
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
    } finally {
      await port.close();
    }
  });

  it.each([
    ['0.0.0.0', true],
    ['127.0.0.1', false],
  ])('when it listens on %s, then another loopback address (127.0.0.2) reaches it: %s', async (host, reached) => {
    const port = new ConsumerHttpPort(new Registry(), () => ({ ready: true }));
    const number = await port.listen(0, host);
    try {
      const answer = fetch(`http://127.0.0.2:${number}/healthz`).then(
        (response) => response.status,
        () => 'refused',
      );

      expect(await answer).toBe(reached ? 200 : 'refused');
    } finally {
      await port.close();
    }
  });
});
