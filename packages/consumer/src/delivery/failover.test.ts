import {
  ProviderError,
  SendAbandonedError,
  stoppedSendError,
  type EmailProvider,
  type OutboundEmail,
} from '../providers/provider';
import { CircuitBreaker } from './circuit-breaker';
import { deliverOnce, type ProviderSlot } from './failover';
import { RateLimiter } from './rate-limiter';
import type { SendGate } from './send-guard';

const email: OutboundEmail = {
  id: '01a2207a-0000-7000-8000-000000000001',
  request: { from: { email: 'a@example.com' }, to: [{ email: 'b@example.org' }], subject: 's', text: 't' },
};

/**
 * A provider whose answers are scripted; `calls` counts the sends that started. Each send starts
 * at once (it has a connection whenever it asks), calling `onStart` as the contract says.
 */
function scripted(name: string, answers: (ProviderError | 'ok' | 'hang')[]): EmailProvider & { calls: number } {
  return {
    name,
    calls: 0,
    async send(_email, _signal, options) {
      await options?.onStart?.();
      const answer = answers[Math.min(this.calls, answers.length - 1)];
      this.calls += 1;
      if (answer === 'ok') return { providerMessageId: `${name}-${this.calls}` };
      if (answer === 'hang') return new Promise(() => undefined);
      throw answer ?? new Error('no answer scripted');
    },
  };
}

function slot(provider: EmailProvider, timeoutMs = 1000, now: () => number = Date.now): ProviderSlot {
  return {
    provider,
    circuit: new CircuitBreaker({ failureThreshold: 2, coolDownMs: 60_000, now }),
    limiter: new RateLimiter(Number.POSITIVE_INFINITY),
    timeoutMs,
  };
}

const transient = () => new ProviderError('transient', '503 from provider', { code: '503' });
const rejected = () => new ProviderError('recipient-rejected', 'inactive recipient', { code: '406' });
const unavailable = () => new ProviderError('provider-unavailable', 'bad token', { code: '10' });

