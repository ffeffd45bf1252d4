import type { WebhookDeliveryRecord, WebhookEndpointRecord } from '@mailer/contract';
import {
  deliveryJson,
  deliveryRow,
  displayUrl,
  endpointJson,
  endpointRow,
  shortError,
  sinceOf,
} from './webhooks-options';

const now = Date.parse('2026-12-08T12:00:00.000Z');

describe('sinceOf (--since)', () => {
  test.each([
    ['90m', '2026-12-08T10:30:00.000Z'],
    ['48h', '2026-12-06T12:00:00.000Z'],
    ['3d', '2026-12-05T12:00:00.000Z'],
    ['0s', '2026-12-08T12:00:00.000Z'],
    ['2026-12-07', '2026-12-07T00:00:00.000Z'],
    ['2026-12-07T10:00Z', '2026-12-07T10:00:00.000Z'],
    ['2026-12-07T10:00:05.5Z', '2026-12-07T10:00:05.500Z'],
    ['2026-12-07 10:00:05.123456+00', '2026-12-07T10:00:05.123Z'],
    ['2026-12-07T10:00:00+01:00', '2026-12-07T09:00:00.000Z'],
    ['2026-12-07T10:00:00-0230', '2026-12-07T12:30:00.000Z'],
  ])('when --since is %s, then it means %s', (raw, iso) => {
    expect(sinceOf(raw, now).toISOString()).toBe(iso);
  });

  test.each([
    ['2026-12-07T10:00:00', 'with its zone'],
    ['yesterday', 'how long ago'],
    ['3 days', 'how long ago'],
    ['2026-02-30', 'is not a valid time'],
    ['2026-13-01T00:00Z', 'is not a valid time'],
    ['2026-12-09', 'is in the future'],
    ['2026-12-08T12:00:01Z', 'is in the future'],
  ])('when --since is %s, then it is refused (%s)', (raw, problem) => {
    expect(() => sinceOf(raw, now)).toThrow(problem);
  });
});

describe('displayUrl', () => {
  test('when a URL holds a user, a password or query values, then they show as ***', () => {
    expect(displayUrl('https://hook:s3cret@example.com:8443/in/x?token=abc&v=2#frag')).toBe(
      'https://***@example.com:8443/in/x?token=***&v=***',
    );
  });

  test('when a URL holds none of them, then it shows as registered', () => {
    expect(displayUrl('https://example.com/hooks/mailer')).toBe('https://example.com/hooks/mailer');
  });
});

describe('shortError', () => {
  test('when an error quotes an address and spans lines, then it is one line, masked, cut to its length', () => {
    expect(shortError('500: no mailbox\r\n jane.doe@example.org here', 80)).toBe(
      '500: no mailbox j***@example.org here',
    );
    expect(shortError('x'.repeat(100), 10)).toBe(`${'x'.repeat(9)}…`);
    expect(shortError(null)).toBe('-');
  });
});

const endpoint: WebhookEndpointRecord = {
  id: '0193a4f0-1111-7222-8333-944455556666',
  client: 'billing',
  url: 'https://example.com/in?token=abc123',
  eventTypes: ['email.bounced', 'email.delivered'],
  description: 'billing events',
  createdAt: new Date('2026-12-01T00:00:00.000Z'),
  updatedAt: new Date('2026-12-06T00:00:00.000Z'),
  disabledAt: new Date('2026-12-06T00:00:00.000Z'),
  disabledReason: 'failing',
  failingSince: new Date('2026-12-01T00:00:00.000Z'),
  previousSecretExpiresAt: null,
};

describe('endpoints', () => {
  test('when a disabled endpoint is shown, then its row and its JSON say why and since when, and hold no token', () => {
    expect(endpointRow(endpoint)).toEqual([
      endpoint.id,
      'billing',
      'https://example.com/in?token=***',
      'email.bounced,email.delivered',
      'disabled (failing)',
      '2026-12-06T00:00:00.000Z',
      '2026-12-01T00:00:00.000Z',
    ]);
    const json = endpointJson(endpoint);
    expect(json).toMatchObject({ status: 'disabled', disabled_reason: 'failing', event_types: endpoint.eventTypes });
    expect(JSON.stringify(json)).not.toContain('abc123');
    expect(Object.keys(json).filter((key) => /secret/.test(key))).toEqual([]);
  });

  test('when an endpoint takes every type and is enabled, then it says all and enabled', () => {
    const row = endpointRow({
      ...endpoint,
      eventTypes: [],
      disabledAt: null,
      disabledReason: null,
      failingSince: null,
    });
    expect(row.slice(3)).toEqual(['all', 'enabled', '-', '-']);
  });
});

describe('deliveries', () => {
  const delivery: WebhookDeliveryRecord = {
    id: '73fa888e-f9b7-54f9-9fcf-b68638274190',
    endpointId: endpoint.id,
    eventId: '01890a5d-ac96-774b-bcce-b302099a8057',
    eventType: 'email.bounced',
    emailId: '01890a5d-ac96-774b-bcce-b302099a8000',
    tries: 8,
    outcome: 'parked',
    status: 500,
    error: 'no such user jane@example.org',
    durationMs: 120,
    createdAt: new Date('2026-12-07T00:00:00.000Z'),
    updatedAt: new Date('2026-12-08T03:00:00.000Z'),
  };

  test('when a delivery is shown, then its row and its JSON hold its fields, addresses masked', () => {
    expect(deliveryRow(delivery)).toEqual([
      delivery.id,
      'email.bounced',
      delivery.emailId,
      '8',
      'parked',
      '500',
      'no such user j***@example.org',
      '2026-12-08T03:00:00.000Z',
    ]);
    expect(deliveryJson(delivery)).toEqual({
      id: delivery.id,
      event_id: delivery.eventId,
      event_type: 'email.bounced',
      email_id: delivery.emailId,
      tries: 8,
      outcome: 'parked',
      status: 500,
      error: 'no such user j***@example.org',
      duration_ms: 120,
      created_at: '2026-12-07T00:00:00.000Z',
      updated_at: '2026-12-08T03:00:00.000Z',
    });
  });

  test('when a delivery got no answer, then its status and error show as -', () => {
    expect(deliveryRow({ ...delivery, status: null, error: null }).slice(5, 7)).toEqual(['-', '-']);
  });
});
