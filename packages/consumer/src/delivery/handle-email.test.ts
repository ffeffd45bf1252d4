import { DeliveryHeaders, ENVELOPE_VERSION, buildTopology, type EmailRequest } from '@mailer/contract';
import { ProviderError, type EmailProvider } from '../providers/provider';
import { CircuitBreaker } from './circuit-breaker';
import type { ProviderSlot } from './failover';
import { handleEmail, type HandleDeps, type IncomingMessage } from './handle-email';
import { RateLimiter } from './rate-limiter';
import type { ClaimAnswer, DeliveryLedger, InDoubtPolicy } from './send-guard';

const tiers = buildTopology({ prefix: 'unit', retryDelaysMs: [10_000, 60_000], deliveryLimit: 5 }).retryTiers;
const ID = '01a2207a-0000-7000-8000-0000000000aa';
const NOW = new Date('2026-12-03T08:00:00.000Z');

const request: EmailRequest = {
  from: { email: 'sender@example.com' },
  to: [{ email: 'to@example.org' }],
  subject: 'Hello',
  text: 'Hi.',
};

function queued(overrides: Record<string, unknown> = {}, headers: Record<string, unknown> = {}): IncomingMessage {
  const envelope = {
    version: ENVELOPE_VERSION,
    id: ID,
    accepted_at: '2026-12-03T07:59:00.000Z',
    client: 'test',
    request,
    ...overrides,
  };
  return { body: Buffer.from(JSON.stringify(envelope)), headers };
}

/** A provider whose one answer is scripted; `calls` counts the sends that started (`onStart` resolved). */
function provider(name: string, answer: 'ok' | ProviderError): EmailProvider & { calls: number } {
  return {
    name,
    calls: 0,
    async send(_email, _signal, options) {
      await options?.onStart?.();
      this.calls += 1;
      if (answer === 'ok') return { providerMessageId: `${name}-1` };
      throw answer;
    },
  };
}

function deps(providers: EmailProvider[], maxAttempts = 3): HandleDeps & { chain: ProviderSlot[] } {
  return {
    chain: providers.map((p) => ({
      provider: p,
      circuit: new CircuitBreaker({ failureThreshold: 5, coolDownMs: 30_000, now: () => NOW.getTime() }),
      limiter: new RateLimiter(Number.POSITIVE_INFINITY),
      timeoutMs: 1000,
    })),
    policy: { maxAttempts, maxAgeMs: 24 * 3_600_000, tiers },
    now: () => NOW,
  };
}

const transient = () => new ProviderError('transient', '503 from provider', { code: '503' });

