import { readFileSync } from 'node:fs';
import path from 'node:path';
import { documentedSeries } from '@mailer/testkit';
import { ConsumerMetrics } from './consumer-metrics';

describe('ConsumerMetrics', () => {
  it('registers exactly the consumer series docs/metrics.md lists, with their types', async () => {
    const markdown = readFileSync(path.resolve(__dirname, '../../../../docs/metrics.md'), 'utf8');
    const documented = documentedSeries(markdown)
      .filter((row) => row.service === 'consumer' || row.service === 'both')
      .map(({ name, type }) => ({ name, type }));
    const metrics = new ConsumerMetrics();
    const registered = (await metrics.registry.getMetricsAsJSON())
      .filter((metric) => metric.name.startsWith('mailer_'))
      .map(({ name, type }) => ({ name, type: String(type) }));
    expect(registered.sort((a, b) => a.name.localeCompare(b.name))).toEqual(
      documented.sort((a, b) => a.name.localeCompare(b.name)),
    );
  });
});
