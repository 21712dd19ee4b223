import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { eventually, httpRequest, sleep, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { load, tally } from '../load.js';
import type { Upstream } from '../../src/upstreams/upstream.js';

const LISTENER = 'listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]';

function upstreamOf(gw: TestGateway, name: string): Upstream {
  return gw.gw.runtime.upstreams.get(name)!;
}

/**
 * An upstream in its own process (answers `name`), so it can really be killed. It prints
 * its port, then a dot per request served, so the test knows it is carrying load.
 */
async function upstreamProcess(name: string): Promise<{ url: string; child: ChildProcess; served: () => number }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `require('node:http').createServer((q, s) => { s.end(${JSON.stringify(name)}); process.stdout.write('.'); })` +
        `.listen(0, '127.0.0.1', function () { process.stdout.write(this.address().port + '\\n'); })`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await eventually(() => out.includes('\n') || undefined, 10_000, `upstream ${name} to listen`);
  const port = out.slice(0, out.indexOf('\n'));
  return { url: `http://127.0.0.1:${port}`, child, served: () => out.length - port.length - 1 };
}

describe('a target killed under load', () => {
  let a: TestUpstream;
  let b: { url: string; child: ChildProcess; served: () => number };
  let gw: TestGateway;
  beforeAll(async () => {
    a = await startUpstream((_q, res) => res.end('a'));
    b = await upstreamProcess('b');
    gw = await startGateway(`version: 1
${LISTENER}
upstreams:
  pair:
    targets: [ "${a.url}", "${b.url}" ]
    outlierDetection: { consecutiveErrors: 3, baseEjection: 30s }
    retries: { attempts: 3, on: [connect-error, reset, 503], backoff: 1ms }
routes:
  - { name: pair, match: { path: /p }, upstream: pair }
`);
  });
  afterAll(async () => {
    await gw?.close();
    b?.child.kill('SIGKILL');
    await a?.close();
  });

  it('is ejected, and with retries clients see no error for idempotent requests', async () => {
    const running = load(gw.url, 1500, { path: '/p', concurrency: 16 });
    // Kill b once it carries load: the process dies with requests in flight on its connections.
    await eventually(() => b.served() >= 50 || undefined, 5000, 'b to serve 50 requests');
    b.child.kill('SIGKILL');
    const res = await running;
    expect(res.filter((r) => r.status !== 200)).toEqual([]);
    expect(tally(res.map((r) => r.body)).get('b')).toBeGreaterThan(0); // b served until it died
    const st = upstreamOf(gw, 'pair').status();
    const dead = st.targets.find((t) => t.url === b.url)!;
    expect(dead).toMatchObject({ state: 'ejected', available: false });
    expect(dead.ejections).toBeGreaterThanOrEqual(1);
    // After the ejection, everything goes to the live target without a failed attempt.
    const after = await load(gw.url, 50, { path: '/p', concurrency: 4 });
    expect(tally(after.map((r) => r.body))).toEqual(new Map([['a', 50]]));
    expect(gw.logs.some((l) => l.msg === 'target out of rotation' && l.target === b.url)).toBe(true);
  });
});

describe('circuit breaker', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let failing = true;
  beforeAll(async () => {
    up = await startUpstream((_q, res) => {
      res.statusCode = failing ? 500 : 200;
      res.end(failing ? 'down' : 'up');
    });
    gw = await startGateway(`version: 1
${LISTENER}
upstreams:
  flaky:
    targets: [ "${up.url}" ]
    outlierDetection: { consecutiveErrors: 0 }
    circuitBreaker: { failureRatio: 0.5, minRequests: 10, window: 10s, openFor: 300ms, halfOpenRequests: 2 }
  spare: { targets: [ "${up.url}" ] }
routes:
  - { name: flaky, match: { path: /f }, upstream: flaky }
  - { name: with-fallback, match: { path: /fb }, upstream: flaky, fallback: { static: { status: 200, body: { degraded: true } } } }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('opens, fails fast with 503 + Retry-After, half-opens and closes when the backend recovers', async () => {
    const first = await load(gw.url, 10, { path: '/f', concurrency: 1 });
    expect(first.every((r) => r.status === 500)).toBe(true);
    const seenBefore = up.seen.length;
    const open = await httpRequest(`${gw.url}/f`);
    expect(open.status).toBe(503);
    expect(open.headers['content-type']).toBe('application/problem+json');
    expect(open.json()).toMatchObject({ type: 'https://gantry.dev/problems/circuit-open', status: 503 });
    expect(Number(open.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(up.seen.length).toBe(seenBefore); // failed fast: never reached the backend (latency: see npm run chaos)
    expect(upstreamOf(gw, 'flaky').status().breaker).toMatchObject({ state: 'open', opened: 1 });

    const fb = await httpRequest(`${gw.url}/fb`);
    expect(fb.status).toBe(200);
    expect(fb.json()).toEqual({ degraded: true });
    expect(fb.headers['x-gantry-fallback']).toBe('circuit-open');

    failing = false;
    await sleep(350);
    expect(upstreamOf(gw, 'flaky').breaker!.state).toBe('half-open');
    const probes = await load(gw.url, 2, { path: '/f', concurrency: 1 });
    expect(probes.map((r) => r.status)).toEqual([200, 200]);
    expect(upstreamOf(gw, 'flaky').breaker!.state).toBe('closed');
    expect(gw.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['circuit breaker open', 'circuit breaker half-open', 'circuit breaker closed']));
  });
});

describe('retry budget', () => {
  let ups: TestUpstream[];
  let gw: TestGateway;
  beforeAll(async () => {
    ups = await Promise.all([0, 1, 2].map(() => startUpstream((_q, res) => ((res.statusCode = 503), res.end('busy')))));
    gw = await startGateway(`version: 1
${LISTENER}
upstreams:
  busy:
    targets: [ ${ups.map((u) => `"${u.url}"`).join(', ')} ]
    outlierDetection: { consecutiveErrors: 0 }
    retries: { attempts: 3, on: [503], backoff: 1ms, budget: 0.1, minRetries: 5, budgetWindow: 1m }
routes:
  - { name: busy, match: { path: /b }, upstream: busy }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all(ups.map((u) => u.close()));
  });

  it('caps retries when every target returns 503', async () => {
    const res = await load(gw.url, 200, { path: '/b', concurrency: 8 });
    expect(res.every((r) => r.status === 503 && r.body === 'busy')).toBe(true);
    const attempts = ups.reduce((n, u) => n + u.seen.length, 0);
    const retries = attempts - 200;
    // Without a budget: 400 retries. With it: ≤ 0.1 × 200 + 5.
    expect(retries).toBeGreaterThan(0);
    expect(retries).toBeLessThanOrEqual(25);
    expect(upstreamOf(gw, 'busy').status().retryBudget!.refused).toBeGreaterThan(100);
  });
});

