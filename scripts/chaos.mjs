#!/usr/bin/env node
// npm run chaos — load through the gateway while upstream processes are killed, slowed,
// made to fail and restarted; prints success rate and latency per phase. Bounded (about
// 25 s), loopback only; stops every process it started, by PID.
//
//   PHASE_SECONDS=3 CONCURRENCY=32 npm run chaos
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import pino from 'pino';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PHASE_MS = Number(process.env.PHASE_SECONDS ?? 3) * 1000;
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 32);
const { Gateway } = await import(join(ROOT, 'dist/gateway.js'));

/** Upstream child processes, restartable on their port. */
const procs = new Map();
async function startTarget(name, port = 0) {
  const child = spawn(process.execPath, [join(ROOT, 'scripts/chaos-upstream.mjs'), name, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const listening = await new Promise((ok, fail) => {
    child.stdout.once('data', (d) => ok(Number(/listening (\d+)/.exec(String(d))?.[1])));
    child.once('exit', () => fail(new Error(`${name} exited`)));
  });
  procs.set(name, { child, port: listening });
  return listening;
}
function signal(name, sig) {
  procs.get(name)?.child.kill(sig);
}
function stopAll() {
  for (const { child } of procs.values()) if (child.exitCode === null) child.kill('SIGKILL');
}
process.on('exit', stopAll);

const ports = {};
for (const n of ['t1', 't2', 't3']) ports[n] = await startTarget(n);
const url = (n) => `http://127.0.0.1:${ports[n]}`;
const dir = mkdtempSync(join(tmpdir(), 'gantry-chaos-'));
const file = join(dir, 'gateway.yaml');
writeFileSync(
  file,
  `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
log: { level: warn }
upstreams:
  app:
    targets: [ "${url('t1')}", "${url('t2')}", "${url('t3')}" ]
    balance: p2c-ewma
    healthCheck: { path: /health, interval: 500ms, timeout: 300ms, unhealthyAfter: 2, healthyAfter: 2 }
    outlierDetection: { consecutiveErrors: 3, baseEjection: 2s }
    retries: { attempts: 3, on: [connect-error, reset, 503], backoff: 5ms, budget: 0.3 }
    circuitBreaker: { failureRatio: 0.5, minRequests: 20, window: 2s, openFor: 1s, halfOpenRequests: 3 }
routes:
  - { name: app, match: { path: /* }, upstream: app, deadline: 1s }
`,
);
const logger = pino({ level: 'error' });
const gw = await Gateway.start(file, { logger });
const base = `http://127.0.0.1:${gw.port()}`;
const upstream = () => gw.runtime.upstreams.get('app');

/** Closed-loop load for `ms`; returns per-request [ok, latency]. */
async function run(ms) {
  const pool = new Pool(base, { connections: CONCURRENCY });
  const results = [];
  const until = performance.now() + ms;
  const worker = async () => {
    while (performance.now() < until) {
      const t0 = performance.now();
      let status = 0;
      try {
        const res = await pool.request({ method: 'GET', path: '/x' });
        await res.body.dump();
        status = res.statusCode;
      } catch {}
      results.push({ status, ms: performance.now() - t0 });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await pool.close();
  return results;
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
const rows = [];
async function phase(name, action) {
  await action?.();
  const r = await run(PHASE_MS);
  const lat = r.map((x) => x.ms).sort((a, b) => a - b);
  const failed = r.filter((x) => x.status !== 200);
  const u = upstream().status();
  const codes = {};
  for (const f of failed) codes[f.status] = (codes[f.status] ?? 0) + 1;
  rows.push({
    phase: name,
    requests: r.length,
    success: `${((100 * (r.length - failed.length)) / r.length).toFixed(2)}%`,
    p50: `${pct(lat, 50).toFixed(1)}ms`,
    p99: `${pct(lat, 99).toFixed(1)}ms`,
    errors: Object.entries(codes).map(([k, v]) => `${k}×${v}`).join(' ') || '-',
    breaker: u.breaker.state,
    targets: u.targets.map((t) => `${t.url.slice(-5)}:${t.state}`).join(' '),
  });
}

/** While the breaker is open: latency of sequential requests answered without touching a target. */
async function failFast() {
  const pool = new Pool(base, { connections: 1 });
  const lat = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    const res = await pool.request({ method: 'GET', path: '/x' });
    await res.body.dump();
    if (res.statusCode === 503 && res.headers['retry-after'] !== undefined) lat.push(performance.now() - t0);
  }
  await pool.close();
  lat.sort((a, b) => a - b);
  return lat.length === 0 ? 'breaker not open' : `${lat.length} answers, p50 ${pct(lat, 50).toFixed(2)}ms, max ${lat.at(-1).toFixed(2)}ms`;
}

try {
  await run(1000); // warm-up, not reported
  await phase('baseline');
  await phase('kill t2 (SIGKILL)', () => signal('t2', 'SIGKILL'));
  await phase('slow t1 (200 ms)', () => signal('t1', 'SIGUSR1'));
  await phase('restart t2, t1 fast', async () => {
    signal('t1', 'SIGUSR1');
    await startTarget('t2', ports.t2);
  });
  await phase('all targets 503', () => ['t1', 't2', 't3'].forEach((n) => signal(n, 'SIGUSR2')));
  await sleep(50);
  const fast = upstream().breaker.state === 'open' ? await failFast() : `breaker ${upstream().breaker.state}`;
  await phase('recover', async () => {
    ['t1', 't2', 't3'].forEach((n) => signal(n, 'SIGUSR2'));
    await sleep(1100); // let the breaker's openFor pass
  });
  console.table(rows);
  console.log(`circuit breaker: opened ${upstream().status().breaker.opened} time(s); fail-fast while open: ${fast}`);
} finally {
  await gw.close();
  stopAll();
}
