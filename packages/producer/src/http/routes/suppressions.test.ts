import express from 'express';
import request from 'supertest';
import { RecipientHasher } from '@mailer/contract';
import { createLogger } from '@mailer/service';
import { hashKey, type ApiKey } from '../../domain/api-keys';
import type { SuppressionLedger } from '../../domain/suppressions';
import { authenticate } from '../middleware/authenticate';
import { suppressionRoutes } from './suppressions';

const keys: ApiKey[] = [
  { name: 'sender', keyHash: hashKey('sender-key'), senders: ['example.com'] },
  { name: 'lists', keyHash: hashKey('lists-key'), senders: [], scopes: ['suppressions'] },
];

/** Every refusal here comes before the list is touched: a call would fail the test. */
const untouched: SuppressionLedger = {
  find: () => Promise.reject(new Error('the list must not be read')),
  list: () => Promise.reject(new Error('the list must not be read')),
  add: () => Promise.reject(new Error('the list must not be written')),
  remove: () => Promise.reject(new Error('the list must not be written')),
};

const logger = createLogger({ service: 'producer', level: 'error', silent: true });

function appWith(withList: boolean): express.Express {
  return express().use(
    suppressionRoutes({
      ...(withList
        ? {
            suppressions: {
              suppressions: untouched,
              hasher: new RecipientHasher({ current: 'x'.repeat(32) }),
              now: () => new Date('2026-12-07T12:00:00Z'),
            },
          }
        : {}),
      logger,
      authenticate: authenticate(keys, 'suppressions'),
      maxBodyBytes: 1024,
    }),
  );
}

const app = appWith(true);
const lists = { authorization: 'Bearer lists-key' };

describe('suppression routes, before the list is touched', () => {
  it('when the key is unknown, then 401; when it lacks the scope, then 403 naming it', async () => {
    await request(app).get('/v1/suppressions').expect(401);
    const response = await request(app)
      .post('/v1/suppressions')
      .set({ authorization: 'Bearer sender-key' })
      .send({ email: 'a@example.org' })
      .expect(403);
    expect(response.body).toEqual({
      type: '/problems/insufficient-scope',
      title: 'API key lacks the scope this request needs',
      status: 403,
      detail:
        'This API key does not have the "suppressions" scope; nothing was done. Scopes are set per key in API_KEYS.',
      scope: 'suppressions',
    });
  });

  it.each([
    [{ email: 'a@example.org', reason: 'hard-bounce' }, '/reason'],
    [{ email: 'a@example.org', expires_at: '2026-12-07T11:00:00Z' }, '/expires_at'],
    [{ email: 'a@example.org', unknown: true }, '/unknown'],
    [{ note: 'no address' }, '/email'],
  ])('when %j is posted, then 400 validation points at %s', async (body, pointer) => {
    const response = await request(app).post('/v1/suppressions').set(lists).send(body).expect(400);
    expect(response.body).toMatchObject({ type: '/problems/validation', errors: [{ pointer }] });
  });

  it.each([
    ['get', '/v1/suppressions?email=a@example.org&note=x', 'note'],
    ['get', '/v1/suppressions?limit=0', 'limit'],
    ['delete', '/v1/suppressions', 'email'],
    ['delete', '/v1/suppressions?email=a@example.org&note=', 'note'],
  ] as const)('when %s %s, then 400 invalid-query names %s', async (method, path, parameter) => {
    const response = await request(app)[method](path).set(lists).expect(400);
    expect(response.body).toMatchObject({ type: '/problems/invalid-query', errors: [{ parameter }] });
  });

  it('when the body is over the cap, then 413 names the cap and the connection is closed', async () => {
    const response = await request(app)
      .post('/v1/suppressions')
      .set(lists)
      .send({ email: 'a@example.org', note: 'n'.repeat(2000) })
      .expect(413);
    expect(response.body).toMatchObject({ type: '/problems/too-large', detail: 'The body may be at most 1024 bytes.' });
    expect(response.headers['connection']).toBe('close');
  });

  it('when there is no list (LEDGER=off), then 501 before the body is read or checked', async () => {
    const off = appWith(false);
    const response = await request(off)
      .post('/v1/suppressions')
      .set(lists)
      .set('content-type', 'text/plain')
      .send('anything')
      .expect(501);
    expect(response.body).toMatchObject({ type: '/problems/ledger-off' });
    await request(off).get('/v1/suppressions?email=a@example.org').set(lists).expect(501);
  });
});
