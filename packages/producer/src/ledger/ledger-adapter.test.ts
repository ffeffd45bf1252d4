import { Ledger, hashRequest } from '@mailer/ledger';
import { BadCursorError, LedgerOutageError } from '../domain/email-ledger';
import { LedgerAdapter, requestHashOf } from './ledger-adapter';

const times = { ttlMs: 86_400_000, staleAfterMs: 60_000 };

/** A database that refuses every connection, as a stopped PostgreSQL does. */
const refusing = {
  query: () =>
    Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })),
};

describe('requestHashOf', () => {
  const body = { from: { email: 'a@example.com', name: 'A' }, to: [{ email: 'b@example.org' }], subject: 's' };

  it('when the same body comes with its keys in another order, then the hash is the same', () => {
    const reordered = { subject: 's', to: [{ email: 'b@example.org' }], from: { name: 'A', email: 'a@example.com' } };

    expect(requestHashOf({ route: '/v1/emails', body: reordered })).toBe(requestHashOf({ route: '/v1/emails', body }));
  });

  it('when the body differs in a value or the route differs, then the hash differs', () => {
    const base = requestHashOf({ route: '/v1/emails', body });

    expect(requestHashOf({ route: '/v1/emails', body: { ...body, subject: 't' } })).not.toBe(base);
    expect(requestHashOf({ route: '/v1/emails/batch', body })).not.toBe(base);
  });

  it('when hashed, then it is the hash the ledger makes of the route and the body', () => {
    expect(requestHashOf({ route: '/v1/emails', body })).toBe(hashRequest('/v1/emails', body));
  });
});

describe('LedgerAdapter', () => {
  it('when PostgreSQL refuses connections, then each call rejects with the domain outage error', async () => {
    const adapter = new LedgerAdapter(new Ledger({ db: refusing }), times);
    const reservation = { client: 'c', key: 'k', token: '0191f7a4-8c1e-7c4b-9a53-2f9d8d3e4b10' };

    const emails = [{ id: reservation.token, client: 'c', acceptedAt: new Date(), recipients: ['a@b.example'] }];

    await expect(
      adapter.reserveKeyAndRecord({ ...reservation, route: '/v1/emails', body: {} }, emails),
    ).rejects.toBeInstanceOf(LedgerOutageError);
    await expect(adapter.recordAccepted(emails)).rejects.toBeInstanceOf(LedgerOutageError);
    await expect(adapter.completeKey(reservation, 202, {})).rejects.toBeInstanceOf(LedgerOutageError);
    await expect(adapter.releaseKey(reservation)).rejects.toBeInstanceOf(LedgerOutageError);
    await expect(adapter.getEmail('c', reservation.token)).rejects.toBeInstanceOf(LedgerOutageError);
    await expect(adapter.listEmails('c', {})).rejects.toMatchObject({ reason: 'ledger-unavailable' });
    expect(await adapter.readiness()).toEqual({ ready: false, reason: 'ledger-unavailable' });
  });

  it('when a cursor is not one the ledger gave, then it rejects with the domain cursor error', async () => {
    const adapter = new LedgerAdapter(new Ledger({ db: refusing }), times);

    await expect(adapter.listEmails('c', { cursor: 'not-a-cursor' })).rejects.toBeInstanceOf(BadCursorError);
  });

  it('when the database never answers, then readiness gives up within its bound', async () => {
    const adapter = new LedgerAdapter(new Ledger({ db: { query: () => new Promise(() => undefined) } }), times);

    expect(await adapter.readiness(10)).toEqual({ ready: false, reason: 'ledger-unavailable' });
  });
});
