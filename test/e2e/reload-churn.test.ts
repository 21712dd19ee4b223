import { writeFileSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metrics } from '../../src/observability/metrics.js';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Gateway } from '../../src/gateway.js';
import { httpRequest, writeTempConfig } from '../helpers.js';

const RELOADS = 200;
const SIZE = 200;
/** Reloads before the baseline samples: pools, series and compiled code have settled by then. */
const WARMUP = 50;
/**
 * Growth allowed per reload between the baseline and the end. A generation of 200 routes
 * and 200 upstreams is about 4 MB of heap: keeping even 0.5% of each one fails. These are
 * at least as strict as 15% over 450 reloads was (about 13 kB of heap and 50 kB of RSS per
 * reload; the heap shrinks by about 0.5 MB over the run, which hides a little), with fewer
 * reloads. Checked: retaining 16 kB per reload fails here (and barely failed 500 reloads).
 */
const HEAP_PER_RELOAD = 8 * 1024;
/**
 * RSS also moves with the allocator's page reuse and V8's page release, by several MB
 * from run to run on a loaded machine (64 kB per reload failed once at 10.9 MB over 150
 * reloads with nothing retained): the heap bound above catches what JavaScript keeps, this
 * one native memory kept per reload.
 */
const RSS_PER_RELOAD = 128 * 1024;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Generation `g`: SIZE routes and SIZE upstreams, all named for the generation, each upstream on its own origin. */
function config(g: number): string {
  // Block style: the YAML parser reads it ~40% faster than flow style, and parsing is most of a reload here.
  const lines = ['version: 1', 'listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]', 'log: { level: error, access: false }', 'upstreams:'];
  for (let i = 0; i < SIZE; i++) {
    // A distinct loopback address per upstream (127.0.0.0/8 is all loopback) on the discard
    // port, where nothing listens: requests fail fast (connection refused) and still create
    // pools and series. (High ports could collide with other tests' ephemeral listeners.)
    const n = (g * SIZE + i) % 60_000;
    lines.push(`  u${g}-${i}:`, '    targets:', `      - http://127.${1 + (n >> 16)}.${(n >> 8) & 255}.${(n & 255) || 1}:9`);
  }
  lines.push('routes:');
  for (let i = 0; i < SIZE; i++) lines.push(`  - name: r${g}-${i}`, '    match:', `      path: /g${g}/r${i}/*`, `    upstream: u${g}-${i}`);
  return lines.join('\n') + '\n';
}

/** RSS and heap after a full collection. */
function sample(): { rss: number; heap: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

/** Median of three samples: one transient spike of allocator pages does not decide the test. */
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;

/**
 * Bounded memory under churn: 200 reloads, each replacing 200 routes and 200 upstreams,
 * leave heap and RSS where they were after the first 50 (within 8 kB and 128 kB per
 * reload, and within 15%), and the metric series of removed routes and upstreams are dropped.
 */
describe('reload churn', () => {
  let gw: Gateway;
  let file: string;
  let url: string;
  beforeAll(async () => {
    // Log lines are formatted and written, then dropped: a logger that kept them (the test
    // helpers' memory logger) would itself grow with every reload.
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    file = writeTempConfig(config(0));
    gw = await Gateway.start(file, { logger: pino({ level: 'info' }, sink) });
    url = `http://127.0.0.1:${gw.port()}`;
  });
  afterAll(async () => {
    await gw?.close();
  });

  it(`${RELOADS} reloads × ${SIZE} routes/upstreams keep heap and RSS flat and drop removed series`, { timeout: 180_000 }, async () => {
    const early: { rss: number; heap: number }[] = [];
    const late: { rss: number; heap: number }[] = [];
    for (let g = 1; g <= RELOADS; g++) {
      writeFileSync(file, config(g));
      const r = await gw.reload();
      expect(r.ok).toBe(true);
      // Traffic on a route of this generation: request, upstream-attempt and duration series appear.
      expect((await httpRequest(`${url}/g${g}/r${g % SIZE}/x`)).status).toBe(502);
      // "After the first 50": samples at 40, 45, 50; the end: 190, 195, 200.
      if (g === WARMUP - 10 || g === WARMUP - 5 || g === WARMUP) early.push(sample());
      if (g === RELOADS - 10 || g === RELOADS - 5 || g === RELOADS) late.push(sample());
    }
    const mib = (n: number) => (n / 2 ** 20).toFixed(1);
    const [rss0, rss1] = [median(early.map((s) => s.rss)), median(late.map((s) => s.rss))];
    const [heap0, heap1] = [median(early.map((s) => s.heap)), median(late.map((s) => s.heap))];
    console.log(
      `reload churn: RSS after ${WARMUP} reloads ${mib(rss0)} MiB, after ${RELOADS} ${mib(rss1)} MiB (${(((rss1 - rss0) / rss0) * 100).toFixed(1)}%); ` +
        `heap ${mib(heap0)} → ${mib(heap1)} MiB`,
    );
    expect(rss1).toBeLessThanOrEqual(rss0 * 1.15);
    expect(heap1).toBeLessThanOrEqual(heap0 * 1.15);
    expect(heap1 - heap0).toBeLessThanOrEqual((RELOADS - WARMUP) * HEAP_PER_RELOAD);
    expect(rss1 - rss0).toBeLessThanOrEqual((RELOADS - WARMUP) * RSS_PER_RELOAD);
    // Only the serving generation (and the unmatched bucket, if any) has series left.
    const routes = new Set(metrics.requests.get().values.map((v) => v.labels.route));
    expect([...routes].every((r) => String(r).startsWith(`r${RELOADS}-`))).toBe(true);
    const ups = new Set(metrics.upstreamAttempts.get().values.map((v) => v.labels.upstream));
    expect([...ups].every((u) => String(u).startsWith(`u${RELOADS}-`))).toBe(true);
    expect(metrics.requests.size).toBeLessThanOrEqual(1);
  });
});
