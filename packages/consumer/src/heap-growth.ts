import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow past what the last full collection kept, before it
 * marks again: +75 % (a factor of 1.75). V8's own factor goes up to 4 when collections are fast,
 * and the consumer's garbage is of a kind that makes it matter: a send that waits 200 ms for its
 * provider outlives two or three young-generation collections, so its objects are promoted and
 * die in the old generation. With the dynamic factor, 300 sends in flight at a 200 ms provider
 * let the heap grow to about 140 MB over 30 MB of live data (peak RSS 242-257 MB); with +100 %
 * the peak was 184-185 MB, with +75 % 169-178 MB, and +50 % cost about 10 % more CPU per email
 * (docs/benchmarks.md, "Consumer memory").
 *
 * Set here, before anything else is loaded, rather than on the command line: Node refuses this
 * flag in `NODE_OPTIONS`, and the consumer should keep its memory bound however it is started.
 * V8 reads it at every collection, so setting it at start-up takes effect.
 */
export const HEAP_GROWING_PERCENT = 75;

setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
