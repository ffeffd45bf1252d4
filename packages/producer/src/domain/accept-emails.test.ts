import { PublishError, decodeEnvelope, type EmailRequest } from '@mailer/contract';
import { acceptBatch, acceptEmail, type AcceptDeps, type Caller } from './accept-emails';
import { hashKey } from './api-keys';
import {
  LedgerOutageError,
  type AcceptedRecord,
  type EmailLedger,
  type KeyOutcome,
  type KeyReservation,
  type LedgerRepair,
} from './email-ledger';
import type { OutgoingEmail } from './publisher';

const reservation: KeyReservation = { client: 'test', key: 'k1', token: 't1' };
/** The reservation of a keyed request for one email: its token is the id minted after the email's. */
const held: KeyReservation = { client: 'test', key: 'k1', token: 'new-2' };

/** What the fake ledger's reservation answers; on `new` it works out `recorded` itself, as the ledger does. */
type FakeReserve = Exclude<KeyOutcome, { outcome: 'new' }> | Omit<Extract<KeyOutcome, { outcome: 'new' }>, 'recorded'>;

/**
 * Records every call in order, so a test can check what came before what. `suppressedAddresses`
 * stands for the suppression list: the fake ledger answers each email's recipients that are on it
 * by position (to, cc, bcc order), as `ledger_insert_accepted` does.
 */
function fakes(
  reserve: FakeReserve = { outcome: 'new', reservation, previousEmails: [] },
  suppressedAddresses: readonly string[] = [],
) {
  const calls: string[] = [];
  const recorded: AcceptedRecord[] = [];
  const published: OutgoingEmail[] = [];
  let failRecord = false;
  let failPublish: PublishError | ((id: string) => PublishError | undefined) | undefined;
  const positionsOf = (email: AcceptedRecord) =>
    email.recipients.flatMap((address, i) => (suppressedAddresses.includes(address) ? [i] : []));
  const ledger: EmailLedger = {
    reserveKeyAndRecord: (request, emails) => {
      calls.push(`reserve and record ${emails.length} ${request.route}`);
      if (failRecord) return Promise.reject(new LedgerOutageError('down'));
      if (reserve.outcome !== 'new') return Promise.resolve(reserve);
      recorded.push(...emails);
      const ids = reserve.previousEmails.length > 0 ? reserve.previousEmails.map((p) => p.id) : emails.map((e) => e.id);
      return Promise.resolve({
        ...reserve,
        reservation: { client: request.client, key: request.key, token: request.token },
        recorded: emails.map((email, i) => ({ id: ids[i] ?? email.id, suppressed: positionsOf(email) })),
      });
    },
    recordAccepted: (emails) => {
      calls.push(`record ${emails.length}`);
      if (failRecord) return Promise.reject(new LedgerOutageError('down'));
      recorded.push(...emails);
      return Promise.resolve(emails.map((email) => ({ id: email.id, suppressed: positionsOf(email) })));
    },
    completeKey: (_held, status) => {
      calls.push(`complete ${status}`);
      return Promise.resolve(true);
    },
    releaseKey: () => {
      calls.push('release');
      return Promise.resolve(true);
    },
    discardUnpublished: (ids) => {
      calls.push(`discard ${ids.join(',')}`);
      return Promise.resolve();
    },
    getEmail: () => Promise.resolve(null),
    listEmails: () => Promise.resolve({ emails: [] }),
  };
  let n = 0;
  const deps: AcceptDeps = {
    ledger,
    newId: () => `new-${++n}`,
    now: () => new Date('2026-01-31T08:00:00Z'),
    publisher: {
      publish: (email) => {
        calls.push(`publish ${email.id}`);
        const failure = typeof failPublish === 'function' ? failPublish(email.id) : failPublish;
        if (failure !== undefined) return Promise.reject(failure);
        published.push(email);
        return Promise.resolve();
      },
    },
  };
  return {
    deps,
    calls,
    recorded,
    published,
    failRecord: () => (failRecord = true),
    failPublish: (error: PublishError | ((id: string) => PublishError | undefined)) => (failPublish = error),
  };
}

