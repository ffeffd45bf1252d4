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
