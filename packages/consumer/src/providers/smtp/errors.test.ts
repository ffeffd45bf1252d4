import { constants } from 'node:os';
import type { FailureKind } from '@mailer/contract';
import { ProviderError } from '../provider';
import { SMTP_FAILURE_TABLE, classifySmtpError, refusedMailboxOf, smtpFailureOf, smtpFailureRow } from './errors';

/** An error shaped as nodemailer's smtp-connection makes it (`_formatError`). */
function smtpError(fields: { code?: string; command?: string; response?: string; errno?: number }): Error {
  const error = new Error(fields.response === undefined ? 'failed' : `failed: ${fields.response}`);
  const responseCode = fields.response === undefined ? undefined : Number(fields.response.slice(0, 3));
  return Object.assign(error, fields, responseCode === undefined ? {} : { responseCode });
}

interface Row {
  readonly when: string;
  readonly error: unknown;
  readonly kind: FailureKind;
}

/** One case per row of SMTP_FAILURE_TABLE, keyed by the row's name. */
const rows: Record<string, Row> = {
  'smtp-temporary-reply': {
    when: 'the server answers DATA with 451 4.3.0',
    error: smtpError({ code: 'EMESSAGE', command: 'DATA', response: '451 4.3.0 Local error, try again' }),
    kind: 'transient',
  },
  'smtp-authentication-failed': {
    when: 'the server refuses the credentials with 535 5.7.8',
    error: smtpError({
      code: 'EAUTH',
      command: 'AUTH PLAIN',
      response: '535 5.7.8 Authentication credentials invalid',
    }),
    kind: 'provider-unavailable',
  },
  'smtp-authentication-required': {
    when: 'the server answers MAIL FROM with 530 5.7.0 authentication required',
    error: smtpError({ code: 'EENVELOPE', command: 'MAIL FROM', response: '530 5.7.0 Authentication required' }),
    kind: 'provider-unavailable',
  },
  'smtp-policy-refused': {
    when: 'the server answers RCPT TO with 554 5.7.1 relay access denied',
    error: smtpError({
      code: 'EENVELOPE',
      command: 'RCPT TO',
      response: '554 5.7.1 <x@example.org>: Relay access denied',
    }),
    kind: 'provider-unavailable',
  },
  'smtp-message-too-big': {
    when: 'the server answers the end of DATA with 552 5.3.4 message too big',
    error: smtpError({ code: 'EMESSAGE', command: 'DATA', response: '552 5.3.4 Message size exceeds fixed limit' }),
    kind: 'recipient-rejected',
  },
  'smtp-content-rejected': {
    when: 'the server answers the end of DATA with 554 5.6.0 content rejected',
    error: smtpError({ code: 'EMESSAGE', command: 'DATA', response: '554 5.6.0 Message content rejected' }),
    kind: 'recipient-rejected',
  },
  'smtp-sender-refused': {
    when: 'the server answers MAIL FROM with 553 5.1.8 sender domain does not exist',
    error: smtpError({
      code: 'EENVELOPE',
      command: 'MAIL FROM',
      response: '553 5.1.8 Sender address rejected: Domain not found',
    }),
    kind: 'provider-unavailable',
  },
  'smtp-recipient-refused': {
    when: 'the server answers RCPT TO with 550 5.1.1 no such user',
    error: smtpError({ code: 'EENVELOPE', command: 'RCPT TO', response: '550 5.1.1 No such user' }),
    kind: 'recipient-rejected',
  },
  'smtp-message-refused': {
    when: 'the server answers the end of DATA with a bare 554 transaction failed',
    error: smtpError({ code: 'EMESSAGE', command: 'DATA', response: '554 Transaction failed' }),
    kind: 'recipient-rejected',
  },
  'smtp-session-refused': {
    when: 'the server greets with 554 instead of 220',
    error: smtpError({ code: 'EPROTOCOL', command: 'CONN', response: '554 No SMTP service here' }),
    kind: 'provider-unavailable',
  },
  'smtp-unsendable-envelope': {
    when: 'nodemailer finds no recipient before talking to the server',
    error: smtpError({ code: 'EENVELOPE', command: 'API' }),
    kind: 'recipient-rejected',
  },
  'smtp-connection-failed': {
    when: 'the connection is refused (ESOCKET hiding ECONNREFUSED)',
    error: smtpError({ code: 'ESOCKET', command: 'CONN', errno: -constants.errno.ECONNREFUSED }),
    kind: 'transient',
  },
  'smtp-tls-failed': {
    when: 'the TLS handshake fails',
    error: smtpError({ code: 'ETLS', command: 'CONN' }),
    kind: 'provider-unavailable',
  },
  'smtp-unknown': {
    when: 'the error is not a nodemailer error at all',
    error: new TypeError('something else'),
    kind: 'transient',
  },
};

