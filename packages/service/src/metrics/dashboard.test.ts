import { readFileSync } from 'node:fs';
import path from 'node:path';
import { dashboardExpressions, documentedSeries, seriesNamed } from '@mailer/testkit';

const docs = path.resolve(__dirname, '../../../../docs');

/**
 * The dashboard cannot drift: each `mailer_` series its queries name is in docs/metrics.md, and
 * each service's metrics test (producer-metrics.test.ts, consumer-metrics.test.ts) checks that
 * table against what the service registers.
 */
describe('docs/grafana-dashboard.json', () => {
  const documented = documentedSeries(readFileSync(path.join(docs, 'metrics.md'), 'utf8'));
  const dashboard: unknown = JSON.parse(readFileSync(path.join(docs, 'grafana-dashboard.json'), 'utf8'));
  const histograms = new Set(documented.filter((row) => row.type === 'histogram').map((row) => row.name));
  const expressions = dashboardExpressions(dashboard);
  const named = new Set(expressions.flatMap((expression) => seriesNamed(expression, histograms)));

  it('has queries, and they name only documented (so registered) series', () => {
    expect(expressions.length).toBeGreaterThan(10);
    expect([...named].filter((name) => !documented.some((row) => row.name === name))).toEqual([]);
  });

  it('shows every documented series', () => {
    expect(documented.map((row) => row.name).filter((name) => !named.has(name))).toEqual([]);
  });

  it('reads a histogram through its buckets or count, never under its bare name', () => {
    for (const expression of expressions) {
      for (const name of histograms) expect(expression).not.toMatch(new RegExp(`\\b${name}(?![_a-z])`));
    }
  });

  it('catches a name that is not a series', () => {
    const drifted = seriesNamed('rate(mailer_consumer_emails_delivered_total[5m])', histograms);
    expect(drifted.filter((name) => !documented.some((row) => row.name === name))).toEqual([
      'mailer_consumer_emails_delivered_total',
    ]);
  });
});
