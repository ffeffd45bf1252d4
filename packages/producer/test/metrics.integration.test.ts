import request from 'supertest';
import { labelValues, sampleValue } from '@mailer/testkit';
import { ProducerMetrics } from '../src/metrics/producer-metrics';
import { TEST_KEY, startTestProducer, validEmail, type TestProducer } from './support/producer';

describe('producer metrics on the real broker', () => {
  let producer: TestProducer;
  let metrics: ProducerMetrics;

  beforeEach(async () => {
    metrics = new ProducerMetrics();
    producer = await startTestProducer('metrics', { metrics, publishTimeoutMs: 2000 });
  });

  afterEach(() => producer.close());

  const scrape = async (): Promise<string> => {
    const response = await request(producer.app).get('/metrics').expect(200);
    expect(response.headers['content-type']).toContain('text/plain');
    return response.text;
  };

  it('serves GET /metrics with requests by route template and status, and publish latency', async () => {
    const before = await scrape();
    await request(producer.app)
      .post('/v1/emails')
      .set('Authorization', `Bearer ${TEST_KEY}`)
      .send(validEmail())
      .expect(202);
    await request(producer.app).get('/v1/emails/0190a0b0-0000-7000-8000-000000000001').expect(401);
    await request(producer.app).get('/no/such/path').expect(404);
    const after = await scrape();

    const requests = (labels: Record<string, string>) =>
      sampleValue(after, 'mailer_http_request_duration_seconds_count', labels) -
      sampleValue(before, 'mailer_http_request_duration_seconds_count', labels);
    expect(requests({ method: 'POST', route: '/v1/emails', status: '202' })).toBe(1);
    expect(requests({ method: 'GET', route: '/v1/emails/:id', status: '401' })).toBe(1);
    expect(requests({ method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    // Templates only: no id or unknown path becomes a label value.
    expect(labelValues(after, 'mailer_http_request_duration_seconds_count', 'route').sort()).toEqual(
      ['/metrics', '/v1/emails', '/v1/emails/:id', 'unmatched'].sort(),
    );
    expect(
      sampleValue(after, 'mailer_producer_publish_duration_seconds_count', { outcome: 'confirmed' }) -
        sampleValue(before, 'mailer_producer_publish_duration_seconds_count', { outcome: 'confirmed' }),
    ).toBe(1);
    expect(after).toContain('# TYPE mailer_producer_publish_failures_total counter');
  });

  it('counts a publish the broker cannot take by its reason', async () => {
    const before = sampleValue(await scrape(), 'mailer_producer_publish_failures_total', { reason: 'not-connected' });
    await producer.broker.close();
    await request(producer.app)
      .post('/v1/emails')
      .set('Authorization', `Bearer ${TEST_KEY}`)
      .send(validEmail())
      .expect(503);
    const after = await scrape();
    expect(sampleValue(after, 'mailer_producer_publish_failures_total', { reason: 'not-connected' }) - before).toBe(1);
    expect(
      sampleValue(after, 'mailer_http_request_duration_seconds_count', { route: '/v1/emails', status: '503' }),
    ).toBe(1);
  });
});
