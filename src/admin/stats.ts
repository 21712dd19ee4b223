import { LATENCY_BUCKETS, metrics as processMetrics, type GatewayMetrics } from '../observability/metrics.js';
import type { HistogramSeries } from '../observability/series.js';
import { GATEWAY_COMMANDS } from './commands.js';
import { ADMIN_ROUTES } from './routes.js';

/**
 * `GET /api/stats`: request rate, error rate and latency (p50/p99) per route, upstream and
 * target over the last few seconds, as JSON for the dashboard (a browser should not parse
 * the Prometheus text of `/metrics`).
 *
 * Nothing is added to the data path: each gateway process reads the counters and
 * histograms its metrics already keep (`stats` command, a cumulative snapshot); the admin
 * server sums the processes' snapshots (cluster mode) and compares the sum with one taken
 * up to `WINDOW_MS` earlier. The first call has no earlier snapshot: its rates are null.
 *
 * @example
 *   curl -H "authorization: Bearer $TOKEN" http://127.0.0.1:9901/api/stats
 *   // { "windowSeconds": 9.98, "routes": { "items": { "rps": 12.4, "errorRatio": 0, "p50Ms": 1.8, "p99Ms": 7.5, … } }, … }
 */

/** How far back the rates look (the oldest snapshot kept is at most this old, unless it is the only one). */
export const WINDOW_MS = 10_000;
/** Snapshots closer together than this are not kept (several dashboards polling share the ring). */
const MIN_SPACING_MS = 1_000;

/** Cumulative counts of one route, upstream or target. */
export interface Tally {
  /** Requests (routes) or attempts (upstreams, targets). */
  count: number;
  /** Routes: 5xx answers. Upstreams: 5xx, connect errors, timeouts, resets, refusals. */
  errors: number;
  /** Observations per latency bucket (`LATENCY_BUCKETS`, not cumulative), then the ones above the last bound. */
  buckets: number[];
}

/** One process's (or the sum of every worker's) counters at time `at` (ms since the epoch). */
export interface StatsSnapshot {
  at: number;
  routes: Record<string, Tally>;
  upstreams: Record<string, Tally>;
  /** upstream → target URL → tally. */
  targets: Record<string, Record<string, Tally>>;
}

/** Rates over the window; `total` / `totalErrors` since the process started. */
export interface Rates {
  requests: number;
  errors: number;
  /** Per second; null without an earlier snapshot. */
  rps: number | null;
  /** errors / requests in the window; null when there were none. */
  errorRatio: number | null;
  /** Latency quantiles in ms, interpolated within histogram buckets; null when the window had no requests. */
  p50Ms: number | null;
  p99Ms: number | null;
  total: number;
  totalErrors: number;
}

/** The body of `GET /api/stats`. */
export interface StatsView {
  at: string;
  /** Length of the window the rates cover; null on the first call. */
  windowSeconds: number | null;
  routes: Record<string, Rates>;
  upstreams: Record<string, Rates & { targets: Record<string, Rates> }>;
}

/** Upstream attempt outcomes that are not failures of the upstream. */
const NOT_ERRORS = new Set(['1xx', '2xx', '3xx', '4xx', 'aborted']);

function tallyOf(into: Record<string, Tally>, key: string): Tally {
  let t = into[key];
  if (t === undefined) into[key] = t = { count: 0, errors: 0, buckets: new Array<number>(LATENCY_BUCKETS.length + 1).fill(0) };
  return t;
}

function addHistogram(buckets: number[], s: HistogramSeries): void {
  let inBounds = 0;
  for (let i = 0; i < s.counts.length; i++) {
    buckets[i]! += s.counts[i]!;
    inBounds += s.counts[i]!;
  }
  buckets[buckets.length - 1]! += s.count - inBounds;
}

/**
 * This process's cumulative counts, read from its metrics.
 *
 * @example
 *   statsSnapshot().routes.items; // { count: 120, errors: 2, buckets: [...] }
 */
export function statsSnapshot(m: GatewayMetrics = processMetrics, at = Date.now()): StatsSnapshot {
  const snap: StatsSnapshot = { at, routes: {}, upstreams: {}, targets: {} };
  m.requests.forEach((l, s) => {
    const t = tallyOf(snap.routes, l.route!);
    t.count += s.value;
    if (l.status_class === '5xx') t.errors += s.value;
  });
  m.requestDuration.forEach((l, s) => addHistogram(tallyOf(snap.routes, l.route!).buckets, s));
  const targetsOf = (u: string) => (snap.targets[u] ??= {});
  m.upstreamAttempts.forEach((l, s) => {
    const failed = NOT_ERRORS.has(l.outcome!) ? 0 : s.value;
    for (const t of [tallyOf(snap.upstreams, l.upstream!), tallyOf(targetsOf(l.upstream!), l.target!)]) {
      t.count += s.value;
      t.errors += failed;
    }
  });
  m.upstreamDuration.forEach((l, s) => {
    addHistogram(tallyOf(snap.upstreams, l.upstream!).buckets, s);
    addHistogram(tallyOf(targetsOf(l.upstream!), l.target!).buckets, s);
  });
  return snap;
}