const client = { name: 'test', keyHash: hashKey('k'), senders: ['example.com'] };
const plain: Caller = { client, requestId: 'r1' };
const keyed: Caller = { ...plain, idempotencyKey: 'k1' };
const body = {
  from: { email: 'a@example.com' },
  to: [{ email: 'jane@example.org' }],
  cc: [{ email: 'cc@example.org' }],
  subject: 's',
  text: 't',
  tags: { kind: 'receipt' },
  metadata: { order: 42 },
};

describe('acceptEmail with the ledger', () => {
  it('when there is no key, then the email is recorded before it is published', async () => {
    const f = fakes();

    expect(await acceptEmail(f.deps, plain, body)).toEqual({
      kind: 'accepted',
      id: 'new-1',
      status: 'queued',
      suppressed: [],
    });
    expect(f.calls).toEqual(['record 1', 'publish new-1']);
    expect(f.recorded).toEqual([
      {
        id: 'new-1',
        client: 'test',
        acceptedAt: new Date('2026-01-31T08:00:00Z'),
        recipients: ['jane@example.org', 'cc@example.org'],
        tags: { kind: 'receipt' },
        metadata: { order: 42 },
      },
    ]);
  });

  it('when there is a key, then reserve it and record under it in one call, publish, and store the 202', async () => {
    const f = fakes();

    expect(await acceptEmail(f.deps, keyed, body)).toEqual({
      kind: 'accepted',
      id: 'new-1',
      status: 'queued',
      suppressed: [],
    });
    expect(f.calls).toEqual(['reserve and record 1 /v1/emails', 'publish new-1', 'complete 202']);
    expect(f.recorded.map((e) => e.id)).toEqual(['new-1']);
  });

  it('when answers are stored beside the request, then the 202 does not wait for the store, and a retry at this producer waits for it', async () => {
    const f = fakes();
    const stores: { key: string; status: number; body: unknown }[] = [];
    let storeDone: () => void = () => undefined;
    const stored = new Promise<void>((resolve) => (storeDone = resolve));
    const answers = {
      store: (held: KeyReservation, status: number, answer: unknown) => {
        f.calls.push(`store ${status}`);
        stores.push({ key: held.key, status, body: answer });
      },
      settled: (_client: string, key: string) => (stores.some((s) => s.key === key) ? stored : undefined),
    };

    expect(await acceptEmail({ ...f.deps, answers }, keyed, body)).toEqual({
      kind: 'accepted',
      id: 'new-1',
      status: 'queued',
      suppressed: [],
    });
    expect(f.calls).toEqual(['reserve and record 1 /v1/emails', 'publish new-1', 'store 202']);
    expect(stores).toEqual([{ key: 'k1', status: 202, body: { id: 'new-1', status: 'queued' } }]);

    let retried = false;
    const retry = acceptEmail({ ...f.deps, answers }, keyed, body).then(() => (retried = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(retried).toBe(false);
    expect(f.calls).toHaveLength(3);
    storeDone();
    await retry;
    expect(f.calls[3]).toBe('reserve and record 1 /v1/emails');
  });

  it('when the ledger cannot record, then nothing is published, its record (if it was made) is forgotten and the key released', async () => {
    const f = fakes();
    f.failRecord();

    expect(await acceptEmail(f.deps, keyed, body)).toMatchObject({ kind: 'ledger-unavailable' });
    expect(f.calls).toEqual(['reserve and record 1 /v1/emails', 'discard new-1', 'release']);
  });

  it('when the ledger cannot record and there is a repair queue, then the undoing waits there for the ledger, not in the request', async () => {
    const f = fakes();
    const repairs: LedgerRepair[] = [];
    f.failRecord();

    const outcome = await acceptEmail({ ...f.deps, repairs: { add: (repair) => repairs.push(repair) } }, keyed, body);

    expect(outcome).toMatchObject({ kind: 'ledger-unavailable' });
    expect(f.calls).toEqual(['reserve and record 1 /v1/emails']);
    expect(repairs).toEqual([{ discard: ['new-1'], release: held }]);
  });

  it("when a keyed record's answer is lost, then only the ids minted for it are forgotten (a takeover records the earlier holder's, which may be queued) and the key, held by the request's own token, given up", async () => {
    const f = fakes({ outcome: 'new', reservation, previousEmails: [{ id: 'old-1', state: 'queued' }] });
    const repairs: LedgerRepair[] = [];
    f.failRecord();

    await acceptEmail({ ...f.deps, repairs: { add: (repair) => repairs.push(repair) } }, keyed, body);

    expect(repairs).toEqual([{ discard: ['new-1'], release: held }]);
  });

  it('when the broker refuses the email and the ledger is out of reach too, then discarding and releasing wait for it', async () => {
    const f = fakes();
    const repairs: LedgerRepair[] = [];
    f.failPublish(new PublishError('nacked', 'the broker refused the message'));
    const ledger = f.deps.ledger as EmailLedger;
    const down = () => Promise.reject(new LedgerOutageError('down'));

    const outcome = await acceptEmail(
      {
        ...f.deps,
        ledger: { ...ledger, discardUnpublished: down },
        repairs: { add: (repair) => repairs.push(repair) },
      },
      keyed,
      body,
    );

    expect(outcome).toMatchObject({ kind: 'unavailable' });
    expect(repairs).toEqual([{ discard: ['new-1'], release: held }]);
  });

  it('when the broker refuses the email, then its record is discarded and the key released for a retry', async () => {
    const f = fakes();
    f.failPublish(new PublishError('nacked', 'the broker refused the message'));

    expect(await acceptEmail(f.deps, keyed, body)).toMatchObject({ kind: 'unavailable' });
    expect(f.calls).toEqual(['reserve and record 1 /v1/emails', 'publish new-1', 'discard new-1', 'release']);
  });

  it('when the confirm is late (the email may be queued), then its record is kept and the key released', async () => {
    const f = fakes();
    f.failPublish(new PublishError('timeout', 'no confirm in time'));

    expect(await acceptEmail(f.deps, plain, body)).toMatchObject({ kind: 'unavailable' });
    expect(f.calls).toEqual(['record 1', 'publish new-1']);
  });

  it('when a stale holder is taken over, then its id is used again and published again while still queued', async () => {
    const f = fakes({ outcome: 'new', reservation, previousEmails: [{ id: 'old-1', state: 'queued' }] });

    expect(await acceptEmail(f.deps, keyed, body)).toEqual({
      kind: 'accepted',
      id: 'old-1',
      status: 'queued',
      suppressed: [],
    });
    expect(f.calls).toEqual(['reserve and record 1 /v1/emails', 'publish old-1', 'complete 202']);
  });

  it('when the taken-over email was marked abandoned, then it is published again (nothing took it from the queue)', async () => {
    const f = fakes({ outcome: 'new', reservation, previousEmails: [{ id: 'old-1', state: 'abandoned' }] });

    expect(await acceptEmail(f.deps, keyed, body)).toEqual({
      kind: 'accepted',
      id: 'old-1',
      status: 'queued',
      suppressed: [],
    });
    expect(f.calls).toEqual(['reserve and record 1 /v1/emails', 'publish old-1', 'complete 202']);
  });

  it('when the taken-over email is past queued, then it is not published again', async () => {
    const f = fakes({ outcome: 'new', reservation, previousEmails: [{ id: 'old-1', state: 'sent' }] });

    expect(await acceptEmail(f.deps, keyed, body)).toEqual({
      kind: 'accepted',
      id: 'old-1',
      status: 'queued',
      suppressed: [],
    });
    expect(f.calls).toEqual(['reserve and record 1 /v1/emails', 'complete 202']);
  });

  it.each([
    [
      { outcome: 'replay', status: 202, body: { id: 'x', status: 'queued' } },
      { kind: 'replay', status: 202, body: { id: 'x', status: 'queued' } },
    ],
    [{ outcome: 'mismatch' }, { kind: 'key-reused' }],
    [
      { outcome: 'in-flight', staleInMs: 1500 },
      { kind: 'key-in-flight', staleInMs: 1500 },
    ],
  ] as const)('when the key is %p, then nothing is recorded or published', async (reserve, expected) => {
    const f = fakes(reserve);

    expect(await acceptEmail(f.deps, keyed, body)).toEqual(expected);
    expect(f.calls).toEqual(['reserve and record 1 /v1/emails']);
    expect(f.recorded).toEqual([]);
  });
});

describe('acceptBatch with the ledger', () => {
  const batch = { emails: [body, { ...body, subject: 'two' }, { ...body, subject: 'three' }] };

  it('when a holder is taken over, then the ids come back in order and only the queued ones are published', async () => {
    const f = fakes({
      outcome: 'new',
      reservation,
      previousEmails: [
        { id: 'old-1', state: 'sending' },
        { id: 'old-2', state: 'queued' },
        { id: 'old-3', state: null },
      ],
    });

    const outcome = await acceptBatch(f.deps, keyed, batch);

    expect(outcome).toMatchObject({
      kind: 'published',
      items: [
        { index: 0, status: 'queued', id: 'old-1' },
        { index: 1, status: 'queued', id: 'old-2' },
        { index: 2, status: 'queued', id: 'old-3' },
      ],
    });
    expect(f.published.map((e) => e.id)).toEqual(['old-2', 'old-3']);
    expect(f.calls[0]).toBe('reserve and record 3 /v1/emails/batch');
    expect(f.calls.at(-1)).toBe('complete 202');
  });

  it('when some items fail, then only those surely off the queue are discarded', async () => {
    const f = fakes();
    f.failPublish((id) =>
      id === 'new-1'
        ? new PublishError('not-connected', 'no broker')
        : id === 'new-2'
          ? new PublishError('channel-closed', 'lost')
          : undefined,
    );

    const outcome = await acceptBatch(f.deps, plain, batch);

    expect(outcome).toMatchObject({
      kind: 'published',
      items: [
        { index: 0, status: 'failed' },
        { index: 1, status: 'failed' },
        { index: 2, status: 'queued', id: 'new-3' },
      ],
    });
    expect(f.calls.at(-1)).toBe('discard new-1');
  });

  it('when there is no ledger (LEDGER=off), then the batch is published with new ids and nothing else', async () => {
    const f = fakes();
    const { ledger: _ledger, ...brokerOnly } = f.deps;

    expect(await acceptBatch(brokerOnly, plain, batch)).toMatchObject({ kind: 'published' });
    expect(f.calls).toEqual(['publish new-1', 'publish new-2', 'publish new-3']);
  });
});

/** The request a published message carries. */
function requestOf(message: OutgoingEmail | undefined): EmailRequest {
  if (message === undefined) throw new Error('nothing was published');
  const decoded = decodeEnvelope(message.body);
  if (!decoded.ok) throw new Error(`the envelope does not decode: ${decoded.text}`);
  return decoded.envelope.request;
}

describe('recipients on the suppression list', () => {
  const three = {
    ...body,
    to: [{ email: 'jane@example.org' }, { email: 'gone@example.org' }],
    cc: [{ email: 'cc@example.org' }],
    bcc: [{ email: 'hidden@example.net' }],
  };

  it('when one recipient is suppressed, then the envelope goes without it and the outcome names it masked', async () => {
    const f = fakes(undefined, ['gone@example.org']);

    expect(await acceptEmail(f.deps, plain, three)).toEqual({
      kind: 'accepted',
      id: 'new-1',
      status: 'queued',
      suppressed: ['g***@example.org'],
    });
    // Recorded with every recipient (the ledger marks the suppressed one), published without it.
    expect(f.recorded[0]?.recipients).toEqual([
      'jane@example.org',
      'gone@example.org',
      'cc@example.org',
      'hidden@example.net',
    ]);
    expect(requestOf(f.published[0])).toMatchObject({
      to: [{ email: 'jane@example.org' }],
      cc: [{ email: 'cc@example.org' }],
      bcc: [{ email: 'hidden@example.net' }],
    });
  });

  it('when every to recipient is suppressed but cc and bcc remain, then the envelope has no to and keeps both', async () => {
    const f = fakes(undefined, ['jane@example.org', 'gone@example.org']);

    await acceptEmail(f.deps, plain, three);

    const sent = requestOf(f.published[0]);
    expect(sent).not.toHaveProperty('to');
    expect(sent).toMatchObject({ cc: [{ email: 'cc@example.org' }], bcc: [{ email: 'hidden@example.net' }] });
  });

  it('when every recipient is suppressed, then nothing is published and the 202 stored under the key says suppressed', async () => {
    const f = fakes(undefined, ['jane@example.org', 'cc@example.org']);
    const stores: unknown[] = [];
    const answers = {
      store: (_held: KeyReservation, _status: number, answer: unknown) => stores.push(answer),
      settled: () => undefined,
    };

    const outcome = await acceptEmail({ ...f.deps, answers }, keyed, body);

    expect(outcome).toEqual({
      kind: 'accepted',
      id: 'new-1',
      status: 'suppressed',
      suppressed: ['j***@example.org', 'c***@example.org'],
    });
    expect(f.published).toEqual([]);
    expect(stores).toEqual([
      { id: 'new-1', status: 'suppressed', suppressed: ['j***@example.org', 'c***@example.org'] },
    ]);
  });

  it('when an address is suppressed twice in one email (to and bcc), then it is named once and left out of both', async () => {
    const f = fakes(undefined, ['jane@example.org']);

    const outcome = await acceptEmail(f.deps, plain, { ...body, bcc: [{ email: 'jane@example.org' }] });

    expect(outcome).toMatchObject({ status: 'queued', suppressed: ['j***@example.org'] });
    const sent = requestOf(f.published[0]);
    expect(sent).not.toHaveProperty('to');
    expect(sent).not.toHaveProperty('bcc');
    expect(sent.cc).toEqual([{ email: 'cc@example.org' }]);
  });

  it('when a taken-over holder recorded the email suppressed, then it is not published and answered suppressed', async () => {
    const f = fakes({ outcome: 'new', reservation, previousEmails: [{ id: 'old-1', state: 'suppressed' }] }, [
      'jane@example.org',
      'cc@example.org',
    ]);

    expect(await acceptEmail(f.deps, keyed, body)).toMatchObject({ id: 'old-1', status: 'suppressed' });
    expect(f.calls).toEqual(['reserve and record 1 /v1/emails', 'complete 202']);
  });

  it('when a batch has an item left with nobody, one partly suppressed and one untouched, then each is answered so and two are published', async () => {
    const f = fakes(undefined, ['jane@example.org', 'cc@example.org', 'gone@example.org']);
    const stores: unknown[] = [];
    const answers = {
      store: (_held: KeyReservation, _status: number, answer: unknown) => stores.push(answer),
      settled: () => undefined,
    };
    const batch = { emails: [body, three, { ...body, to: [{ email: 'kept@example.org' }], cc: [] }] };

    const outcome = await acceptBatch({ ...f.deps, answers }, keyed, batch);

    expect(outcome).toEqual({
      kind: 'published',
      items: [
        { index: 0, id: 'new-1', status: 'suppressed', suppressed: ['j***@example.org', 'c***@example.org'] },
        {
          index: 1,
          id: 'new-2',
          status: 'queued',
          suppressed: ['j***@example.org', 'g***@example.org', 'c***@example.org'],
        },
        { index: 2, id: 'new-3', status: 'queued', suppressed: [] },
      ],
    });
    expect(f.published.map((e) => e.id)).toEqual(['new-2', 'new-3']);
    expect(requestOf(f.published[0]).bcc).toEqual([{ email: 'hidden@example.net' }]);
    expect(stores).toEqual([
      {
        items: [
          { index: 0, id: 'new-1', status: 'suppressed', suppressed: ['j***@example.org', 'c***@example.org'] },
          {
            index: 1,
            id: 'new-2',
            status: 'queued',
            suppressed: ['j***@example.org', 'g***@example.org', 'c***@example.org'],
          },
          { index: 2, id: 'new-3', status: 'queued' },
        ],
      },
    ]);
  });

  it('when there is no ledger (LEDGER=off), then nobody is suppressed: the email goes to every recipient', async () => {
    const f = fakes(undefined, ['jane@example.org', 'cc@example.org']);
    const { ledger: _ledger, ...brokerOnly } = f.deps;

    expect(await acceptEmail(brokerOnly, plain, body)).toEqual({
      kind: 'accepted',
      id: 'new-1',
      status: 'queued',
      suppressed: [],
    });
    expect(requestOf(f.published[0])).toMatchObject({ to: body.to, cc: body.cc });
  });
});
