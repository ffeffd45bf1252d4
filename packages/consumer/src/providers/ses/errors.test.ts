import {
  AccountSendingPausedException,
  ConfigurationSetDoesNotExistException,
  ConfigurationSetSendingPausedException,
  MailFromDomainNotVerifiedException,
  MessageRejected,
  SESServiceException,
} from '@aws-sdk/client-ses';
import type { FailureKind } from '@mailer/contract';
import { ProviderError } from '../provider';
import { classifySesError, SES_FAILURE_TABLE, sesFailureRow } from './errors';

/** An SES error the SDK has no class for, as it builds one from the `<Code>` of the answer. */
function serviceError(name: string, message: string, httpStatusCode: number): SESServiceException {
  return new SESServiceException({
    name,
    message,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode },
  });
}

/** A Node or SDK-side error: an Error with the given fields, as @smithy/node-http-handler rejects with. */
function sdkError(message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), fields);
}

const $metadata = { httpStatusCode: 400 };

interface Case {
  readonly when: string;
  readonly error: unknown;
  readonly kind: FailureKind;
  readonly ambiguous: boolean;
  /** The name of the table row that must decide it. */
  readonly row: string;
}

const cases: readonly Case[] = [
  {
    when: 'SES rejects the message because the sender is not verified',
    error: new MessageRejected({
      message: 'Email address is not verified. The following identities failed the check in region US-EAST-1: a@b.c',
      $metadata,
    }),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 'ses-sender-not-verified',
  },
  {
    when: 'SES rejects the message because sending is paused for the account',
    error: new MessageRejected({
      message:
        'Sending paused for this account. For more information, please check the inbox of the email address associated with your AWS account.',
      $metadata,
    }),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 'ses-sending-paused-rejected',
  },
  {
    when: 'SES rejects the message for any other reason (address on the suppression list)',
    error: new MessageRejected({ message: 'Address blacklisted.', $metadata }),
    kind: 'recipient-rejected',
    ambiguous: false,
    row: 'ses-message-rejected',
  },
  {
    when: 'SES says an address of the email is invalid (InvalidParameterValue)',
    error: serviceError('InvalidParameterValue', 'Illegal address', 400),
    kind: 'recipient-rejected',
    ambiguous: false,
    row: 'ses-invalid-parameter',
  },
  {
    when: 'sending is paused for the account (AccountSendingPausedException)',
    error: new AccountSendingPausedException({ message: 'Sending paused for this account.', $metadata }),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 'ses-sending-paused',
  },
  {
    when: 'sending is paused for the configuration set',
    error: new ConfigurationSetSendingPausedException({
      message: 'Sending paused.',
      ConfigurationSetName: 'x',
      $metadata,
    }),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 'ses-sending-paused',
  },
  {
    when: 'the custom MAIL FROM domain is not verified',
    error: new MailFromDomainNotVerifiedException({ message: 'MAIL FROM domain not verified.', $metadata }),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 'ses-mail-from-not-verified',
  },
  {
    when: 'the configuration set does not exist',
    error: new ConfigurationSetDoesNotExistException({ message: 'Configuration set does not exist.', $metadata }),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 'ses-configuration-set-missing',
  },
  {
    when: 'SES throttles with "Daily message quota exceeded"',
    error: serviceError('Throttling', 'Daily message quota exceeded.', 400),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 'ses-daily-quota-spent',
  },
  {
    when: 'SES throttles with "Maximum sending rate exceeded"',
    error: serviceError('Throttling', 'Maximum sending rate exceeded.', 400),
    kind: 'transient',
    ambiguous: false,
    row: 'ses-throttled',
  },
  {
    when: 'the access key is unknown (InvalidClientTokenId)',
    error: serviceError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 'ses-credentials-refused',
  },
  {
    when: 'the secret is wrong (SignatureDoesNotMatch)',
    error: serviceError('SignatureDoesNotMatch', 'The request signature we calculated does not match.', 403),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 'ses-credentials-refused',
  },
  {
    when: 'the credentials may not send (AccessDenied)',
    error: serviceError('AccessDenied', 'User is not authorized to perform ses:SendRawEmail', 403),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 'ses-credentials-refused',
  },
  {
    when: 'the credentials may not send (AccessDeniedException)',
    error: serviceError('AccessDeniedException', 'Access denied', 403),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 'ses-credentials-refused',
  },
  {
    when: 'the client is not recognised (UnrecognizedClientException)',
    error: serviceError('UnrecognizedClientException', 'The security token included in the request is invalid.', 400),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 'ses-credentials-refused',
  },
  {
    when: 'the SDK finds no credentials (CredentialsProviderError)',
    error: sdkError('Could not load credentials from any providers', { name: 'CredentialsProviderError' }),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 'ses-credentials-refused',
  },
  {
    when: 'SES is unavailable (ServiceUnavailable 503)',
    error: serviceError('ServiceUnavailable', 'Service unavailable', 503),
    kind: 'transient',
    ambiguous: false,
    row: 'ses-server-error',
  },
  {
    when: 'SES fails internally (InternalFailure 500)',
    error: serviceError('InternalFailure', 'Internal failure', 500),
    kind: 'transient',
    ambiguous: false,
    row: 'ses-server-error',
  },
  {
    when: 'SES timed out reading the request (RequestTimeout)',
    error: serviceError(
      'RequestTimeout',
      'Your socket connection to the server was not read from within the timeout period',
      400,
    ),
    kind: 'transient',
    ambiguous: false,
    row: 'ses-request-timeout',
  },
  {
    when: 'the connection is refused (ECONNREFUSED)',
    error: sdkError('connect ECONNREFUSED 127.0.0.1:1', { code: 'ECONNREFUSED', syscall: 'connect', errno: -111 }),
    kind: 'transient',
    ambiguous: false,
    row: 'ses-never-connected',
  },
  {
    when: 'the SDK re-wraps a refused connection from another realm (code and syscall only in the text)',
    error: sdkError('AWS SDK error wrapper for Error: connect ECONNREFUSED 127.0.0.1:4566', {
      $metadata: { attempts: 1, totalRetryDelay: 0 },
    }),
    kind: 'transient',
    ambiguous: false,
    row: 'ses-never-connected',
  },
  {
    when: 'the host name does not resolve (ENOTFOUND)',
    error: sdkError('getaddrinfo ENOTFOUND email.example', { code: 'ENOTFOUND', syscall: 'getaddrinfo' }),
    kind: 'transient',
    ambiguous: false,
    row: 'ses-never-connected',
  },
  {
    when: 'the operating system times out connecting (ETIMEDOUT on connect, renamed TimeoutError by the SDK)',
    error: sdkError('connect ETIMEDOUT 10.0.0.1:443', { name: 'TimeoutError', code: 'ETIMEDOUT', syscall: 'connect' }),
    kind: 'transient',
    ambiguous: false,
    row: 'ses-connect-timeout',
  },
  {
    when: "the SDK's connectionTimeout runs out",
    error: sdkError(
      '@smithy/node-http-handler - the request socket did not establish a connection with the server within the configured timeout of 3000 ms.',
      { name: 'TimeoutError' },
    ),
    kind: 'transient',
    ambiguous: false,
    row: 'ses-connect-timeout',
  },
  {
    when: "the SDK's requestTimeout runs out after the request was sent (TimeoutError ETIMEDOUT)",
    error: sdkError(
      '@smithy/node-http-handler - [ERROR] a request has exceeded the configured 500 ms requestTimeout.',
      {
        name: 'TimeoutError',
        code: 'ETIMEDOUT',
      },
    ),
    kind: 'transient',
    ambiguous: true,
    row: 'ses-cut-off',
  },
  {
    when: "the delivery layer's signal aborts the request under way (AbortError)",
    error: sdkError('Request aborted', { name: 'AbortError', cause: new DOMException('timed out', 'TimeoutError') }),
    kind: 'transient',
    ambiguous: true,
    row: 'ses-cut-off',
  },
  {
    when: 'the connection is reset under way (ECONNRESET, renamed TimeoutError by the SDK)',
    error: sdkError('socket hang up', { name: 'TimeoutError', code: 'ECONNRESET' }),
    kind: 'transient',
    ambiguous: true,
    row: 'ses-cut-off',
  },
  {
    when: 'a plain Node ECONNRESET arrives',
    error: sdkError('read ECONNRESET', { code: 'ECONNRESET', syscall: 'read' }),
    kind: 'transient',
    ambiguous: true,
    row: 'ses-cut-off',
  },
  {
    when: 'SES answers 200 but the SDK cannot read the answer',
    error: sdkError('@aws-sdk XML parse error: unexpected content.', { $metadata: { httpStatusCode: 200 } }),
    kind: 'transient',
    ambiguous: true,
    row: 'ses-unreadable-2xx',
  },
  {
    when: 'an unnamed 429 arrives',
    error: serviceError('Unknown', 'Unknown', 429),
    kind: 'transient',
    ambiguous: false,
    row: 'ses-http-429',
  },
  {
    when: 'an unnamed 403 arrives',
    error: serviceError('Unknown', 'Unknown', 403),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 'ses-http-401-403',
  },
  {
    when: 'a gateway times out in front of SES (504)',
    error: serviceError('Unknown', 'Unknown', 504),
    kind: 'transient',
    ambiguous: true,
    row: 'ses-http-504',
  },
  {
    when: 'an unnamed 502 arrives',
    error: serviceError('Unknown', 'Unknown', 502),
    kind: 'transient',
    ambiguous: false,
    row: 'ses-http-5xx',
  },
  {
    when: 'SES answers with an error this table does not know (InvalidParameterCombination)',
    error: serviceError(
      'InvalidParameterCombination',
      'Parameters that must not be used together were used together.',
      400,
    ),
    kind: 'transient',
    ambiguous: false,
    row: 'ses-answered-other',
  },
  {
    when: 'something unknown is thrown with no answer from SES',
    error: new TypeError('something broke'),
    kind: 'transient',
    ambiguous: true,
    row: 'ses-unknown',
  },
  {
    when: 'a non-error is thrown',
    error: 'just a string',
    kind: 'transient',
    ambiguous: true,
    row: 'ses-unknown',
  },
];

