// Node/V8 flags each service runs with, in one place: `scripts/run-all.mjs` (pnpm dev, pnpm start,
// pnpm start:consumer) and the end-to-end bench read them here; docker-compose.yml repeats them
// as NODE_OPTIONS. See "End to end" under Benchmarks in README.md.
//
// consumer: a young generation of at most 4 MiB per semi-space. V8 sizes it from the machine's
// memory (up to 32 MiB per semi-space here) and, under a few thousand sends a second, grows the
// heap to 300 MB and more although under 40 MB of it is live; this keeps the consumer's peak RSS
// near 200 MB in `pnpm bench` for a few percent of throughput. No old-space cap: an email may
// carry 7 MiB of attachments and PREFETCH of them are in memory at once.
export const nodeFlags = {
  producer: [],
  consumer: ['--max-semi-space-size=4'],
};
