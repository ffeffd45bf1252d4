/**
 * The value of one sample in a Prometheus text exposition: the series `name` whose labels include
 * every one of `labels` (others may be present, e.g. `service`), summed over the matches; 0 when
 * none matches (a counter not yet moved has no sample for those labels).
 */
export function sampleValue(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const close = rest[0] === '{' ? rest.indexOf('}') : -1;
    const labelText = close < 0 ? '' : rest.slice(1, close);
    const found = new Map<string, string>();
    for (const match of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      found.set(match[1] as string, match[2] as string);
    }
    if (!Object.entries(labels).every(([key, value]) => found.get(key) === value)) continue;
    total += Number(
      rest
        .slice(close + 1)
        .trim()
        .split(' ')[0],
    );
  }
  return total;
}

/** Every label value `label` takes in the samples of `name`. */
export function labelValues(text: string, name: string, label: string): string[] {
  const values = new Set<string>();
  const pattern = new RegExp(`${label}="((?:[^"\\\\]|\\\\.)*)"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const match = pattern.exec(line);
    if (match?.[1] !== undefined) values.add(match[1]);
  }
  return [...values];
}

/** A series as docs/metrics.md lists it. */
export interface DocumentedSeries {
  readonly name: string;
  readonly type: string;
  /** `producer`, `consumer` or `both`. */
  readonly service: string;
}

/** The rows of the series table of docs/metrics.md: `| \`name\` | type | labels | service | meaning |`. */
export function documentedSeries(markdown: string): DocumentedSeries[] {
  const rows: DocumentedSeries[] = [];
  for (const match of markdown.matchAll(/^\| `(mailer_[a-z0-9_]+)` +\| (\w+) +\|[^|]*\| (\w+) +\|/gm)) {
    rows.push({ name: match[1] as string, type: match[2] as string, service: match[3] as string });
  }
  return rows;
}

/** Every PromQL expression of a Grafana dashboard (its panels' targets, rows' panels included). */
export function dashboardExpressions(dashboard: unknown): string[] {
  const expressions: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (typeof node === 'object' && node !== null) {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'expr' && typeof value === 'string') expressions.push(value);
        else visit(value);
      }
    }
  };
  visit(dashboard);
  return expressions;
}

/**
 * The `mailer_` series an expression names, with a histogram's `_bucket`, `_sum` and `_count`
 * taken back to the histogram's name when `histograms` has it.
 */
export function seriesNamed(expression: string, histograms: ReadonlySet<string>): string[] {
  return [...expression.matchAll(/\bmailer_[a-zA-Z0-9_]+/g)].map(([name]) => {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    return histograms.has(base) ? base : name;
  });
}
