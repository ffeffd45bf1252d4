import { ProviderError, type EmailProvider, type OutboundEmail } from '../providers/provider';
import { CircuitBreaker } from './circuit-breaker';
import { deliverOnce, type ProviderSlot } from './failover';
import { RateLimiter } from './rate-limiter';

const email: OutboundEmail = {
  id: '01a2207a-0000-7000-8000-000000000001',
  request: { from: { email: 'a@example.com' }, to: [{ email: 'b@example.org' }], subject: 's', text: 't' },
};

/** A provider whose answers are scripted; it records every call. */
function scripted(name: string, answers: (ProviderError | 'ok' | 'hang')[]): EmailProvider & { calls: number } {
  return {
    name,
    calls: 0,
    send(_email, signal) {
      const answer = answers[Math.min(this.calls, answers.length - 1)];
      this.calls += 1;
      if (answer === 'ok') return Promise.resolve({ providerMessageId: `${name}-${this.calls}` });
      if (answer === 'hang')
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
      return Promise.reject(answer ?? new Error('no answer scripted'));
    },
  };
}

function slot(provider: EmailProvider, timeoutMs = 1000): ProviderSlot {
  return {
    provider,
    circuit: new CircuitBreaker({ failureThreshold: 2, coolDownMs: 60_000 }),
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

  it('when an adapter throws something other than a ProviderError, then it counts as transient', async () => {
    const broken: EmailProvider = { name: 'broken', send: () => Promise.reject(new TypeError('bug')) };

    const outcome = await deliverOnce([slot(broken)], email);

    expect(outcome).toMatchObject({ kind: 'failed', error: { kind: 'transient' } });
  });

  it('when every circuit is open, then nothing is sent and the outcome is failed (retry later)', async () => {
    const a = slot(scripted('a', ['ok']));
    a.circuit.open();

    const outcome = await deliverOnce([a], email);

    expect(outcome).toMatchObject({ kind: 'failed', error: { code: 'ALL_CIRCUITS_OPEN' } });
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
