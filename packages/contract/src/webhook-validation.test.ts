import { DestinationPolicy, parseNetwork, type Network } from './network-ranges';
import {
  checkWebhookDeliveriesQuery,
  checkWebhookListQuery,
  validateWebhookCreate,
  validateWebhookPatch,
  webhookUrlProblem,
} from './webhook-validation';

const strict = { allowHttp: false, policy: new DestinationPolicy() };
const loopbackAllowed = {
  allowHttp: true,
  policy: new DestinationPolicy([parseNetwork('127.0.0.0/8') as Network]),
};

describe('webhookUrlProblem', () => {
  it.each([
    ['https://hooks.example.com/mailer'],
    ['https://93.184.215.14/hook'],
    ['https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/'],
    ['https://hooks.example.com:8443/a?b=c'],
  ])('when the URL is %s, then it is taken', (url) => {
    expect(webhookUrlProblem(url, strict)).toBeUndefined();
  });

  it.each([
    ['not a url', /absolute URL/],
    ['/relative', /absolute URL/],
    ['http://example.com/', /must use https/],
    ['ftp://example.com/', /must use https/],
    ['https://user:pass@example.com/', /user name or password/],
    ['https://user@example.com/', /user name or password/],
    ['https://localhost/', /localhost/],
    ['https://LOCALHOST./', /localhost/],
    ['https://api.localhost/', /localhost/],
    ['https://127.0.0.1/', /refused range \(loopback\)/],
    ['https://2130706433/', /refused range \(loopback\)/],
    ['https://0x7f.1/', /refused range \(loopback\)/],
    ['https://10.0.0.1/', /refused range \(private\)/],
    ['https://169.254.169.254/', /refused range \(link-local\)/],
    ['https://[::1]/', /refused range \(loopback\)/],
    ['https://[::ffff:127.0.0.1]/', /refused range \(loopback \(IPv4 in IPv6\)\)/],
    ['https://[fd00::1]/', /refused range \(unique-local\)/],
    ['https://0.0.0.0/', /refused range \(this network\)/],
  ])('when the URL is %s, then it is refused, saying why', (url, why) => {
    expect(webhookUrlProblem(url, strict)).toMatch(why);
  });

  it('when 127.0.0.0/8 is allowed and http too, then a loopback http URL is taken but other ranges are not', () => {
    expect(webhookUrlProblem('http://127.0.0.1:8080/hook', loopbackAllowed)).toBeUndefined();
    expect(webhookUrlProblem('http://[::ffff:127.0.0.1]:8080/', loopbackAllowed)).toBeUndefined();
    expect(webhookUrlProblem('http://10.0.0.1/', loopbackAllowed)).toMatch(/private/);
    expect(webhookUrlProblem('http://localhost:8080/', loopbackAllowed)).toMatch(/localhost/);
  });
});

describe('validateWebhookCreate and validateWebhookPatch', () => {
  it('when a body is good, then its fields come back with defaults', () => {
    expect(validateWebhookCreate({ url: 'https://h.example.com/' }, strict)).toEqual({
      ok: true,
      value: { url: 'https://h.example.com/', eventTypes: [], description: null },
    });
    expect(validateWebhookPatch({ enabled: true, description: null }, strict)).toEqual({
      ok: true,
      value: { enabled: true, description: null },
    });
  });

  it('when a body breaks the schema, then each problem names its pointer', () => {
    const checked = validateWebhookCreate(
      { event_types: ['email.sent', 'email.nope'], description: 'x'.repeat(201), extra: 1 },
      strict,
    );
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.problems.map((p) => p.pointer).sort()).toEqual(
      ['/url', '/event_types/1', '/description', '/extra'].sort(),
    );
  });

  it('when a PATCH changes nothing, then it is refused', () => {
    const checked = validateWebhookPatch({}, strict);
    expect(checked.ok).toBe(false);
  });

  it('when a URL breaks a rule, then the problem is at /url', () => {
    expect(validateWebhookPatch({ url: 'https://10.1.2.3/' }, strict)).toEqual({
      ok: false,
      problems: [{ pointer: '/url', detail: expect.stringMatching(/private/) as unknown }],
    });
  });
});

describe('the list queries', () => {
  it('when the queries are good, then they are read; when not, each parameter is named', () => {
    expect(checkWebhookListQuery({ limit: '10', cursor: '' })).toEqual({ ok: true, value: { limit: 10 } });
    expect(
      checkWebhookDeliveriesQuery({ since: '2027-01-01T00:00:00Z', event_type: 'webhook.test', outcome: 'parked' }),
    ).toEqual({
      ok: true,
      value: { since: new Date('2027-01-01T00:00:00Z'), eventType: 'webhook.test', outcome: 'parked' },
    });
    const bad = checkWebhookDeliveriesQuery({ limit: '0', since: 'yesterday', outcome: ['a', 'b'], x: '1' });
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.errors.map((e) => e.parameter).sort()).toEqual(['limit', 'outcome', 'since', 'x']);
    expect(bad.errors.find((e) => e.parameter === 'outcome')?.detail).toBe('must be given once');
  });
});
