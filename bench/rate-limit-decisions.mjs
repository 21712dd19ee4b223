#!/usr/bin/env node
// CPU cost of one rate-limit decision, per store and mode, measured in-process (less
// sensitive to a busy machine than req/s): memory store, Redis `exact` (one script per
// decision), Redis `lease` (local budgets). Starts its own redis-server on a free loopback
// port unless REDIS_URL is given; stops it by PID. Run after `npm run build`:
//
//   node bench/rate-limit-decisions.mjs
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { MemoryStore } from '../dist/store/memory.js';
import { RedisStore } from '../dist/store/redis.js';
import { LeaseLimiter } from '../dist/limits/lease.js';
import { freePorts } from './ports.mjs';

const N = Number(process.env.N ?? 40_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 50);
const spec = { algorithm: 'sliding-window', limit: 1e9, windowMs: 1000, burst: 1e9 };

async function measure(name, fn, n) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let i = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => { while (i++ < n) await fn(); }));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  return { name, opsPerSec: Math.round((n / ms) * 1000), cpuUsPerOp: (cpu.user + cpu.system) / n };
}

let redis;
let dir;
let url = process.env.REDIS_URL;
if (!url) {
  const [port] = await freePorts(1);
  dir = mkdtempSync(join(tmpdir(), 'gantry-bench-redis-'));
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  redis.on('error', (e) => console.error(`redis-server: ${e.message}`));
  url = `redis://127.0.0.1:${port}`;
}

const rows = [];
const memory = new MemoryStore();
rows.push(await measure('memory store', () => memory.consume('k', spec, 1), N * 10));
await memory.close();

const store = new RedisStore({ url, keyPrefix: 'bench:', commandTimeoutMs: 1000, maxBackoffMs: 1000, logger: pino({ level: 'silent' }) });
if (await store.ready(5000)) {
  rows.push(await measure('Redis, exact', () => store.consume('exact', spec, 1), N));
  const lease = new LeaseLimiter(store, 100, 1000);
  rows.push(await measure('Redis, lease (100)', () => lease.consume('lease', spec, 1), N * 10));
  lease.close();
} else {
  console.error(`Redis at ${url} not reachable: Redis rows skipped`);
}
await store.close();
if (redis) {
  redis.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}

console.log(`\none decision, ${CONCURRENCY} in flight (node ${process.version})\n`);
console.log('| store / mode | decisions/s | CPU µs per decision |');
console.log('|---|--:|--:|');
for (const r of rows) console.log(`| ${r.name} | ${r.opsPerSec} | ${r.cpuUsPerOp.toFixed(2)} |`);
