// Node/V8 flags each service runs with, in one place: `scripts/run-all.mjs` (pnpm dev, pnpm start,
// pnpm start:consumer) and the end-to-end bench read them here; docker-compose.yml repeats them
// as NODE_OPTIONS.
//
// consumer: a cap on the young generation's semi-space, chosen by `pnpm bench` (docs/benchmarks.md
// has the comparison). V8 sizes the young generation from the machine's memory; too large and the
// heap grows far past the live data under thousands of sends a second, too small and every send's
// objects survive into the old generation, which then grows and costs more CPU to collect. No
// old-space cap: the consumer bounds the message bytes it holds itself (MAX_HELD_BYTES), and a heap
// cap below that bound would crash it on a burst of large emails instead.
export const nodeFlags = {
  producer: [],
  consumer: ['--max-semi-space-size=16'],
};
