import { Errors } from 'postmark';
import {
  classifyPostmarkError,
  inactiveInAnswer,
  parseInactiveAddresses,
  POSTMARK_FAILURE_TABLE,
  postmarkFailureRow,
} from './errors';
import { ProviderError } from '../provider';

/** What the client throws for an answer: the same classes its ErrorHandler picks by HTTP status. */
const answered = {
  inactiveRecipient: new Errors.InactiveRecipientsError('Found inactive addresses: a@example.org.', 406, 422),
  invalidRequest: new Errors.InvalidEmailRequestError("Invalid 'To' address: 'x'.", 300, 422),
  apiInput: (code: number) => new Errors.ApiInputError(`ErrorCode ${code}`, code, 422),
  badToken: new Errors.InvalidAPIKeyError('Request does not contain a valid Server token.', 10, 401),
  rateLimited: new Errors.RateLimitExceededError('Rate limit exceeded.', 429, 429),
  internal: new Errors.InternalServerError('Request returned status code 500', 0, 500),
  unavailable: new Errors.ServiceUnavailablerError('Postmark is down for maintenance.', 100, 503),
  unknown: (status: number) => new Errors.UnknownError(`Request returned status code ${status}`, 0, status),
  notFound: new Errors.PostmarkError('Request returned status code 404', 0, 404),
};

const systemError = (code: string, syscall: string): Error =>
  new TypeError('fetch failed', { cause: Object.assign(new Error(`${syscall} ${code}`), { code, syscall }) });

interface Row {
  readonly when: string;
  /** The name of the table row that must decide it. */
  readonly row: string;
  readonly error: unknown;
  readonly kind: ProviderError['kind'];
  readonly ambiguous: boolean;
  readonly code: string | undefined;
}