function addTally(into: Record<string, Tally>, key: string, t: Tally): void {
  const sum = tallyOf(into, key);
  sum.count += t.count;
  sum.errors += t.errors;
  for (let i = 0; i < sum.buckets.length; i++) sum.buckets[i]! += t.buckets[i] ?? 0;
}

/** The sum of several processes' snapshots (cluster workers), dated `at`. */
export function mergeSnapshots(snaps: readonly StatsSnapshot[], at = Date.now()): StatsSnapshot {
  if (snaps.length === 1) return { ...snaps[0]!, at };
  const sum: StatsSnapshot = { at, routes: {}, upstreams: {}, targets: {} };
  for (const s of snaps) {
    for (const [k, t] of Object.entries(s.routes)) addTally(sum.routes, k, t);
    for (const [k, t] of Object.entries(s.upstreams)) addTally(sum.upstreams, k, t);
    for (const [u, ts] of Object.entries(s.targets)) for (const [k, t] of Object.entries(ts)) addTally((sum.targets[u] ??= {}), k, t);
  }
  return sum;
}

/**
 * The q-quantile of bucketed observations in ms, interpolated linearly inside the bucket it
 * falls in (as Prometheus' histogram_quantile); above the last bound it is that bound.
 *
 * @example
 *   quantileMs([0, 10, 0, …], 0.5); // between 0.5 ms and 1 ms
 */
export function quantileMs(buckets: readonly number[], q: number): number | null {
  let total = 0;
  for (const n of buckets) total += n;
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
    const n = buckets[i]!;
    if (n > 0 && seen + n >= rank) {
      const lower = i === 0 ? 0 : LATENCY_BUCKETS[i - 1]!;
      const upper = LATENCY_BUCKETS[i]!;
      return round((lower + ((upper - lower) * (rank - seen)) / n) * 1000);
    }
    seen += n;
  }
  return LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1]! * 1000;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** Rates of `cur` since `base` (a counter that went down was reset: a reload recreated it). */
function rates(cur: Tally, base: Tally | undefined, seconds: number | null): Rates {
  const reset = base !== undefined && base.count > cur.count;
  const b = base === undefined || reset ? undefined : base;
  const requests = cur.count - (b?.count ?? 0);
  const errors = cur.errors - (b?.errors ?? 0);
  const buckets = cur.buckets.map((n, i) => n - (b?.buckets[i] ?? 0));
  const windowed = seconds !== null;
  return {
    requests: windowed ? requests : 0,
    errors: windowed ? errors : 0,
    rps: windowed ? round(requests / seconds) : null,
    errorRatio: windowed && requests > 0 ? round(errors / requests) : null,
    p50Ms: windowed ? quantileMs(buckets, 0.5) : null,
    p99Ms: windowed ? quantileMs(buckets, 0.99) : null,
    total: cur.count,
    totalErrors: cur.errors,
  };
}

/**
 * Keeps recent snapshots and answers each new one with the rates since the oldest kept.
 *
 * @example
 *   const w = new StatsWindow();
 *   w.add(statsSnapshot()).windowSeconds; // null
 *   w.add(statsSnapshot()).routes.items.rps; // requests per second since the first
 */
export class StatsWindow {
  #ring: StatsSnapshot[] = [];
  readonly #windowMs: number;

  constructor(windowMs = WINDOW_MS) {
    this.#windowMs = windowMs;
  }

  add(snap: StatsSnapshot): StatsView {
    // The clock went back: earlier snapshots cannot be compared with this one.
    if (snap.at < (this.#ring[this.#ring.length - 1]?.at ?? 0)) this.#ring = [];
    const ring = this.#ring;
    const last = ring[ring.length - 1];
    if (last === undefined || snap.at - last.at >= MIN_SPACING_MS) ring.push(snap);
    // Keep the newest snapshot at or before the window start as the baseline.
    while (ring.length > 2 && ring[1]!.at <= snap.at - this.#windowMs) ring.shift();
    const base = ring[0]!;
    const seconds = base === snap || snap.at <= base.at ? null : (snap.at - base.at) / 1000;
    const view: StatsView = { at: new Date(snap.at).toISOString(), windowSeconds: seconds, routes: {}, upstreams: {} };
    for (const [k, t] of Object.entries(snap.routes)) view.routes[k] = rates(t, base.routes[k], seconds);
    for (const [k, t] of Object.entries(snap.upstreams)) {
      const targets: Record<string, Rates> = {};
      for (const [url, tt] of Object.entries(snap.targets[k] ?? {})) targets[url] = rates(tt, base.targets[k]?.[url], seconds);
      view.upstreams[k] = { ...rates(t, base.upstreams[k], seconds), targets };
    }
    return view;
  }
}

/** Shared by every admin listener of the process (one per gateway in production). */
const statsWindow = new StatsWindow();

GATEWAY_COMMANDS.stats = async () => statsSnapshot();

ADMIN_ROUTES.push({
  method: 'GET',
  path: '/api/stats',
  description: 'Request rate, error rate and p50/p99 latency per route, upstream and target over the last ~10 s (JSON, for the dashboard).',
  async handle(req) {
    const snaps = (await req.backend.run('stats')) as StatsSnapshot[];
    return { status: 200, body: statsWindow.add(mergeSnapshots(snaps)) };
  },
});