describe('classifySmtpError: one case per row of the table', () => {
  it('when the table is read, then every row has a case here and every case a row', () => {
    expect(Object.keys(rows).sort()).toEqual(SMTP_FAILURE_TABLE.map((rule) => rule.name).sort());
  });

  it.each(SMTP_FAILURE_TABLE.map((rule) => [rule.name, rule] as const))(
    'row %s: when its case is classified, then this row decides and gives its kind',
    (name, rule) => {
      const row = rows[name]!;
      expect(smtpFailureRow(smtpFailureOf(row.error)).name).toBe(name);
      const classified = classifySmtpError(row.error);
      expect(classified).toBeInstanceOf(ProviderError);
      expect(classified.kind).toBe(row.kind);
      expect(classified.kind).toBe(rule.kind);
      expect(classified.cause).toBe(row.error);
    },
  );
});

describe('classifySmtpError: the cases the brief names', () => {
  const cases: readonly (readonly [string, unknown, FailureKind])[] = [
    [
      '550 on RCPT TO without an enhanced code',
      smtpError({ code: 'EENVELOPE', command: 'RCPT TO', response: '550 Mailbox unavailable' }),
      'recipient-rejected',
    ],
    [
      '551 5.1.6 user not local on RCPT TO',
      smtpError({ code: 'EENVELOPE', command: 'RCPT TO', response: '551 5.1.6 User not local' }),
      'recipient-rejected',
    ],
    [
      '553 5.1.3 bad address syntax on RCPT TO',
      smtpError({ code: 'EENVELOPE', command: 'RCPT TO', response: '553 5.1.3 Bad recipient address syntax' }),
      'recipient-rejected',
    ],
    [
      '534 5.7.9 mechanism too weak on AUTH',
      smtpError({ code: 'EAUTH', command: 'AUTH LOGIN', response: '534 5.7.9 Authentication mechanism is too weak' }),
      'provider-unavailable',
    ],
    [
      '550 5.7.1 relaying denied on RCPT TO',
      smtpError({ code: 'EENVELOPE', command: 'RCPT TO', response: '550 5.7.1 Relaying denied' }),
      'provider-unavailable',
    ],
    [
      '421 service closing, as the connection closes',
      smtpError({ code: 'ECONNECTION', command: 'CONN', response: '421 4.4.2 Closing connection' }),
      'transient',
    ],
    [
      '450 4.2.1 mailbox busy on RCPT TO',
      smtpError({ code: 'EENVELOPE', command: 'RCPT TO', response: '450 4.2.1 Mailbox busy' }),
      'transient',
    ],
    [
      '452 4.3.1 insufficient storage on MAIL FROM',
      smtpError({ code: 'EENVELOPE', command: 'MAIL FROM', response: '452 4.3.1 Insufficient system storage' }),
      'transient',
    ],
    [
      '454 4.7.0 temporary authentication failure',
      smtpError({ code: 'EAUTH', command: 'AUTH PLAIN', response: '454 4.7.0 Temporary authentication failure' }),
      'transient',
    ],
    [
      'ECONNECTION, the connection closed unexpectedly',
      smtpError({ code: 'ECONNECTION', command: 'CONN' }),
      'transient',
    ],
    ['ETIMEDOUT, greeting never received', smtpError({ code: 'ETIMEDOUT', command: 'CONN' }), 'transient'],
    [
      'a raw ECONNRESET from the socket',
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      'transient',
    ],
    [
      '552 on MAIL FROM (SIZE) without an enhanced code',
      smtpError({ code: 'EENVELOPE', command: 'MAIL FROM', response: '552 Message size exceeds maximum' }),
      'recipient-rejected',
    ],
    [
      "nodemailer's own size check against the advertised SIZE",
      smtpError({ code: 'EMESSAGE', command: 'MAIL FROM' }),
      'recipient-rejected',
    ],
    [
      '554 5.6.1 media not supported',
      smtpError({ code: 'EMESSAGE', command: 'DATA', response: '554 5.6.1 Media not supported' }),
      'recipient-rejected',
    ],
    ['a thrown string', 'boom', 'transient'],
  ];

  it.each(cases)('when the error is %s, then it is classified as expected', (_name, error, kind) => {
    expect(classifySmtpError(error).kind).toBe(kind);
  });
});

describe('classifySmtpError: ambiguity', () => {
  const timeout = (): Error => smtpError({ code: 'ETIMEDOUT', command: 'CONN' });

  it('when a socket timeout comes before the message was handed over, then it is not ambiguous', () => {
    expect(classifySmtpError(timeout(), { messageHandedOver: false }).ambiguous).toBe(false);
  });

  it('when a socket timeout comes after the message was handed over, then it is transient and ambiguous', () => {
    const classified = classifySmtpError(timeout(), { messageHandedOver: true });
    expect(classified.kind).toBe('transient');
    expect(classified.ambiguous).toBe(true);
  });

  it('when the connection closes after the message was handed over, then it is ambiguous', () => {
    const closed = smtpError({ code: 'ECONNECTION', command: 'CONN' });
    expect(classifySmtpError(closed, { messageHandedOver: true }).ambiguous).toBe(true);
  });

  it('when the server replied after the message was handed over, then it is not ambiguous', () => {
    const refused = smtpError({ code: 'EMESSAGE', command: 'DATA', response: '451 4.3.0 Try later' });
    expect(classifySmtpError(refused, { messageHandedOver: true }).ambiguous).toBe(false);
  });

  it('when no stage is given, then nothing is ambiguous', () => {
    expect(classifySmtpError(timeout()).ambiguous).toBe(false);
  });
});

