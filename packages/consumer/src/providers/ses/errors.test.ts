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
import { classifySesError, SES_FAILURE_TABLE, sesFailureRule } from './errors';

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
  /** The table row (index) that must decide it. */
  readonly row: number;
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
    row: 0,
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
    row: 1,
  },
  {
    when: 'SES rejects the message for any other reason (address on the suppression list)',
    error: new MessageRejected({ message: 'Address blacklisted.', $metadata }),
    kind: 'recipient-rejected',
    ambiguous: false,
    row: 2,
  },
  {
    when: 'SES says an address of the email is invalid (InvalidParameterValue)',
    error: serviceError('InvalidParameterValue', 'Illegal address', 400),
    kind: 'recipient-rejected',
    ambiguous: false,
    row: 3,
  },
  {
    when: 'sending is paused for the account (AccountSendingPausedException)',
    error: new AccountSendingPausedException({ message: 'Sending paused for this account.', $metadata }),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 4,
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
    row: 4,
  },
  {
    when: 'the custom MAIL FROM domain is not verified',
    error: new MailFromDomainNotVerifiedException({ message: 'MAIL FROM domain not verified.', $metadata }),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 5,
  },
  {
    when: 'the configuration set does not exist',
    error: new ConfigurationSetDoesNotExistException({ message: 'Configuration set does not exist.', $metadata }),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 6,
  },
  {
    when: 'SES throttles with "Daily message quota exceeded"',
    error: serviceError('Throttling', 'Daily message quota exceeded.', 400),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 7,
  },
  {
    when: 'SES throttles with "Maximum sending rate exceeded"',
    error: serviceError('Throttling', 'Maximum sending rate exceeded.', 400),
    kind: 'transient',
    ambiguous: false,
    row: 8,
  },
  {
    when: 'the access key is unknown (InvalidClientTokenId)',
    error: serviceError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 9,
  },
  {
    when: 'the secret is wrong (SignatureDoesNotMatch)',
    error: serviceError('SignatureDoesNotMatch', 'The request signature we calculated does not match.', 403),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 9,
  },
  {
    when: 'the credentials may not send (AccessDenied)',
    error: serviceError('AccessDenied', 'User is not authorized to perform ses:SendRawEmail', 403),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 9,
  },
  {
    when: 'the credentials may not send (AccessDeniedException)',
    error: serviceError('AccessDeniedException', 'Access denied', 403),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 9,
  },
  {
    when: 'the client is not recognised (UnrecognizedClientException)',
    error: serviceError('UnrecognizedClientException', 'The security token included in the request is invalid.', 400),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 9,
  },
  {
    when: 'the SDK finds no credentials (CredentialsProviderError)',
    error: sdkError('Could not load credentials from any providers', { name: 'CredentialsProviderError' }),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 9,
  },
  {
    when: 'SES is unavailable (ServiceUnavailable 503)',
    error: serviceError('ServiceUnavailable', 'Service unavailable', 503),
    kind: 'transient',
    ambiguous: false,
    row: 10,
  },
  {
    when: 'SES fails internally (InternalFailure 500)',
    error: serviceError('InternalFailure', 'Internal failure', 500),
    kind: 'transient',
    ambiguous: false,
    row: 10,
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
    row: 11,
  },
  {
    when: 'the connection is refused (ECONNREFUSED)',
    error: sdkError('connect ECONNREFUSED 127.0.0.1:1', { code: 'ECONNREFUSED', syscall: 'connect', errno: -111 }),
    kind: 'transient',
    ambiguous: false,
    row: 12,
  },
  {
    when: 'the SDK re-wraps a refused connection from another realm (code and syscall only in the text)',
    error: sdkError('AWS SDK error wrapper for Error: connect ECONNREFUSED 127.0.0.1:4566', {
      $metadata: { attempts: 1, totalRetryDelay: 0 },
    }),
    kind: 'transient',
    ambiguous: false,
    row: 12,
  },
  {
    when: 'the host name does not resolve (ENOTFOUND)',
    error: sdkError('getaddrinfo ENOTFOUND email.example', { code: 'ENOTFOUND', syscall: 'getaddrinfo' }),
    kind: 'transient',
    ambiguous: false,
    row: 12,
  },
  {
    when: 'the operating system times out connecting (ETIMEDOUT on connect, renamed TimeoutError by the SDK)',
    error: sdkError('connect ETIMEDOUT 10.0.0.1:443', { name: 'TimeoutError', code: 'ETIMEDOUT', syscall: 'connect' }),
    kind: 'transient',
    ambiguous: false,
    row: 13,
  },
  {
    when: "the SDK's connectionTimeout runs out",
    error: sdkError(
      '@smithy/node-http-handler - the request socket did not establish a connection with the server within the configured timeout of 3000 ms.',
      { name: 'TimeoutError' },
    ),
    kind: 'transient',
    ambiguous: false,
    row: 13,
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
    row: 14,
  },
  {
    when: "the delivery layer's signal aborts the request under way (AbortError)",
    error: sdkError('Request aborted', { name: 'AbortError', cause: new DOMException('timed out', 'TimeoutError') }),
    kind: 'transient',
    ambiguous: true,
    row: 14,
  },
  {
    when: 'the connection is reset under way (ECONNRESET, renamed TimeoutError by the SDK)',
    error: sdkError('socket hang up', { name: 'TimeoutError', code: 'ECONNRESET' }),
    kind: 'transient',
    ambiguous: true,
    row: 14,
  },
  {
    when: 'a plain Node ECONNRESET arrives',
    error: sdkError('read ECONNRESET', { code: 'ECONNRESET', syscall: 'read' }),
    kind: 'transient',
    ambiguous: true,
    row: 14,
  },
  {
    when: 'SES answers 200 but the SDK cannot read the answer',
    error: sdkError('@aws-sdk XML parse error: unexpected content.', { $metadata: { httpStatusCode: 200 } }),
    kind: 'transient',
    ambiguous: true,
    row: 15,
  },
  {
    when: 'an unnamed 429 arrives',
    error: serviceError('Unknown', 'Unknown', 429),
    kind: 'transient',
    ambiguous: false,
    row: 16,
  },
  {
    when: 'an unnamed 403 arrives',
    error: serviceError('Unknown', 'Unknown', 403),
    kind: 'provider-unavailable',
    ambiguous: false,
    row: 17,
  },
  {
    when: 'a gateway times out in front of SES (504)',
    error: serviceError('Unknown', 'Unknown', 504),
    kind: 'transient',
    ambiguous: true,
    row: 18,
  },
  {
    when: 'an unnamed 502 arrives',
    error: serviceError('Unknown', 'Unknown', 502),
    kind: 'transient',
    ambiguous: false,
    row: 19,
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
    row: 20,
  },
  {
    when: 'something unknown is thrown with no answer from SES',
    error: new TypeError('something broke'),
    kind: 'transient',
    ambiguous: true,
    row: 21,
  },
  {
    when: 'a non-error is thrown',
    error: 'just a string',
    kind: 'transient',
    ambiguous: true,
    row: 21,
  },
];

describe('classifySesError', () => {
  it.each(cases)('when $when, then it is $kind (ambiguous: $ambiguous)', ({ error, kind, ambiguous, row }) => {
    const classified = classifySesError(error);

    expect(classified).toBeInstanceOf(ProviderError);
    expect({ kind: classified.kind, ambiguous: classified.ambiguous }).toEqual({ kind, ambiguous });
    expect(sesFailureRule(error)).toBe(SES_FAILURE_TABLE[row]);
    expect(classified.cause).toBe(error);
  });

  it('when the cases above run, then every row of the table is exercised', () => {
    expect(new Set(cases.map((c) => c.row)).size).toBe(SES_FAILURE_TABLE.length);
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

  it('when a Node network error is thrown, then its code is the ProviderError code', () => {
    const classified = classifySesError(sdkError('socket hang up', { name: 'TimeoutError', code: 'ECONNRESET' }));

    expect(classified.code).toBe('ECONNRESET');
    expect(classified.message).toBe('SES TimeoutError ECONNRESET: socket hang up');
  });
});