const rows: readonly Row[] = [
  // ErrorCodes: they decide whatever the HTTP status.
  {
    when: '422 ErrorCode 406 (inactive recipient)',
    row: 'postmark-406-inactive-recipient',
    error: answered.inactiveRecipient,
    kind: 'recipient-rejected',
    ambiguous: false,
    code: '406',
  },
  {
    when: '422 ErrorCode 300 (invalid email request)',
    row: 'postmark-300-invalid-request',
    error: answered.invalidRequest,
    kind: 'recipient-rejected',
    ambiguous: false,
    code: '300',
  },
  {
    when: '422 ErrorCode 411 (forbidden attachment type)',
    row: 'postmark-411-forbidden-attachment',
    error: answered.apiInput(411),
    kind: 'recipient-rejected',
    ambiguous: false,
    code: '411',
  },
  {
    when: '401 ErrorCode 10 (bad or missing token)',
    row: 'postmark-10-bad-token',
    error: answered.badToken,
    kind: 'provider-unavailable',
    ambiguous: false,
    code: '10',
  },
  {
    when: '422 ErrorCode 400 (sender signature not found)',
    row: 'postmark-400-sender-not-found',
    error: answered.apiInput(400),
    kind: 'provider-unavailable',
    ambiguous: false,
    code: '400',
  },
  {
    when: '422 ErrorCode 401 (sender signature not confirmed)',
    row: 'postmark-401-sender-not-confirmed',
    error: answered.apiInput(401),
    kind: 'provider-unavailable',
    ambiguous: false,
    code: '401',
  },
  {
    when: '422 ErrorCode 402 (invalid JSON)',
    row: 'postmark-402-invalid-json',
    error: answered.apiInput(402),
    kind: 'provider-unavailable',
    ambiguous: false,
    code: '402',
  },
  {
    when: '422 ErrorCode 403 (incompatible JSON)',
    row: 'postmark-403-incompatible-json',
    error: answered.apiInput(403),
    kind: 'provider-unavailable',
    ambiguous: false,
    code: '403',
  },
  {
    when: '422 ErrorCode 405 (not allowed to send)',
    row: 'postmark-405-not-allowed',
    error: answered.apiInput(405),
    kind: 'provider-unavailable',
    ambiguous: false,
    code: '405',
  },
  {
    when: '422 ErrorCode 409 (JSON required)',
    row: 'postmark-409-json-required',
    error: answered.apiInput(409),
    kind: 'provider-unavailable',
    ambiguous: false,
    code: '409',
  },
  {
    when: '422 ErrorCode 412 (account pending)',
    row: 'postmark-412-account-pending',
    error: answered.apiInput(412),
    kind: 'provider-unavailable',
    ambiguous: false,
    code: '412',
  },
  {
    when: '422 ErrorCode 413 (account may not send)',
    row: 'postmark-413-may-not-send',
    error: answered.apiInput(413),
    kind: 'provider-unavailable',
    ambiguous: false,
    code: '413',
  },
  {
    when: '429 ErrorCode 429 (rate limit exceeded)',
    row: 'postmark-429-rate-limited',
    error: answered.rateLimited,
    kind: 'transient',
    ambiguous: false,
    code: '429',
  },
  {
    when: '503 ErrorCode 100 (maintenance)',
    row: 'postmark-100-maintenance',
    error: answered.unavailable,
    kind: 'transient',
    ambiguous: false,
    code: '100',
  },
  {
    when: '422 with an ErrorCode not in the table',
    row: 'postmark-http-other',
    error: answered.apiInput(9999),
    kind: 'transient',
    ambiguous: false,
    code: '9999',
  },
  // HTTP statuses, when no known ErrorCode came with them.
  {
    when: '401 with no ErrorCode',
    row: 'postmark-http-401',
    error: new Errors.InvalidAPIKeyError('Unauthorized', 0, 401),
    kind: 'provider-unavailable',
    ambiguous: false,
    code: undefined,
  },
  {
    when: '404 (not a Postmark endpoint)',
    row: 'postmark-http-404',
    error: answered.notFound,
    kind: 'provider-unavailable',
    ambiguous: false,
    code: undefined,
  },
  {
    when: '413 (request too large)',
    row: 'postmark-http-413',
    error: answered.unknown(413),
    kind: 'recipient-rejected',
    ambiguous: false,
    code: undefined,
  },
  {
    when: '415 (unsupported media type)',
    row: 'postmark-http-415',
    error: answered.unknown(415),
    kind: 'provider-unavailable',
    ambiguous: false,
    code: undefined,
  },
  {
    when: '429 with no ErrorCode',
    row: 'postmark-http-429',
    error: new Errors.RateLimitExceededError('Too many', 0, 429),
    kind: 'transient',
    ambiguous: false,
    code: undefined,
  },
  {
    when: '500 (internal server error)',
    row: 'postmark-http-5xx',
    error: answered.internal,
    kind: 'transient',
    ambiguous: false,
    code: undefined,
  },
  {
    when: '503 with no ErrorCode',
    row: 'postmark-http-5xx',
    error: new Errors.ServiceUnavailablerError('Unavailable', 0, 503),
    kind: 'transient',
    ambiguous: false,
    code: undefined,
  },
  {
    when: '502 (bad gateway)',
    row: 'postmark-http-502',
    error: answered.unknown(502),
    kind: 'transient',
    ambiguous: true,
    code: undefined,
  },
  {
    when: '504 (gateway timeout)',
    row: 'postmark-http-504',
    error: answered.unknown(504),
    kind: 'transient',
    ambiguous: true,
    code: undefined,
  },
  {
    when: 'another 5xx (507)',
    row: 'postmark-http-5xx',
    error: answered.unknown(507),
    kind: 'transient',
    ambiguous: false,
    code: undefined,
  },
  {
    when: 'another status (403 from a firewall)',
    row: 'postmark-http-other',
    error: answered.unknown(403),
    kind: 'transient',
    ambiguous: false,
    code: undefined,
  },
  // Transport failures (what fetch throws, its system error in `cause`).
  {
    when: 'the connection is refused (ECONNREFUSED)',
    row: 'postmark-not-reached',
    error: systemError('ECONNREFUSED', 'connect'),
    kind: 'transient',
    ambiguous: false,
    code: 'ECONNREFUSED',
  },
  {
    when: 'the host name does not resolve (ENOTFOUND)',
    row: 'postmark-not-reached',
    error: systemError('ENOTFOUND', 'getaddrinfo'),
    kind: 'transient',
    ambiguous: false,
    code: 'ENOTFOUND',
  },
  {
    when: 'DNS fails for now (EAI_AGAIN)',
    row: 'postmark-not-reached',
    error: systemError('EAI_AGAIN', 'getaddrinfo'),
    kind: 'transient',
    ambiguous: false,
    code: 'EAI_AGAIN',
  },
  {
    when: 'connecting times out (ETIMEDOUT on connect)',
    row: 'postmark-not-reached',
    error: systemError('ETIMEDOUT', 'connect'),
    kind: 'transient',
    ambiguous: false,
    code: 'ETIMEDOUT',
  },
  {
    when: "undici's connect timeout fires (UND_ERR_CONNECT_TIMEOUT)",
    row: 'postmark-not-reached',
    error: new TypeError('fetch failed', {
      cause: Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' }),
    }),
    kind: 'transient',
    ambiguous: false,
    code: 'UND_ERR_CONNECT_TIMEOUT',
  },
  {
    when: 'the connection is reset after sending (ECONNRESET)',
    row: 'postmark-connection-lost',
    error: systemError('ECONNRESET', 'read'),
    kind: 'transient',
    ambiguous: true,
    code: 'ECONNRESET',
  },
  {
    when: 'reading the answer times out (ETIMEDOUT on read)',
    row: 'postmark-connection-lost',
    error: systemError('ETIMEDOUT', 'read'),
    kind: 'transient',
    ambiguous: true,
    code: 'ETIMEDOUT',
  },
  {
    when: 'the other side closes the socket (UND_ERR_SOCKET)',
    row: 'postmark-connection-lost',
    error: new TypeError('fetch failed', {
      cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
    }),
    kind: 'transient',
    ambiguous: true,
    code: 'UND_ERR_SOCKET',
  },
  // Timeouts and aborts come after the request went out.
  {
    when: 'the request times out (TimeoutError)',
    row: 'postmark-timeout',
    error: new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
    kind: 'transient',
    ambiguous: true,
    code: 'TIMEOUT',
  },
  {
    when: 'the request is aborted (AbortError)',
    row: 'postmark-aborted',
    error: new DOMException('This operation was aborted', 'AbortError'),
    kind: 'transient',
    ambiguous: true,
    code: 'ABORTED',
  },
  // What says nothing about whether the request left.
  {
    when: 'the client wrapped a transport failure (PostmarkError, no status)',
    row: 'postmark-unknown',
    error: new Errors.PostmarkError('fetch failed'),
    kind: 'transient',
    ambiguous: true,
    code: undefined,
  },
  {
    when: 'anything else is thrown',
    row: 'postmark-unknown',
    error: 'something odd',
    kind: 'transient',
    ambiguous: true,
    code: undefined,
  },
];

