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
 * Startup without a swollen young generation. Loading modules and compiling the config
 * allocate in bursts, and V8 answers bursts by growing the young generation to its 32 MB
 * maximum, which it never gives back; a fast stream later touches every page of it.
 * `limitYoungGeneration` holds the young generation at its initial size while the CLI
 * imports its modules and the gateway compiles its config; `releaseYoungGeneration`
 * hands sizing back to V8 once the gateway serves (`gantry start`, each cluster worker).
 * The 200 MB streaming test's peak RSS: 147-153 MB with the release before the config
 * compiled, 134-142 MB with it after the gateway started; `npm run bench` in interleaved
 * runs put the bare route at 0.90 and 0.87 of the node ceiling the first way, 0.88 and
 * 0.87 the second (docs/benchmarks.md). An operator who sets `--max-semi-space-size` or
 * `--min-semi-space-size` keeps their setting.
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
