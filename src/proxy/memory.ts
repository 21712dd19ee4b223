import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Keeps the memory of streamed bodies bounded.
 *
 * Every socket read allocates a fresh buffer (up to 64 KB) outside the V8 heap. A proxy
 * moving bodies at loopback speed (1–2 GB/s) creates tens of MB of such buffers between
 * two garbage collections, because V8 schedules collections by heap allocation, and a
 * body chunk is a tiny heap object pointing at a large native buffer. The freed native
 * memory then stays in the process (allocator fragmentation), so peak RSS grows with
 * throughput, not with what is actually in flight.
 *
 * The fix: count body bytes as they stream and run a young-generation collection
 * (a scavenge, ~1 ms) every `budget` bytes, which frees the dead chunk buffers before
 * many accumulate. Small-body traffic rarely reaches the budget, so it pays nothing.
 * Node offers no public API for this; `--expose-gc` set at runtime is the documented way
 * to obtain `gc` (https://nodejs.org/api/cli.html#--expose-gc). If that ever stops
 * working, collection falls back to V8's own schedule.
 */
let collect: ((options: { type: 'minor' }) => void) | undefined;
try {
  v8.setFlagsFromString('--expose-gc');
  collect = vm.runInNewContext('gc') as typeof collect;
} catch {
  collect = undefined;
}

const BUDGET = 4 * 1024 * 1024;

/**
 * Startup without a swollen young generation. Loading modules allocates in bursts, and V8
 * answers bursts by growing the young generation to its 32 MB maximum, which it never
 * gives back. `limitYoungGeneration` holds the young generation at its initial size while
 * the CLI imports its modules; `releaseYoungGeneration` hands sizing back to V8 before the
 * config is compiled and the gateway starts. Holding it until the gateway served (as
 * before) left the process in a slower state under load: the bare route's median in the
 * peer harness was 0.78 of the node ceiling then, 0.90 with the hold ending here, 0.91
 * with no hold at all, which in turn let the 200 MB streaming test's peak RSS reach 162 MB
 * (146 MB this way, 134 MB with the longer hold; docs/benchmarks.md). An operator who sets
 * `--max-semi-space-size` or `--min-semi-space-size` keeps their setting.
 */
export function limitYoungGeneration(): void {
  setGrowthFactor(1);
}

/** See `limitYoungGeneration`. */
export function releaseYoungGeneration(): void {
  setGrowthFactor(2);
}

function setGrowthFactor(factor: number): void {
  const flags = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  if (/semi[-_]space/.test(flags)) return;
  try {
    v8.setFlagsFromString(`--semi-space-growth-factor=${factor}`);
  } catch {
    // not settable on this runtime: V8's own sizing applies
  }
}
let streamed = 0;

/** Records `n` body bytes moved through the gateway. */
export function bodyBytes(n: number): void {
  streamed += n;
  if (streamed >= BUDGET) {
    streamed = 0;
    collect?.({ type: 'minor' });
  }
}
