import type { EmailRequest } from '@mailer/contract';
import { withoutSuppressed } from './suppressed-recipients';

const request: EmailRequest = {
  from: { email: 'no-reply@example.com' },
  to: [{ email: 'ann@example.org', name: 'Ann' }, { email: 'bob@example.org' }],
  cc: [{ email: 'cid@example.net' }],
  bcc: [{ email: 'dan@example.net' }],
  reply_to: [{ email: 'ann@example.org' }],
  subject: 's',
  text: 't',
};

describe('withoutSuppressed', () => {
  it('when no position is suppressed, then the request is the same object and nobody is named', () => {
    expect(withoutSuppressed(request, [])).toEqual({ remaining: request, suppressed: [] });
    expect(withoutSuppressed(request, []).remaining).toBe(request);
  });

  it('when positions name recipients across to, cc and bcc, then those are left out in order and named masked', () => {
    const { remaining, suppressed } = withoutSuppressed(request, [1, 3]);

    expect(suppressed).toEqual(['b***@example.org', 'd***@example.net']);
    expect(remaining).toEqual({
      from: { email: 'no-reply@example.com' },
      to: [{ email: 'ann@example.org', name: 'Ann' }],
      cc: [{ email: 'cid@example.net' }],
      reply_to: [{ email: 'ann@example.org' }],
      subject: 's',
      text: 't',
    });
  });

  it('when every to recipient is suppressed, then to is left out (not sent empty) and cc and bcc stay where they were', () => {
    const { remaining } = withoutSuppressed(request, [0, 1]);

    expect(remaining).not.toHaveProperty('to');
    expect(remaining).toMatchObject({ cc: [{ email: 'cid@example.net' }], bcc: [{ email: 'dan@example.net' }] });
    // Reply-To is no recipient: it is left as it is.
    expect(remaining?.reply_to).toEqual([{ email: 'ann@example.org' }]);
  });

  it('when every recipient is suppressed, then nothing remains and each is named', () => {
    expect(withoutSuppressed(request, [0, 1, 2, 3])).toEqual({
      remaining: undefined,
      suppressed: ['a***@example.org', 'b***@example.org', 'c***@example.net', 'd***@example.net'],
    });
  });

  it('when one address appears twice in another case, then it is named once', () => {
    const twice: EmailRequest = { ...request, cc: [{ email: 'Ann@Example.org' }] };

    expect(withoutSuppressed(twice, [0, 2]).suppressed).toEqual(['a***@example.org']);
  });

  it('when a position is past the recipients, then it is ignored', () => {
    expect(withoutSuppressed(request, [7])).toEqual({ remaining: { ...request }, suppressed: [] });
  });
});
