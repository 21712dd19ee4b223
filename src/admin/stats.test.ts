import { describe, expect, it } from 'vitest';
import { GatewayMetrics, LATENCY_BUCKETS } from '../observability/metrics.js';
import { mergeSnapshots, quantileMs, statsSnapshot, StatsWindow, type StatsSnapshot, type Tally } from './stats.js';

/** Buckets with `n` observations in the bucket whose upper bound is `le` seconds. */
function buckets(...at: [le: number | 'inf', n: number][]): number[] {
  const b = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
  for (const [le, n] of at) {
    const i = le === 'inf' ? LATENCY_BUCKETS.length : LATENCY_BUCKETS.indexOf(le as never);
    b[i] = b[i]! + n;
  }
  return b;
}

const tally = (count: number, errors: number, b = buckets([0.01, count])): Tally => ({ count, errors, buckets: b });
const snap = (at: number, routes: Record<string, Tally>, upstreams: Record<string, Tally> = {}, targets: StatsSnapshot['targets'] = {}): StatsSnapshot => ({ at, routes, upstreams, targets });

describe('quantileMs', () => {
  const cases: { desc: string; b: number[]; q: number; want: number | null }[] = [
    { desc: 'no observations', b: buckets(), q: 0.5, want: null },
    { desc: 'all in the first bucket: interpolated from 0', b: buckets([0.0005, 10]), q: 0.5, want: 0.25 },
    { desc: 'all in (5 ms, 10 ms]: the median is halfway', b: buckets([0.01, 4]), q: 0.5, want: 7.5 },
    { desc: 'p99 falls in the slow bucket', b: buckets([0.001, 99], [0.5, 1]), q: 0.99, want: 1 },
    { desc: 'p99 beyond the fast ones', b: buckets([0.001, 90], [0.5, 10]), q: 0.99, want: 475 },
    { desc: 'above the last bound: that bound', b: buckets(['inf', 3]), q: 0.5, want: 60_000 },
  ];
  for (const c of cases) it(c.desc, () => expect(quantileMs(c.b, c.q)).toBe(c.want));
});

describe('StatsWindow', () => {
  it('has no rates on the first snapshot, then rates since the oldest kept', () => {
    const w = new StatsWindow(10_000);
    const first = w.add(snap(1_000, { a: tally(10, 1) }));
    expect(first.windowSeconds).toBeNull();
    expect(first.routes.a).toMatchObject({ rps: null, errorRatio: null, p50Ms: null, total: 10, totalErrors: 1 });
    const second = w.add(snap(3_000, { a: tally(30, 3), b: tally(4, 0) }));
    expect(second.windowSeconds).toBe(2);
    expect(second.routes.a).toMatchObject({ requests: 20, errors: 2, rps: 10, errorRatio: 0.1, p50Ms: 7.5, total: 30 });
    // A route that appeared after the baseline: everything it counted is in the window.
    expect(second.routes.b).toMatchObject({ requests: 4, rps: 2, errorRatio: 0 });
  });

  it('slides: the baseline is the newest snapshot at or before the window start', () => {
    const w = new StatsWindow(10_000);
    for (let t = 0; t <= 20_000; t += 2_000) w.add(snap(t, { a: tally(t / 100, 0) }));
    const v = w.add(snap(22_000, { a: tally(220, 0) }));
    expect(v.windowSeconds).toBe(10);
    expect(v.routes.a!.requests).toBe(100);
  });

  it('takes a counter that went down as restarted (a reload recreated the route)', () => {
    const w = new StatsWindow();
    w.add(snap(0, { a: tally(50, 5) }));
    const v = w.add(snap(2_000, { a: tally(6, 0) }));
    expect(v.routes.a).toMatchObject({ requests: 6, errors: 0, rps: 3 });
  });

  it('keeps one snapshot per second however often it is asked', () => {
    const w = new StatsWindow(10_000);
    w.add(snap(0, { a: tally(0, 0, buckets()) }));
    for (let t = 100; t < 900; t += 100) w.add(snap(t, { a: tally(t, 0) }));
    // Still measured against the first snapshot.
    expect(w.add(snap(900, { a: tally(900, 0) })).routes.a).toMatchObject({ requests: 900, rps: 1000 });
  });

  it('rates per upstream and per target', () => {
    const w = new StatsWindow();
    w.add(snap(0, {}, { u: tally(0, 0, buckets()) }, { u: { 'http://t1': tally(0, 0, buckets()) } }));
    const v = w.add(snap(1_000, {}, { u: tally(8, 2) }, { u: { 'http://t1': tally(8, 2) } }));
    expect(v.upstreams.u).toMatchObject({ requests: 8, errors: 2, errorRatio: 0.25, rps: 8 });
    expect(v.upstreams.u!.targets['http://t1']).toMatchObject({ requests: 8, errors: 2 });
  });
});

describe('statsSnapshot and mergeSnapshots', () => {
  it('reads route, upstream and target counts from the metrics', () => {
    const m = new GatewayMetrics({ processMetrics: false });
    m.requestDone('a', 'GET', 200, 0.003);
    m.requestDone('a', 'POST', 502, 0.2);
    m.requestDone('a', 'GET', 404, 0.001);
    m.upstreamAttempt('u', 'http://t1', 200, 0.002);
    m.upstreamAttempt('u', 'http://t1', 'connect_error', 0.001);
    m.upstreamAttempt('u', 'http://t2', 503, 0.004);
    m.upstreamAttempt('u', 'http://t2', 'aborted', 70);
    const s = statsSnapshot(m, 5);
    expect(s.routes.a).toEqual({ count: 3, errors: 1, buckets: buckets([0.005, 1], [0.25, 1], [0.001, 1]) });
    expect(s.upstreams.u).toMatchObject({ count: 4, errors: 2 });
    expect(s.upstreams.u!.buckets[LATENCY_BUCKETS.length]).toBe(1); // the 70 s attempt, above the last bound
    expect(s.targets.u!['http://t1']).toMatchObject({ count: 2, errors: 1 });
    expect(s.targets.u!['http://t2']).toMatchObject({ count: 2, errors: 1 });

    const sum = mergeSnapshots([s, s], 9);
    expect(sum.at).toBe(9);
    expect(sum.routes.a).toEqual({ count: 6, errors: 2, buckets: buckets([0.005, 2], [0.25, 2], [0.001, 2]) });
    expect(sum.targets.u!['http://t2']).toMatchObject({ count: 4, errors: 2 });
  });
});