describe('handleEmail', () => {
  it('when a provider takes the email, then it is sent, as the first attempt', async () => {
    const a = provider('a', 'ok');

    await expect(handleEmail(deps([a]), queued())).resolves.toEqual({
      action: 'sent',
      id: ID,
      provider: 'a',
      attempts: 1,
    });
    expect(a.calls).toBe(1);
  });

  it('when the body is not JSON, then it is parked as undecodable, with no id and no provider tried', async () => {
    const a = provider('a', 'ok');

    const settlement = await handleEmail(deps([a]), { body: Buffer.from('not json'), headers: {} });

    expect(settlement).toMatchObject({ action: 'park', id: undefined, reason: 'undecodable' });
    expect(a.calls).toBe(0);
  });

  it('when the envelope has an unknown version, then it is parked as undecodable', async () => {
    const settlement = await handleEmail(deps([provider('a', 'ok')]), queued({ version: 99 }));

    expect(settlement).toMatchObject({ action: 'park', reason: 'undecodable' });
  });

  it('when the request fails the schema, then it is parked as invalid under its id, the problem named', async () => {
    const settlement = await handleEmail(deps([provider('a', 'ok')]), queued({ request: { ...request, to: [] } }));

    expect(settlement).toMatchObject({ action: 'park', id: ID, reason: 'invalid' });
    if (settlement.action !== 'park') throw new Error('expected a park');
    expect(settlement.headers[DeliveryHeaders.lastFailureKind]).toBe('invalid');
    expect(String(settlement.headers[DeliveryHeaders.lastFailure])).toContain('/to');
  });

  it('when the provider refuses the recipient, then it is parked at once with the failure in its headers', async () => {
    const refusal = new ProviderError('recipient-rejected', 'inactive recipient', { code: '406' });

    const settlement = await handleEmail(deps([provider('a', refusal)]), queued());

    expect(settlement).toMatchObject({
      action: 'park',
      id: ID,
      reason: 'recipient-rejected',
      headers: {
        [DeliveryHeaders.attempts]: 1,
        [DeliveryHeaders.providersTried]: 'a',
        [DeliveryHeaders.lastFailureKind]: 'recipient-rejected',
        [DeliveryHeaders.lastFailure]: 'a: inactive recipient',
      },
    });
  });

  it("when the provider's refusal quotes the recipients, then the failure header holds them masked", async () => {
    const refusal = new ProviderError(
      'recipient-rejected',
      "RCPT TO: Can't send mail - all recipients were rejected: 550 5.1.1 <jane.doe@example.org>: Recipient address rejected",
      { code: '550' },
    );

    const settlement = await handleEmail(deps([provider('a', refusal)]), queued());

    expect(settlement.action === 'park' && settlement.headers[DeliveryHeaders.lastFailure]).toBe(
      "a: RCPT TO: Can't send mail - all recipients were rejected: 550 5.1.1 <j***@example.org>: Recipient address rejected",
    );
  });

  it('when the schema problem names an address (a property named after one), then the failure header holds it masked', async () => {
    const settlement = await handleEmail(
      deps([provider('a', 'ok')]),
      queued({ request: { ...request, 'jane.doe@example.org': true } }),
    );

    expect(settlement).toMatchObject({ action: 'park', reason: 'invalid' });
    const header = String(settlement.action === 'park' && settlement.headers[DeliveryHeaders.lastFailure]);
    expect(header).toContain('***@example.org is not an allowed property');
    expect(header).not.toContain('jane.doe@');
  });

  it('when every provider fails transiently, then it is retried through the first tier with its history', async () => {
    const settlement = await handleEmail(deps([provider('a', transient()), provider('b', transient())]), queued());

    expect(settlement).toMatchObject({
      action: 'retry',
      id: ID,
      tier: { routingKey: tiers[0]!.routingKey },
      headers: {
        [DeliveryHeaders.attempts]: 1,
        [DeliveryHeaders.firstAttemptAt]: NOW.toISOString(),
        [DeliveryHeaders.providersTried]: 'a,b',
        [DeliveryHeaders.lastFailureKind]: 'transient',
      },
    });
  });

  it('when earlier attempts are in the headers, then the history carries on from them', async () => {
    const first = '2026-12-03T07:00:00.000Z';
    const message = queued(
      {},
      { [DeliveryHeaders.attempts]: 1, [DeliveryHeaders.firstAttemptAt]: first, [DeliveryHeaders.providersTried]: 'a' },
    );

    const settlement = await handleEmail(deps([provider('a', transient())]), message);

    expect(settlement).toMatchObject({
      action: 'retry',
      tier: { routingKey: tiers[1]!.routingKey },
      headers: {
        [DeliveryHeaders.attempts]: 2,
        [DeliveryHeaders.firstAttemptAt]: first,
        [DeliveryHeaders.providersTried]: 'a,a',
      },
    });
  });

  it('when the last attempt fails, then it is parked as max-attempts', async () => {
    const message = queued({}, { [DeliveryHeaders.attempts]: 2 });

    const settlement = await handleEmail(deps([provider('a', transient())], 3), message);

    expect(settlement).toMatchObject({
      action: 'park',
      reason: 'max-attempts',
      headers: { [DeliveryHeaders.attempts]: 3 },
    });
  });

  it('when every circuit is open, then it is held until the first probe is due, no provider called, with a retry as the fallback', async () => {
    const a = provider('a', 'ok');
    const handling = deps([a]);
    handling.chain[0]!.circuit.open();

    const settlement = await handleEmail(handling, queued());

    expect(settlement).toMatchObject({
      action: 'hold',
      id: ID,
      resumeInMs: 30_000,
      otherwise: { action: 'retry', headers: { [DeliveryHeaders.lastFailure]: 'every provider circuit is open' } },
    });
    expect(a.calls).toBe(0);
  });

  it('when the message is abandoned before the send, then nothing is sent and the outcome is abandoned', async () => {
    const a = provider('a', 'ok');

    const settlement = await handleEmail(deps([a]), queued(), AbortSignal.abort());

    expect(settlement).toEqual({ action: 'abandoned', id: ID });
    expect(a.calls).toBe(0);
  });
});

