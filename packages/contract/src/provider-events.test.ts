import {
  MAX_EVENT_KEY_LENGTH,
  MAX_PROVIDER_EVENT_BODY_CHARS,
  decodeProviderEvent,
  encodeProviderEvent,
  type ProviderEventMessage,
} from './provider-events';

const ses: ProviderEventMessage = {
  version: 1,
  provider: 'ses',
  received_at: '2026-12-07T21:00:00.000Z',
  event_key: '0b7f4b5e-1d2c-4a8b-9c3d-2e1f0a9b8c7d',
  body: '{"eventType":"Delivery"}',
};

const decodeJson = (value: unknown) => decodeProviderEvent(Buffer.from(JSON.stringify(value), 'utf8'));

describe('encodeProviderEvent / decodeProviderEvent', () => {
  it('when a message is encoded, then decoding gives it back, with and without an event key', () => {
    expect(decodeProviderEvent(encodeProviderEvent(ses))).toEqual({ ok: true, message: ses });
    const { event_key: _key, ...postmark } = { ...ses, provider: 'postmark' as const };
    expect(decodeProviderEvent(encodeProviderEvent(postmark))).toEqual({ ok: true, message: postmark });
  });

  it('when the message has members it does not know, then they are dropped', () => {
    expect(decodeJson({ ...ses, extra: 'x' })).toEqual({ ok: true, message: ses });
  });

  it.each([
    ['not JSON', Buffer.from('{', 'utf8'), 'not JSON'],
    ['an array', Buffer.from('[]', 'utf8'), 'not a JSON object'],
    ['another version', encodeProviderEvent({ ...ses, version: 2 } as unknown as ProviderEventMessage), 'version'],
  ])('when the message is %s, then it is refused', (_name, raw, text) => {
    const decoded = decodeProviderEvent(raw);
    expect(decoded.ok).toBe(false);
    expect(decoded.ok ? '' : decoded.text).toContain(text);
  });

  it.each([
    ['an unknown provider', { ...ses, provider: 'smtp' }, 'provider'],
    ['no time', { ...ses, received_at: 'yesterday' }, 'received_at'],
    ['an empty key', { ...ses, event_key: '' }, 'event_key'],
    ['a key too long', { ...ses, event_key: 'k'.repeat(MAX_EVENT_KEY_LENGTH + 1) }, 'event_key'],
    ['a numeric key', { ...ses, event_key: 7 }, 'event_key'],
    ['no body', { ...ses, body: undefined }, 'no body'],
    ['an object body', { ...ses, body: {} }, 'no body'],
    ['a body over the cap', { ...ses, body: 'b'.repeat(MAX_PROVIDER_EVENT_BODY_CHARS + 1) }, 'over'],
  ])('when the message has %s, then it is refused, naming the member', (_name, value, text) => {
    const decoded = decodeJson(value);
    expect(decoded.ok).toBe(false);
    expect(decoded.ok ? '' : decoded.text).toContain(text);
  });

  it('when the raw message is far over the cap, then it is refused unread', () => {
    const decoded = decodeProviderEvent(Buffer.alloc(7 * MAX_PROVIDER_EVENT_BODY_CHARS + 5000, 0x20));
    expect(decoded).toEqual({ ok: false, text: expect.stringContaining('bytes') });
  });
});