describe('classifyPostmarkError', () => {
  it.each(rows)(
    'when $when, then row $row decides: $kind (ambiguous: $ambiguous)',
    ({ error, row, kind, ambiguous, code }) => {
      const classified = classifyPostmarkError(error);

      expect(postmarkFailureRow(error).name).toBe(row);
      expect(classified).toBeInstanceOf(ProviderError);
      expect(classified).toMatchObject({ kind, ambiguous, code });
      expect(classified.cause).toBe(error);
    },
  );

  it('when the cases above run, then every row of the table is exercised', () => {
    expect([...new Set(rows.map((c) => c.row))].sort()).toEqual(POSTMARK_FAILURE_TABLE.map((row) => row.name).sort());
  });

  it('when given a ProviderError, then it is returned unchanged', () => {
    const error = new ProviderError('recipient-rejected', 'already classified');

    expect(classifyPostmarkError(error)).toBe(error);
  });

  it('when Postmark answers with a long message, then the failure text keeps status, ErrorCode and a bounded part of it', () => {
    const error = new Errors.InactiveRecipientsError(`Found inactive addresses: ${'x'.repeat(1000)}`, 406, 422);

    const classified = classifyPostmarkError(error);

    expect(classified.message).toMatch(/^Postmark answered HTTP 422 with ErrorCode 406 \(inactive recipient\): Found/);
    expect(classified.message.length).toBeLessThan(400);
  });
});

describe('inactive recipients named by Postmark', () => {
  it.each([
    [
      'a 406 in the wording of 2022',
      'You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: a@example.org, B.c@example.net. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.',
      ['a@example.org', 'B.c@example.net'],
    ],
    [
      'a 406 in the newer wording',
      'Found inactive addresses: john@example.com. Emails to these addresses are not accepted or delivered by Postmark.',
      ['john@example.com'],
    ],
    [
      'a 200 naming some inactive ones',
      'Message OK, but will not deliver to these inactive addresses: a@example.org, b@example.org',
      ['a@example.org', 'b@example.org'],
    ],
    ['a plain OK', 'OK', []],
    ['a list with no address in it', 'Found inactive addresses: nobody. Inactive recipients', []],
  ])('when the text is %s, then the addresses are read from it', (_case, text, expected) => {
    expect(parseInactiveAddresses(text)).toEqual(expected);
  });

  it('when Postmark answers 406, then the failure names each inactive recipient, on the provider list', () => {
    const error = new Errors.InactiveRecipientsError(
      'You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: a@example.org, b@example.org. Inactive recipients are ones that have generated a hard bounce.',
      406,
      422,
    );

    const classified = classifyPostmarkError(error);

    expect(classified.kind).toBe('recipient-rejected');
    expect(classified.refused).toEqual([
      { address: 'a@example.org', reason: 'postmark 406 inactive recipient', onProviderList: true },
      { address: 'b@example.org', reason: 'postmark 406 inactive recipient', onProviderList: true },
    ]);
    // The text keeps no full address.
    expect(classified.message).not.toContain('a@example.org');
  });

  it('when Postmark refuses for another reason, then no recipient is named', () => {
    expect(classifyPostmarkError(answered.invalidRequest).refused).toBeUndefined();
    expect(classifyPostmarkError(answered.rateLimited).refused).toBeUndefined();
  });

  it('when a 200 answer names inactive addresses, then they are read as refused; an OK names none', () => {
    expect(inactiveInAnswer('Message OK, but will not deliver to these inactive addresses: a@example.org')).toEqual([
      { address: 'a@example.org', reason: 'postmark 406 inactive recipient', onProviderList: true },
    ]);
    expect(inactiveInAnswer('OK')).toEqual([]);
    expect(inactiveInAnswer(undefined)).toEqual([]);
  });
});
