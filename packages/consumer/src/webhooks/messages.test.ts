import { statusAndError } from './delivery-worker';
import { decodeDelivery, decodeEvent } from './messages';
import { MAX_ERROR_LENGTH, storedText } from './post';

const event = {
  id: '0193a0c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d',
  type: 'email.sent',
  timestamp: '2026-12-08T00:00:00.000Z',
  sequence: 3,
  data: { email_id: 'e', client: 'shop' },
};
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('decodeEvent and decodeDelivery', () => {
  it('when the body is a lifecycle event, then it is decoded', () => {
    expect(decodeEvent(json(event))).toEqual({ event });
  });

  it.each([
    ['{', 'not JSON'],
    ['[]', 'not an object'],
    [JSON.stringify({ ...event, type: 'email.opened' }), 'unknown event type'],
    [JSON.stringify({ ...event, data: {} }), 'no data.client'],
  ])('when the event body is %s, then it is undecodable (%s)', (body, problem) => {
    expect(decodeEvent(Buffer.from(body))).toEqual({ problem });
  });

  it('when a delivery lacks its try, or its event id is not a UUID (a `.` would break the signed content), then it is undecodable', () => {
    const delivery = {
      delivery_id: '0193a0c4-0000-7000-8000-00000000000d',
      endpoint_id: '0193a0c4-0000-7000-8000-00000000000e',
      client: 'shop',
      try: 1,
      first_try_at: '',
      event,
    };
    expect(decodeDelivery(json(delivery))).toEqual({ delivery });
    expect(decodeDelivery(json({ ...delivery, try: 0 }))).toEqual({ problem: 'bad try' });
    expect(decodeDelivery(json({ ...delivery, event: { ...event, id: 'a.b' } }))).toEqual({ problem: 'no event id' });
  });
});

describe('what a try records', () => {
  it('when an answer quotes an address, then the stored text masks it and is cut short', () => {
    const text = storedText(`rejected <jane.doe@example.com>\n${'x'.repeat(500)}`);
    expect(text.startsWith('rejected <j***@example.com> x')).toBe(true);
    expect(text).toHaveLength(MAX_ERROR_LENGTH);
  });

  it('when the try failed without an answer, then the error names why and the status is null', () => {
    expect(statusAndError({ kind: 'refused', reason: 'loopback' })).toEqual({
      status: null,
      error: 'refused destination: loopback',
    });
    expect(statusAndError({ kind: 'error', error: 'timeout' })).toEqual({ status: null, error: 'timeout' });
  });

  it('when an answer came, then a 2xx records no error and any other its text, or its status when it said nothing', () => {
    expect(statusAndError({ kind: 'answer', status: 204, text: '', retryAfter: undefined })).toEqual({
      status: 204,
      error: null,
    });
    expect(statusAndError({ kind: 'answer', status: 302, text: '', retryAfter: undefined })).toEqual({
      status: 302,
      error: 'HTTP 302',
    });
    expect(statusAndError({ kind: 'answer', status: 500, text: 'boom', retryAfter: undefined })).toEqual({
      status: 500,
      error: 'boom',
    });
  });
});