describe('classifySesError', () => {
  it.each(cases)(
    'when $when, then row $row decides: $kind (ambiguous: $ambiguous)',
    ({ error, kind, ambiguous, row }) => {
      const classified = classifySesError(error);

      expect(classified).toBeInstanceOf(ProviderError);
      expect({ kind: classified.kind, ambiguous: classified.ambiguous }).toEqual({ kind, ambiguous });
      expect(sesFailureRow(error).name).toBe(row);
      expect(classified.cause).toBe(error);
    },
  );

  it('when the cases above run, then every row of the table is exercised', () => {
    expect([...new Set(cases.map((c) => c.row))].sort()).toEqual(SES_FAILURE_TABLE.map((row) => row.name).sort());
  });

  it('when SES names the error, then the ProviderError carries that name as its code, with status and text', () => {
    const classified = classifySesError(new MessageRejected({ message: 'Address blacklisted.', $metadata }));

    expect(classified.code).toBe('MessageRejected');
    expect(classified.message).toBe('SES MessageRejected (HTTP 400): Address blacklisted.');
  });

  it('when the SDK re-wraps a reset connection from another realm, then it is still ambiguous with its Node code', () => {
    const classified = classifySesError(sdkError('AWS SDK error wrapper for Error: read ECONNRESET', {}));

    expect({ kind: classified.kind, ambiguous: classified.ambiguous, code: classified.code }).toEqual({
      kind: 'transient',
      ambiguous: true,
      code: 'ECONNRESET',
    });
  });

  it.each([
    [
      "the SDK's requestTimeout (TimeoutError ETIMEDOUT)",
      sdkError('@smithy/node-http-handler - [ERROR] a request has exceeded the configured 500 ms requestTimeout.', {
        name: 'TimeoutError',
        code: 'ETIMEDOUT',
      }),
      'TIMEOUT',
    ],
    [
      "the SDK's connectionTimeout (TimeoutError, no code)",
      sdkError('the request socket did not establish a connection with the server within 3000 ms.', {
        name: 'TimeoutError',
      }),
      'TIMEOUT',
    ],
    ['an abort under way (AbortError)', sdkError('Request aborted', { name: 'AbortError' }), 'ABORTED'],
  ])('when the SDK stops a send itself with %s, then the code is the stop code %s', (_what, error, code) => {
    expect(classifySesError(error).code).toBe(code);
  });

  it('when a Node network error is thrown, then its code is the ProviderError code', () => {
    const classified = classifySesError(sdkError('socket hang up', { name: 'TimeoutError', code: 'ECONNRESET' }));

    expect(classified.code).toBe('ECONNRESET');
    expect(classified.message).toBe('SES TimeoutError ECONNRESET: socket hang up');
  });
});
