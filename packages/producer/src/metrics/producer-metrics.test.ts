import { readFileSync } from 'node:fs';
import path from 'node:path';
import { documentedSeries } from '@mailer/testkit';
import { ProducerMetrics } from './producer-metrics';

describe('ProducerMetrics', () => {
  it('registers exactly the producer series docs/metrics.md lists, with their types', async () => {
    const markdown = readFileSync(path.resolve(__dirname, '../../../../docs/metrics.md'), 'utf8');
    const documented = documentedSeries(markdown)
      .filter((row) => row.service === 'producer' || row.service === 'both')
      .map(({ name, type }) => ({ name, type }));
    const metrics = new ProducerMetrics();
    const registered = (await metrics.registry.getMetricsAsJSON())
      .filter((metric) => metric.name.startsWith('mailer_'))
      .map(({ name, type }) => ({ name, type: String(type) }));
    expect(registered.sort((a, b) => a.name.localeCompare(b.name))).toEqual(
      documented.sort((a, b) => a.name.localeCompare(b.name)),
    );
  });
});