describe('handleEmail with the ledger', () => {
  type Call = { method: string; args: unknown };
  /** A ledger that claims as scripted (then `claimed`) and records every call. */
  function ledger(claims: ClaimAnswer[] = [], options: { down?: boolean } = {}) {
    const calls: Call[] = [];
    const fail = () => Promise.reject(Object.assign(new Error('down'), { reason: 'ledger-unavailable' }));
    const port: DeliveryLedger = {
      claimAttempt: (args) => {
        calls.push({ method: 'claim', args });
        return options.down === true ? fail() : Promise.resolve(claims.shift() ?? { outcome: 'claimed' });
      },
      recordAccepted: (args) => (calls.push({ method: 'accepted', args }), Promise.resolve()),
      recordSent: (args) => (calls.push({ method: 'sent', args }), Promise.resolve('advanced')),
      recordFailure: (args) => (calls.push({ method: 'failure', args }), Promise.resolve('advanced')),
      ping: () => Promise.resolve(),
    };
    return { port, calls };
  }
  const withLedger = (providers: EmailProvider[], port: DeliveryLedger, inDoubt: InDoubtPolicy = 'resend') => ({
    ...deps(providers),
    ledger: { port, inDoubt },
  });

  it('when a provider takes it, then the settlement carries the sent record with the provider message id', async () => {
    const { port, calls } = ledger();

    await expect(
      handleEmail(withLedger([provider('a', 'ok')], port), queued({}, { 'x-mailer-attempts': 1 })),
    ).resolves.toEqual({
      action: 'sent',
      id: ID,
      provider: 'a',
      attempts: 2,
      record: { id: ID, attempt: 2, provider: 'a', providerMessageId: 'a-1' },
    });
    // Recorded by the worker before the ack, not here.
    expect(calls).toEqual([
      { method: 'claim', args: { id: ID, attempt: 2, provider: 'a', token: expect.any(String) } },
    ]);
  });

  it('when the first provider fails, then its failure is recorded before the second is claimed; the last waits for the copy', async () => {
    const { port, calls } = ledger();
    const a = provider('a', transient());
    const b = provider('b', transient());

    const settlement = await handleEmail(withLedger([a, b], port), queued());

    expect(calls.map((c) => c.method)).toEqual(['claim', 'failure', 'claim']);
    expect(calls[1]?.args).toEqual({
      id: ID,
      attempt: 1,
      provider: 'a',
      kind: 'transient',
      error: '503 from provider',
      ambiguous: false,
    });
    expect(settlement).toMatchObject({
      action: 'retry',
      record: { id: ID, attempt: 1, provider: 'b', kind: 'transient', next: 'retrying', ambiguous: false },
    });
  });

  it('when the recipient is refused, then the park carries the failure with next parked', async () => {
    const { port } = ledger();
    const a = provider('a', new ProviderError('recipient-rejected', '550 no such user'));

    await expect(handleEmail(withLedger([a], port), queued())).resolves.toMatchObject({
      action: 'park',
      reason: 'recipient-rejected',
      record: { attempt: 1, provider: 'a', kind: 'recipient-rejected', next: 'parked' },
    });
  });

  it('when it was sent before, then nothing is sent and the message is skipped', async () => {
    const { port } = ledger([{ outcome: 'already-sent', provider: 'a', providerMessageId: 'a-1' }]);
    const a = provider('a', 'ok');

    await expect(handleEmail(withLedger([a], port), queued())).resolves.toEqual({
      action: 'skipped',
      id: ID,
      reason: 'already-sent',
    });
    expect(a.calls).toBe(0);
  });

  it('when the last try is in doubt under IN_DOUBT=park, then nothing is sent and it is parked in doubt, ambiguous', async () => {
    const { port } = ledger([{ outcome: 'in-doubt', attempt: 1, provider: 'a', startedAt: NOW }]);
    const a = provider('a', 'ok');

    const settlement = await handleEmail(withLedger([a], port, 'park'), queued());

    expect(a.calls).toBe(0);
    expect(settlement).toMatchObject({
      action: 'park',
      id: ID,
      reason: 'in-doubt',
      headers: { [DeliveryHeaders.lastFailureKind]: 'in-doubt', [DeliveryHeaders.ambiguous]: 'true' },
      record: { id: ID, attempt: 1, provider: 'a', kind: 'in-doubt', ambiguous: true, next: 'parked' },
    });
  });

  it('when the last try is in doubt under IN_DOUBT=resend, then it is claimed again and sent', async () => {
    const { port, calls } = ledger([{ outcome: 'in-doubt', attempt: 1, provider: 'a', startedAt: NOW }]);
    const a = provider('a', 'ok');

    await expect(handleEmail(withLedger([a], port), queued())).resolves.toMatchObject({ action: 'sent' });
    expect(calls.map((c) => c.method)).toEqual(['claim', 'claim']);
    expect(a.calls).toBe(1);
  });

  it('when the ledger cannot be reached, then nothing is sent and the message waits for the ledger', async () => {
    const { port } = ledger([], { down: true });
    const a = provider('a', 'ok');

    await expect(handleEmail(withLedger([a], port), queued())).resolves.toEqual({
      action: 'ledger-unavailable',
      id: ID,
      claimToken: expect.any(String),
    });
    expect(a.calls).toBe(0);
  });

  it('when it is handled again with the token of a claim that went unanswered, then the claim carries that token', async () => {
    const down = ledger([], { down: true });
    const first = await handleEmail(withLedger([provider('a', 'ok')], down.port), queued());
    const claimToken = first.action === 'ledger-unavailable' ? first.claimToken : undefined;
    const up = ledger();

    await expect(
      handleEmail(withLedger([provider('a', 'ok')], up.port), { ...queued(), ...(claimToken ? { claimToken } : {}) }),
    ).resolves.toMatchObject({ action: 'sent' });

    expect(claimToken).toEqual(expect.any(String));
    expect(up.calls[0]).toEqual({ method: 'claim', args: { id: ID, attempt: 1, provider: 'a', token: claimToken } });
    expect(down.calls[0]?.args).toMatchObject({ token: claimToken });
  });

  it('when the envelope id is not a UUID, then it is parked as invalid without asking the ledger', async () => {
    const { port, calls } = ledger();

    await expect(
      handleEmail(withLedger([provider('a', 'ok')], port), queued({ id: 'not-a-uuid' })),
    ).resolves.toMatchObject({
      action: 'park',
      reason: 'invalid',
    });
    expect(calls).toEqual([]);
  });
});
