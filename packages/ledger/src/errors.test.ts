import { classify, isUnavailable, LedgerUnavailableError } from './errors';

describe('isUnavailable', () => {
  test.each([
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['a server shutting down (57P01)', Object.assign(new Error('terminating connection'), { code: '57P01' })],
    ['a connection exception (08006)', Object.assign(new Error('connection failure'), { code: '08006' })],
    [
      'a statement timeout (57014)',
      Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }),
    ],
    ['a missing database (3D000)', Object.assign(new Error('database "x" does not exist'), { code: '3D000' })],
    ['a lost connection', new Error('Connection terminated unexpectedly')],
    ['an exhausted pool', new Error('timeout exceeded when trying to connect')],
    ['a server that stopped answering', new Error('Query read timeout')],
    ['happy eyeballs giving up', new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })])],
  ])('when the error is %s, then the ledger is unavailable', (_name, error) => {
    expect(isUnavailable(error)).toBe(true);
    expect(classify(error, 'testing')).toBeInstanceOf(LedgerUnavailableError);
  });

  test.each([
    ['a syntax error (42601)', Object.assign(new Error('syntax error'), { code: '42601' })],
    ['a unique violation (23505)', Object.assign(new Error('duplicate key'), { code: '23505' })],
    ['not an error', 'oops'],
  ])('when the error is %s, then it is passed on unchanged', (_name, error) => {
    expect(isUnavailable(error)).toBe(false);
    expect(classify(error, 'testing')).toBe(error);
  });

  test('when the ledger is unavailable, then the error names the reason services report', () => {
    const error = classify(new Error('Connection terminated'), 'recording') as LedgerUnavailableError;
    expect(error.reason).toBe('ledger-unavailable');
    expect(error.message).toContain('while recording');
    expect(error.cause).toBeInstanceOf(Error);
  });
});