describe('deliverOnce', () => {
  it('when the first provider takes the email, then it is sent once, through it', async () => {
    const a = scripted('a', ['ok']);
    const b = scripted('b', ['ok']);

    const outcome = await deliverOnce([slot(a), slot(b)], email);

    expect(outcome).toMatchObject({ kind: 'sent', provider: 'a' });
    expect([a.calls, b.calls]).toEqual([1, 0]);
  });

  it('when the first provider fails transiently, then the second sends it: exactly one send', async () => {
    const a = scripted('a', [transient()]);
    const b = scripted('b', ['ok']);

    const outcome = await deliverOnce([slot(a), slot(b)], email);

    expect(outcome).toMatchObject({ kind: 'sent', provider: 'b' });
    expect(outcome.tried.map((t) => [t.provider, t.outcome])).toEqual([
      ['a', 'transient'],
      ['b', 'sent'],
    ]);
  });

  it('when the recipient is rejected, then no other provider is tried', async () => {
    const a = scripted('a', [rejected()]);
    const b = scripted('b', ['ok']);

    const outcome = await deliverOnce([slot(a), slot(b)], email);

    expect(outcome).toMatchObject({ kind: 'rejected', error: { kind: 'recipient-rejected' } });
    expect(b.calls).toBe(0);
  });

  it('when a provider is unavailable, then its circuit opens at once and later attempts skip it', async () => {
    const a = scripted('a', [unavailable()]);
    const b = scripted('b', ['ok']);
    const slots = [slot(a), slot(b)];

    await deliverOnce(slots, email);
    const second = await deliverOnce(slots, email);

    expect(a.calls).toBe(1);
    expect(second.tried[0]).toEqual({ provider: 'a', outcome: 'skipped-open-circuit' });
    expect(second).toMatchObject({ kind: 'sent', provider: 'b' });
  });

  it('when every provider fails, then the outcome is failed with the last error', async () => {
    const outcome = await deliverOnce(
      [slot(scripted('a', [transient()])), slot(scripted('b', [unavailable()]))],
      email,
    );

    expect(outcome).toMatchObject({ kind: 'failed', error: { kind: 'provider-unavailable' } });
  });

  it('when a provider hangs past its timeout, then the failure is transient and ambiguous, and the next is tried', async () => {
    const b = scripted('b', ['ok']);

    const outcome = await deliverOnce([slot(scripted('a', ['hang']), 20), slot(b)], email);

    expect(outcome).toMatchObject({ kind: 'sent', provider: 'b' });
    expect(outcome.tried[0]?.error).toMatchObject({ kind: 'transient', ambiguous: true, code: 'TIMEOUT' });
  });

  it('when a send waits for a connection past its wait bound, then it fails as WAIT_TIMEOUT, not ambiguous, the circuit is not counted and the next is tried', async () => {
    // An adapter whose connection never comes free: its sends wait until their signal aborts.
    const busy: EmailProvider = {
      name: 'busy',
      send: (_email, signal) =>
        new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(stoppedSendError('busy', signal.reason, false))),
        ),
    };
    const b = scripted('b', ['ok']);
    const a = { ...slot(busy, 1000), waitTimeoutMs: 20 };

    const outcome = await deliverOnce([a, slot(b)], email);

    expect(outcome).toMatchObject({ kind: 'sent', provider: 'b' });
    expect(outcome.tried[0]?.error).toMatchObject({ kind: 'transient', ambiguous: false, code: 'WAIT_TIMEOUT' });
    expect(a.circuit.state).toBe('closed');
    await deliverOnce([a, slot(b)], email);
    expect(a.circuit.state).toBe('closed');
  });

  it('when a send waits long for its connection, then its provider timeout starts only once it has one', async () => {
    // The connection comes free after twice the provider timeout; the provider then answers at once.
    const queued: EmailProvider = {
      name: 'queued',
      send: async (_email, signal, options) => {
        await new Promise((resolve) => setTimeout(resolve, 80));
        await options?.onStart?.();
        if (signal.aborted) throw stoppedSendError('queued', signal.reason, true);
        return { providerMessageId: 'q-1' };
      },
    };

    await expect(deliverOnce([slot(queued, 40)], email)).resolves.toMatchObject({ kind: 'sent', provider: 'queued' });
  });

  it('when the gate says no at the start of a send, then the provider sends nothing and the outcome is stopped', async () => {
    const a = scripted('a', ['ok']);
    const gate: SendGate = {
      beforeSend: () => Promise.resolve({ send: false, why: 'already-sent' }),
      failed: () => undefined,
    };

    const outcome = await deliverOnce([slot(a)], email, undefined, gate);

    expect(outcome).toMatchObject({ kind: 'stopped', verdict: { why: 'already-sent' } });
    expect(a.calls).toBe(0);
  });

  it('when an adapter throws something other than a ProviderError, then it counts as transient', async () => {
    const broken: EmailProvider = { name: 'broken', send: () => Promise.reject(new TypeError('bug')) };

    const outcome = await deliverOnce([slot(broken)], email);

    expect(outcome).toMatchObject({ kind: 'failed', error: { kind: 'transient' } });
  });

  it('when every circuit is open, then nothing is sent and the outcome is unavailable until the first probe is due', async () => {
    let now = 1_000_000;
    const a = slot(scripted('a', ['ok']), 1000, () => now);
    const b = slot(scripted('b', ['ok']), 1000, () => now);
    b.circuit.open();
    now += 20_000;
    a.circuit.open();

    const outcome = await deliverOnce([a, b], email);

    // b opened first, so its cool-down ends first.
    expect(outcome).toMatchObject({ kind: 'unavailable', resumeInMs: 40_000 });
  });

  it("when the only circuit's probe is out, then the outcome is unavailable for a short recheck", async () => {
    let now = 1_000_000;
    const a = slot(scripted('a', ['ok']), 500, () => now);
    a.circuit.open();
    now += 60_000;
    expect(a.circuit.tryAcquire()).toBe(true);

    const outcome = await deliverOnce([a], email);

    expect(outcome).toMatchObject({ kind: 'unavailable', resumeInMs: 500 });
  });

  it('when the adapter abandons a send waiting for a connection, then the outcome is abandoned and the circuit is untouched', async () => {
    const waiting: EmailProvider = {
      name: 'waiting',
      send: (_email, _signal, options) =>
        new Promise((_, reject) =>
          options?.abandon?.addEventListener('abort', () => reject(new SendAbandonedError('waiting'))),
        ),
    };
    const a = slot(waiting);
    const abandon = new AbortController();

    const delivering = deliverOnce([a], email, abandon.signal);
    abandon.abort();

    await expect(delivering).resolves.toEqual({ kind: 'abandoned', tried: [] });
    expect(a.circuit.state).toBe('closed');
  });

  it("when the circuit's probe is abandoned, then the next caller gets the probe", async () => {
    let now = 1_000_000;
    const a = slot(scripted('a', ['ok']), 1000, () => now);
    a.circuit.open();
    now += 60_000;
    const abandon = new AbortController();
    abandon.abort();

    await expect(deliverOnce([a], email, abandon.signal)).resolves.toMatchObject({ kind: 'abandoned' });

    expect(a.circuit.tryAcquire()).toBe(true);
  });

  it('when the message is abandoned (its channel closed), then no send starts', async () => {
    const a = scripted('a', ['ok']);
    const abandon = new AbortController();
    abandon.abort();

    const outcome = await deliverOnce([slot(a)], email, abandon.signal);

    expect(outcome).toEqual({ kind: 'abandoned', tried: [] });
    expect(a.calls).toBe(0);
  });
});

