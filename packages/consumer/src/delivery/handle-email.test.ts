import { DeliveryHeaders, ENVELOPE_VERSION, RecipientHasher, buildTopology, type EmailRequest } from '@mailer/contract';
import { ProviderError, type EmailProvider, type OutboundEmail, type SendReceipt } from '../providers/provider';
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
      suppressedAmong: (lists) => (
        calls.push({ method: 'check', args: lists }),
        Promise.resolve(lists.map(() => false))
      ),
      recordSuppressedAtSend: (args) => (calls.push({ method: 'suppressed', args }), Promise.resolve('advanced')),
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

describe('handleEmail and the suppression list', () => {
  const hasher = new RecipientHasher({ current: 'a-test-secret-of-at-least-32-characters' });
  const two: EmailRequest = { ...request, to: [{ email: 'ann@example.org' }], cc: [{ email: 'bob@example.net' }] };
  const twoRecipients = (): IncomingMessage => queued({ request: two });

  /** A ledger whose suppression list holds `listed`; it records every call after the check. */
  function ledger(listed: readonly string[] = [], options: { checkDown?: boolean } = {}) {
    const keys = new Set(listed.map((address) => hasher.hash(address).toString('hex')));
    const calls: { method: string; args: unknown }[] = [];
    const port: DeliveryLedger = {
      claimAttempt: (args) => (calls.push({ method: 'claim', args }), Promise.resolve({ outcome: 'claimed' })),
      recordAccepted: () => Promise.resolve(),
      recordSent: () => Promise.resolve('advanced'),
      recordFailure: (args) => (calls.push({ method: 'failure', args }), Promise.resolve('advanced')),
      suppressedAmong: (lists) =>
        options.checkDown === true
          ? Promise.reject(Object.assign(new Error('down'), { reason: 'ledger-unavailable' }))
          : Promise.resolve(lists.map((candidates) => candidates.some((k) => keys.has(k.toString('hex'))))),
      recordSuppressedAtSend: (args) => (calls.push({ method: 'suppressed', args }), Promise.resolve('advanced')),
      ping: () => Promise.resolve(),
    };
    return { port, calls };
  }

  /** A provider answering each send in turn (then 'ok'), keeping the recipients of each send that started. */
  function scripted(name: string, answers: (SendReceipt | ProviderError)[]) {
    const sentTo: string[][] = [];
    const p: EmailProvider = {
      name,
      async send(email: OutboundEmail, _signal, options) {
        await options?.onStart?.();
        const { to, cc, bcc } = email.request;
        sentTo.push([...(to ?? []), ...(cc ?? []), ...(bcc ?? [])].map((a) => a.email));
        const answer = answers.shift() ?? { providerMessageId: `${name}-${sentTo.length}` };
        if (answer instanceof ProviderError) throw answer;
        return answer;
      },
    };
    return { provider: p, sentTo };
  }

  const withSuppression = (providers: EmailProvider[], port: DeliveryLedger) => ({
    ...deps(providers),
    ledger: { port, inDoubt: 'resend' as const, hasher },
  });
  const keysOf = (address: string) => ({ hashes: hasher.candidates(address), masked: expect.stringContaining('***') });
  const inactive = (address: string) =>
    new ProviderError('recipient-rejected', `406 Found inactive addresses: ${address}.`, {
      code: '406',
      refused: [{ address, reason: 'postmark 406 inactive recipient', onProviderList: true }],
    });

  it('when a recipient was suppressed after intake, then the email goes to the others and the dropped one is recorded suppressed', async () => {
    const { port } = ledger(['Bob@Example.net']);
    const a = scripted('a', []);

    const settlement = await handleEmail(withSuppression([a.provider], port), twoRecipients());

    expect(a.sentTo).toEqual([['ann@example.org']]);
    expect(settlement).toMatchObject({
      action: 'sent',
      provider: 'a',
      suppression: { id: ID, attempt: 1, recipients: [keysOf('bob@example.net')], entries: [], emailSuppressed: false },
    });
  });

  it('when every recipient was suppressed after intake, then nothing is sent or claimed and the email ends suppressed', async () => {
    const { port, calls } = ledger(['ann@example.org', 'bob@example.net']);
    const a = scripted('a', []);

    const settlement = await handleEmail(withSuppression([a.provider], port), twoRecipients());

    expect(a.sentTo).toEqual([]);
    expect(calls).toEqual([]);
    expect(settlement).toEqual({
      action: 'suppressed',
      id: ID,
      suppression: {
        id: ID,
        attempt: 1,
        recipients: [keysOf('ann@example.org'), keysOf('bob@example.net')],
        entries: [],
        emailSuppressed: true,
      },
    });
  });

  it('when the list cannot be read, then nothing is sent and the message waits for the ledger', async () => {
    const { port } = ledger([], { checkDown: true });
    const a = scripted('a', []);

    await expect(handleEmail(withSuppression([a.provider], port), twoRecipients())).resolves.toEqual({
      action: 'ledger-unavailable',
      id: ID,
    });
    expect(a.sentTo).toEqual([]);
  });

  it('when a provider refuses one of two recipients as inactive, then the other gets it through the same provider at once, the next provider gets nothing, and the refused one goes on the list', async () => {
    const { port, calls } = ledger();
    const a = scripted('a', [inactive('BOB@example.net')]);
    const b = scripted('b', []);

    const settlement = await handleEmail(withSuppression([a.provider, b.provider], port), twoRecipients());

    expect(a.sentTo).toEqual([['ann@example.org', 'bob@example.net'], ['ann@example.org']]);
    expect(b.sentTo).toEqual([]);
    // Two tries of attempt 1 through the same provider, the refused one recorded before the second claim.
    expect(calls.map((c) => c.method)).toEqual(['claim', 'failure', 'claim']);
    expect(settlement).toMatchObject({
      action: 'sent',
      provider: 'a',
      record: { attempt: 1, provider: 'a', providerMessageId: 'a-2' },
      suppression: {
        recipients: [keysOf('BOB@example.net')],
        entries: [
          {
            ...keysOf('BOB@example.net'),
            reason: 'recipient-rejected',
            note: 'postmark 406 inactive recipient',
            createdBy: 'provider',
            source: { emailId: ID, provider: 'a' },
          },
        ],
        emailSuppressed: false,
      },
    });
  });

  it('when a provider refuses every recipient as on its own list, then nothing is failed over and the email ends suppressed', async () => {
    const { port } = ledger();
    const refusal = new ProviderError('recipient-rejected', '406', {
      refused: [
        { address: 'ann@example.org', reason: 'postmark 406 inactive recipient', onProviderList: true },
        { address: 'bob@example.net', reason: 'postmark 406 inactive recipient', onProviderList: true },
      ],
    });
    const a = scripted('a', [refusal]);
    const b = scripted('b', []);

    const settlement = await handleEmail(withSuppression([a.provider, b.provider], port), twoRecipients());

    expect(b.sentTo).toEqual([]);
    expect(settlement).toMatchObject({
      action: 'suppressed',
      record: { attempt: 1, provider: 'a', kind: 'recipient-rejected' },
      suppression: {
        emailSuppressed: true,
        entries: [{ reason: 'recipient-rejected' }, { reason: 'recipient-rejected' }],
      },
    });
  });

  it('when an SMTP server refuses every recipient with 5.1.x, then the email is parked as before and the addresses go on the list', async () => {
    const { port } = ledger();
    const refusal = new ProviderError('recipient-rejected', '550 5.1.1', {
      refused: [
        { address: 'ann@example.org', reason: 'smtp 550 5.1.1', onProviderList: false },
        { address: 'bob@example.net', reason: 'smtp 550 5.1.1', onProviderList: false },
      ],
    });
    const a = scripted('a', [refusal]);

    await expect(handleEmail(withSuppression([a.provider], port), twoRecipients())).resolves.toMatchObject({
      action: 'park',
      reason: 'recipient-rejected',
      record: { kind: 'recipient-rejected', next: 'parked' },
      suppression: { emailSuppressed: false, entries: [{ note: 'smtp 550 5.1.1' }, { note: 'smtp 550 5.1.1' }] },
    });
    expect(a.sentTo).toHaveLength(1);
  });

  it('when a provider takes the email but names refused recipients, then it is sent and those go on the list', async () => {
    const { port } = ledger();
    const a = scripted('a', [
      {
        providerMessageId: 'a-1',
        refused: [{ address: 'bob@example.net', reason: 'smtp 550 5.1.1', onProviderList: false }],
      },
    ]);

    await expect(handleEmail(withSuppression([a.provider], port), twoRecipients())).resolves.toMatchObject({
      action: 'sent',
      suppression: { recipients: [keysOf('bob@example.net')], entries: [{ note: 'smtp 550 5.1.1' }] },
    });
    expect(a.sentTo).toHaveLength(1);
  });

  it('when a provider names an address that is not a recipient, then it is ignored and the email is parked as before', async () => {
    const { port } = ledger();
    const a = scripted('a', [inactive('stranger@example.com')]);

    const settlement = await handleEmail(withSuppression([a.provider], port), twoRecipients());

    expect(settlement).toMatchObject({ action: 'park', reason: 'recipient-rejected' });
    expect(settlement).not.toHaveProperty('suppression');
    expect(a.sentTo).toHaveLength(1);
  });
});
