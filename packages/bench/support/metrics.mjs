// Reading a service's own Prometheus histograms: where a request's time went, stage by stage.
import { httpGetText } from './processes.mjs';

/**
 * The `_sum` and `_count` of each series of the histograms in `names`, from the text format of
 * `GET /metrics`: a Map from `name{labels}` to `{ sum, count }`.
 */
export function histogramTotals(text, names) {
  const totals = new Map();
  for (const line of text.split('\n')) {
    const match = /^(\w+)_(sum|count)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match === null || !names.includes(match[1])) continue;
    const series = `${match[1]}${match[3] ?? ''}`;
    const entry = totals.get(series) ?? { sum: 0, count: 0 };
    entry[match[2]] = Number(match[4]);
    totals.set(series, entry);
  }
  return totals;
}

/** The histograms' totals of the service listening on `port` (its `/metrics`). */
export async function readHistograms(port, names) {
  const { status, body } = await httpGetText(port, '/metrics');
  if (status !== 200) throw new Error(`GET /metrics answered ${status}`);
  return histogramTotals(body, names);
}

/**
 * Per series, the calls and their mean duration in ms between two readings of
 * {@link readHistograms} (series with no call meanwhile are left out).
 */
export function meanDurationsMs(before, after) {
  const means = {};
  for (const [series, end] of after) {
    const start = before.get(series) ?? { sum: 0, count: 0 };
    const calls = end.count - start.count;
    if (calls > 0) means[series] = { calls, meanMs: ((end.sum - start.sum) / calls) * 1000 };
  }
  return means;
}
