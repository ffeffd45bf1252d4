import { webhooksOffBecause } from './start';
import { TtlCache } from './ttl-cache';

describe('webhooksOffBecause', () => {
  const on = { ledger: 'on', webhooks: 'on', webhookSecretsKey: 'k' } as const;

  it('when the ledger is on, the secrets key set and WEBHOOKS on, then webhooks run', () => {
    expect(webhooksOffBecause(on)).toBeUndefined();
  });

  it('when any of the three is missing, then webhooks do not run and the reason names it', () => {
    expect(webhooksOffBecause({ ...on, webhooks: 'off' })).toBe('WEBHOOKS=off');
    expect(webhooksOffBecause({ ...on, ledger: 'off' })).toMatch(/^LEDGER=off/);
    expect(webhooksOffBecause({ ...on, webhookSecretsKey: '' })).toMatch(/^WEBHOOK_SECRETS_KEY is not set/);
  });
});

describe('TtlCache', () => {
  it('when asked again within its time, then the first load answers; after it, a new load does', async () => {
    let now = 0;
    const cache = new TtlCache<number>(1_000, 10, () => now);
    let loads = 0;
    const load = () => Promise.resolve((loads += 1));
    expect(await cache.get('a', load)).toBe(1);
    now = 999;
    expect(await cache.get('a', load)).toBe(1);
    now = 1_000;
    expect(await cache.get('a', load)).toBe(2);
  });

  it('when a load fails, then it is not kept', async () => {
    const cache = new TtlCache<number>(1_000, 10, () => 0);
    await expect(cache.get('a', () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(await cache.get('a', () => Promise.resolve(7))).toBe(7);
  });

  it('when more keys than its bound are asked, then the oldest are forgotten', async () => {
    const cache = new TtlCache<string>(1_000, 2, () => 0);
    for (const key of ['a', 'b', 'c']) await cache.get(key, () => Promise.resolve(`${key}1`));
    expect(await cache.get('a', () => Promise.resolve('a2'))).toBe('a2');
    expect(await cache.get('c', () => Promise.resolve('c2'))).toBe('c1');
  });
});
