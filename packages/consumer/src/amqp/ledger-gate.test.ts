import type { Logger } from '@mailer/amqp';
import type { DeliveryLedger, FailureRecord, SentRecord } from '../delivery/send-guard';
import { LedgerGate } from './ledger-gate';

/** A kept message as the gate sees it; `channel` aborts when its channel closes. */
interface TestHeld {
  readonly id: string;
  readonly taken: { readonly closed: AbortSignal };
}

function heldOn(channel: AbortController, id: string): TestHeld {
  return { id, taken: { closed: channel.signal } };
}

const ID = '01a2207a-0000-7000-8000-0000000000aa';
const sent: SentRecord = { id: ID, attempt: 1, provider: 'smtp', providerMessageId: null };
const unavailable = () => Object.assign(new Error('ledger unavailable'), { reason: 'ledger-unavailable' });

/** A ledger that is out of reach while `down`, and counts its pings and the records it took. */
function fakeLedger() {
  const state = { down: true, pings: [] as number[], written: [] as (SentRecord | FailureRecord)[] };
  const write = (record: SentRecord | FailureRecord) => {
    if (state.down) return Promise.reject(unavailable());
    state.written.push(record);
    return Promise.resolve('advanced' as const);
  };
  const ledger: DeliveryLedger = {
    claimAttempt: () => Promise.reject(new Error('not used')),
    recordAccepted: () => Promise.reject(new Error('not used')),
    recordSent: write,
    recordFailure: write,
    suppressedAmong: () => Promise.reject(new Error('not used')),
    recordSuppressedAtSend: () => Promise.reject(new Error('not used')),
    ping: () => {
      state.pings.push(Date.now());
      return state.down ? Promise.reject(unavailable()) : Promise.resolve();
    },
  };
  return { ledger, state };
}

function setUp(ledger: DeliveryLedger | undefined) {
  const errors: string[] = [];
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: (message) => errors.push(message),
  };
  const resumed: string[] = [];
  const gate = new LedgerGate<TestHeld>({
    ledger,
    retryMs: { initial: 100, max: 400 },
    logger,
    resume: ({ id }) => resumed.push(id),
    changed: () => undefined,
  });
  return { gate, resumed, errors };
}

describe('LedgerGate', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: 0 });
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('when a record cannot reach the ledger, then consuming pauses, the ledger is asked with a doubling delay, and the record is written once it answers', async () => {
    const { ledger, state } = fakeLedger();
    const { gate } = setUp(ledger);
    let written: boolean | undefined;
    void gate.record(sent).then((done) => (written = done));

    await jest.advanceTimersByTimeAsync(0);
    expect(gate.paused).toBe(true);
    await jest.advanceTimersByTimeAsync(1_100);
    expect(state.pings).toEqual([100, 300, 700, 1_100]);
    expect(written).toBeUndefined();

    state.down = false;
    await jest.advanceTimersByTimeAsync(400);

    expect(written).toBe(true);
    expect(state.written).toEqual([sent]);
    expect(gate.paused).toBe(false);
  });

  it('when the ledger refuses a record for another reason, then it is acked all the same, logged, and consuming goes on', async () => {
    const { ledger } = fakeLedger();
    ledger.recordSent = () => Promise.reject(new Error('violates a constraint'));
    const { gate, errors } = setUp(ledger);

    await expect(gate.record(sent)).resolves.toBe(true);

    expect(errors).toEqual(['the ledger refused a record; acking all the same']);
    expect(gate.paused).toBe(false);
  });

  it('when messages are kept for the ledger, then they are handed back in order once it answers', async () => {
    const { ledger, state } = fakeLedger();
    const { gate, resumed } = setUp(ledger);
    gate.keep(heldOn(new AbortController(), 'a'));
    gate.keep(heldOn(new AbortController(), 'b'));

    expect(gate.waiting).toBe(2);
    expect(gate.paused).toBe(true);
    state.down = false;
    await jest.advanceTimersByTimeAsync(100);

    expect(resumed).toEqual(['a', 'b']);
    expect(gate.waiting).toBe(0);
    expect(gate.paused).toBe(false);
  });

  it("when a channel closes, then its kept messages are let go and the others' still handed back", async () => {
    const { ledger, state } = fakeLedger();
    const { gate, resumed } = setUp(ledger);
    const channelA = new AbortController();
    gate.keep(heldOn(channelA, 'a'));
    gate.keep(heldOn(new AbortController(), 'b'));

    channelA.abort();
    expect(gate.drop().map(({ id }) => id)).toEqual(['a']);
    state.down = false;
    await jest.advanceTimersByTimeAsync(100);

    expect(resumed).toEqual(['b']);
  });

  it('when the gate is closed (the worker stops) while a record waits, then the record gives up and the ledger is asked no more', async () => {
    const { ledger, state } = fakeLedger();
    const { gate } = setUp(ledger);
    const written = gate.record(sent);
    await jest.advanceTimersByTimeAsync(100);

    gate.close();

    await expect(written).resolves.toBe(false);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(state.pings).toEqual([100]);
  });

  it('when there is no ledger, then records are done at once and nothing is asked', async () => {
    const { gate } = setUp(undefined);

    await expect(gate.record(sent)).resolves.toBe(true);
    await expect(
      gate.recordOnce({ ...sent, kind: 'transient', error: 'x', ambiguous: false }),
    ).resolves.toBeUndefined();
    expect(gate.paused).toBe(false);
  });
});