describe('deadline, timeouts and load shedding', () => {
  let slow: TestUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    slow = await startUpstream((req, res) => {
      const ms = Number(new URL(req.url!, 'http://x').searchParams.get('ms') ?? 0);
      setTimeout(() => res.end(JSON.stringify({ deadline: req.headers['x-gantry-deadline-ms'] ?? null, grpc: req.headers['grpc-timeout'] ?? null })), ms);
    });
    gw = await startGateway(`version: 1
${LISTENER}
upstreams:
  slow: { targets: [ "${slow.url}" ] }
  limited: { targets: [ "${slow.url}" ], maxConcurrent: 2, queue: { size: 1, timeout: 100ms } }
  total: { targets: [ "${slow.url}" ], timeouts: { total: 100ms } }
routes:
  - { name: budget, match: { path: /d }, upstream: slow, deadline: 150ms }
  - { name: limited, match: { path: /l }, upstream: limited }
  - { name: total, match: { path: /t }, upstream: total }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await slow?.close();
  });

  it('propagates the remaining budget upstream (and as grpc-timeout for gRPC)', async () => {
    const r = await httpRequest(`${gw.url}/d?ms=0`, { headers: { 'content-type': 'application/grpc' } });
    expect(r.status).toBe(200);
    const seen = r.json<{ deadline: string; grpc: string }>();
    expect(Number(seen.deadline)).toBeGreaterThan(0);
    expect(Number(seen.deadline)).toBeLessThanOrEqual(150);
    expect(seen.grpc).toMatch(/^\d+m$/);
    const shorter = await httpRequest(`${gw.url}/d?ms=0`, { headers: { 'x-gantry-deadline-ms': '40' } });
    expect(Number(shorter.json<{ deadline: string }>().deadline)).toBeLessThanOrEqual(40);
  });

  it('answers 504 deadline-exceeded when the budget runs out', async () => {
    const r = await httpRequest(`${gw.url}/d?ms=400`);
    expect(r.status).toBe(504);
    expect(r.json()).toMatchObject({ type: 'https://gantry.dev/problems/deadline-exceeded', status: 504 });
  });

  it('timeouts.total bounds the exchange with a 504', async () => {
    const r = await httpRequest(`${gw.url}/t?ms=400`);
    expect(r.status).toBe(504);
    expect(r.json()).toMatchObject({ type: 'https://gantry.dev/problems/upstream-timeout' });
  });

  it('maxConcurrent: two in flight, one queued, the rest refused with 503 + Retry-After', async () => {
    const res = await load(gw.url, 6, { path: '/l?ms=300', concurrency: 6 });
    const codes = tally(res.map((r) => r.status));
    expect(codes.get(200)).toBe(2);
    expect(codes.get(503)).toBe(4); // three refused at once, the queued one timed out after 100ms
    const shed = res.find((r) => r.status === 503)!;
    expect(JSON.parse(shed.body)).toMatchObject({ type: 'https://gantry.dev/problems/overloaded' });
    expect(shed.headers['retry-after']).toBe('1');
    const st = upstreamOf(gw, 'limited').status().concurrency!;
    expect(st).toMatchObject({ limit: 2, active: 0, queued: 0, shed: 4 });
    const queued = await load(gw.url, 3, { path: '/l?ms=30', concurrency: 3 });
    expect(queued.every((r) => r.status === 200)).toBe(true); // the third waits its turn
  });
});