describe('classifySmtpError: every recipient refused', () => {
  function allRefused(...responses: string[]): Error {
    const rejectedErrors = responses.map((response) => smtpError({ code: 'EENVELOPE', command: 'RCPT TO', response }));
    return Object.assign(smtpError({ code: 'EENVELOPE', command: 'RCPT TO', response: responses.at(-1)! }), {
      rejectedErrors,
    });
  }

  it('when every recipient is refused for good, then it is recipient-rejected', () => {
    expect(classifySmtpError(allRefused('550 5.1.1 No such user', '553 5.1.3 Bad syntax')).kind).toBe(
      'recipient-rejected',
    );
  });

  it('when every recipient is refused with 5.1.x, then each is named for the suppression list', () => {
    const error = allRefused('550 5.1.1 No such user', '553 5.1.3 Bad syntax');
    (error as unknown as { rejectedErrors: Error[] }).rejectedErrors.forEach((e, i) =>
      Object.assign(e, { recipient: `r${i}@example.org` }),
    );

    expect(classifySmtpError(error).refused).toEqual([
      { address: 'r0@example.org', reason: 'smtp 550 5.1.1', onProviderList: false },
      { address: 'r1@example.org', reason: 'smtp 553 5.1.3', onProviderList: false },
    ]);
  });

  it('when one of the refusals is not 5.1.x, then no recipient is named', () => {
    const error = allRefused('550 5.1.1 No such user', '550 5.2.1 Mailbox disabled');
    (error as unknown as { rejectedErrors: Error[] }).rejectedErrors.forEach((e, i) =>
      Object.assign(e, { recipient: `r${i}@example.org` }),
    );

    expect(classifySmtpError(error).refused).toBeUndefined();
  });

  it('when one refusal is temporary, then it is transient, whatever the last reply says', () => {
    expect(classifySmtpError(allRefused('451 4.7.1 Greylisted', '550 5.1.1 No such user')).kind).toBe('transient');
  });

  it('when one refusal is about us (relay denied), then it is provider-unavailable', () => {
    expect(classifySmtpError(allRefused('550 5.1.1 No such user', '550 5.7.1 Relaying denied')).kind).toBe(
      'provider-unavailable',
    );
  });
});

describe('classifySmtpError: the ProviderError it returns', () => {
  it('when the server replied, then the code is the reply code and the message names the command', () => {
    const classified = classifySmtpError(
      smtpError({ code: 'EENVELOPE', command: 'RCPT TO', response: '550 5.1.1 No such user' }),
    );
    expect(classified.code).toBe('550');
    expect(classified.message).toBe('smtp: RCPT TO: failed: 550 5.1.1 No such user');
  });

  it('when the socket failed, then the code is the system error behind it', () => {
    expect(
      classifySmtpError(smtpError({ code: 'ESOCKET', command: 'CONN', errno: -constants.errno.ECONNREFUSED })).code,
    ).toBe('ECONNREFUSED');
  });

  it('when nodemailer failed on its own, then the code is its code', () => {
    expect(classifySmtpError(smtpError({ code: 'ETIMEDOUT', command: 'CONN' })).code).toBe('ETIMEDOUT');
  });

  it('when given a ProviderError, then it is returned as it is', () => {
    const error = new ProviderError('recipient-rejected', 'already classified');
    expect(classifySmtpError(error)).toBe(error);
  });
});

describe('refusedMailboxOf', () => {
  const rcpt = (response: string, recipient = 'x@example.org') =>
    Object.assign(smtpError({ code: 'EENVELOPE', command: 'RCPT TO', response }), { recipient });

  it.each([
    ['550 5.1.1 <x@example.org>: Recipient address rejected', 'smtp 550 5.1.1'],
    ['553 5.1.10 Null MX', 'smtp 553 5.1.10'],
  ])('when RCPT TO is refused with %s, then the recipient is named', (response, reason) => {
    expect(refusedMailboxOf(rcpt(response))).toEqual({ address: 'x@example.org', reason, onProviderList: false });
  });

  it.each([
    ['a temporary refusal', '450 4.1.1 Try later'],
    ['a mailbox status', '552 5.2.2 Mailbox full'],
    ['a bare 550', '550 No such user here'],
    ['a policy refusal', '550 5.7.1 Relaying denied'],
  ])('when RCPT TO gets %s, then nobody is named', (_case, response) => {
    expect(refusedMailboxOf(rcpt(response))).toBeUndefined();
  });

  it('when the refusal is not on RCPT TO or names no recipient, then nobody is named', () => {
    expect(
      refusedMailboxOf(smtpError({ code: 'EENVELOPE', command: 'MAIL FROM', response: '550 5.1.1 x' })),
    ).toBeUndefined();
    expect(refusedMailboxOf(rcpt('550 5.1.1 x', ''))).toBeUndefined();
  });
});