describe('deliverOnce: recipients refused by name', () => {
  const two: OutboundEmail = {
    ...email,
    request: { ...email.request, to: [{ email: 'b@example.org' }], cc: [{ email: 'c@example.org' }] },
  };
  const refusing = (...addresses: string[]) =>
    new ProviderError('recipient-rejected', 'inactive recipient', {
      code: '406',
      refused: addresses.map((address) => ({
        address,
        reason: 'postmark 406 inactive recipient',
        onProviderList: true,
      })),
    });
  /** A provider keeping the recipients of each send that started. */
  function recording(name: string, answers: (ProviderError | 'ok')[]) {
    const sentTo: string[][] = [];
    const provider: EmailProvider = {
      name,
      async send(sent, _signal, options) {
        await options?.onStart?.();
        sentTo.push([...(sent.request.to ?? []), ...(sent.request.cc ?? [])].map((a) => a.email));
        const answer = answers.shift() ?? 'ok';
        if (answer === 'ok') return { providerMessageId: `${name}-${sentTo.length}` };
        throw answer;
      },
    };
    return { provider, sentTo };
  }

  it('when one of two is refused by name, then the same provider sends at once to the other, the next gets nothing, and the gate hears of the refused try', async () => {
    const a = recording('a', [refusing('C@example.org')]);
    const b = recording('b', []);
    const failed: string[] = [];
    const gate: SendGate = {
      beforeSend: () => Promise.resolve({ send: true }),
      failed: (provider, error) => failed.push(`${provider} ${error.kind}`),
    };
    const slots = [slot(a.provider), slot(b.provider)];

    const outcome = await deliverOnce(slots, two, undefined, gate);

    expect(a.sentTo).toEqual([['b@example.org', 'c@example.org'], ['b@example.org']]);
    expect(b.sentTo).toEqual([]);
    expect(failed).toEqual(['a recipient-rejected']);
    expect(outcome).toMatchObject({
      kind: 'sent',
      provider: 'a',
      receipt: { providerMessageId: 'a-2' },
      refused: [{ address: 'C@example.org', provider: 'a', onProviderList: true }],
    });
    expect(outcome.tried.map((t) => `${t.provider} ${t.outcome}`)).toEqual(['a recipient-rejected', 'a sent']);
    expect(slots[0]?.circuit.state).toBe('closed');
  });

  it('when every recipient is refused by name, then nothing is sent again or failed over, and all are refused', async () => {
    const a = recording('a', [refusing('b@example.org', 'c@example.org')]);
    const b = recording('b', []);

    const outcome = await deliverOnce([slot(a.provider), slot(b.provider)], two);

    expect(a.sentTo).toHaveLength(1);
    expect(b.sentTo).toEqual([]);
    expect(outcome).toMatchObject({ kind: 'rejected', allRefused: true });
    expect(outcome.kind === 'rejected' && outcome.refused.map((r) => r.address)).toEqual([
      'b@example.org',
      'c@example.org',
    ]);
  });

  it('when the refusal names nobody of the email, then it is rejected as before, nobody refused', async () => {
    const a = recording('a', [refusing('stranger@example.com')]);

    const outcome = await deliverOnce([slot(a.provider)], two);

    expect(outcome).toMatchObject({ kind: 'rejected', allRefused: false, refused: [] });
    expect(a.sentTo).toHaveLength(1);
  });

  it('when the second send fails for now, then the next provider gets the email without the refused recipient', async () => {
    const a = recording('a', [refusing('c@example.org'), transient()]);
    const b = recording('b', []);

    const outcome = await deliverOnce([slot(a.provider), slot(b.provider)], two);

    expect(b.sentTo).toEqual([['b@example.org']]);
    expect(outcome).toMatchObject({ kind: 'sent', provider: 'b', refused: [{ address: 'c@example.org' }] });
  });
});
