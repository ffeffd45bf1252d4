import { ReleaseSchedule, type ReleaseRun, type ReleaseTrigger } from './release-schedule';

/** A schedule whose releases are answered by the test, one at a time. */
function schedule() {
  const calls: [ReleaseTrigger, number | undefined][] = [];
  const errors: ReleaseTrigger[] = [];
  let answer: (run: ReleaseRun | Error) => void = () => undefined;
  const subject = new ReleaseSchedule({
    intervalMs: 60_000,
    release: (trigger, limit) => {
      calls.push([trigger, limit]);
      return new Promise<ReleaseRun>((resolve, reject) => {
        answer = (run) => (run instanceof Error ? reject(run) : resolve(run));
      });
    },
    onError: (_error, trigger) => errors.push(trigger),
  });
  const settle = async (run: ReleaseRun | Error) => {
    answer(run);
    await subject.idle;
  };
  return { subject, calls, errors, settle };
}

describe('ReleaseSchedule', () => {
  it('when nothing was sent since the last look, then it probes with one email, and keeps probing while more may be parked', async () => {
    const { subject, calls, settle } = schedule();
    subject.look();
    await settle({ released: 1, more: true });
    subject.look();
    await settle({ released: 0, more: false });
    subject.look();

    expect(calls).toEqual([
      ['probe', 1],
      ['probe', 1],
    ]);
  });

  it('when a send succeeded since the last look, then it releases everything', async () => {
    const { subject, calls, settle } = schedule();
    subject.sent();
    subject.look();
    await settle({ released: 7, more: false });
    subject.look();

    expect(calls).toEqual([['sending', undefined]]);
  });

  it('when a circuit closes again, then everything is released at once, even with nothing known parked', async () => {
    const { subject, calls, settle } = schedule();
    subject.sent();
    subject.look();
    await settle({ released: 0, more: false });
    subject.circuitClosed();
    await settle({ released: 3, more: false });

    expect(calls).toEqual([
      ['sending', undefined],
      ['circuit-closed', undefined],
    ]);
  });

  it('when this consumer parks a releasable email after a run cleared the way, then the next look runs again', async () => {
    const { subject, calls, settle } = schedule();
    subject.look();
    await settle({ released: 0, more: false });
    subject.look();
    subject.parked();
    subject.look();

    expect(calls).toEqual([
      ['probe', 1],
      ['probe', 1],
    ]);
  });

  it('when triggers come during a run, then it runs once more after it, the strongest of them', async () => {
    const { subject, calls, settle } = schedule();
    subject.look();
    subject.look();
    subject.circuitClosed();
    subject.look();
    await settle({ released: 1, more: true });
    await settle({ released: 4, more: false });

    expect(calls).toEqual([
      ['probe', 1],
      ['circuit-closed', undefined],
    ]);
  });

  it('when a release fails, then the error is reported and the next look tries again', async () => {
    const { subject, calls, errors, settle } = schedule();
    subject.circuitClosed();
    await settle(new Error('not connected'));
    subject.look();

    expect(errors).toEqual(['circuit-closed']);
    expect(calls).toEqual([
      ['circuit-closed', undefined],
      ['probe', 1],
    ]);
  });

  it('when stopped, then it waits for the run under way and starts no other', async () => {
    const { subject, calls, settle } = schedule();
    subject.start();
    subject.look();
    const stopping = subject.stop();
    subject.circuitClosed();
    await settle({ released: 1, more: true });
    await stopping;
    subject.look();

    expect(calls).toEqual([['probe', 1]]);
  });
});
