import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, httpRequest, sleep, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import type { StatsView } from '../../src/admin/stats.js';

/** `GET /api/stats` and the dashboard files over real sockets (the page itself: dashboard.test.ts). */
const TOKEN = 'stats-token-0123456789abcdef';

describe('admin stats and dashboard files', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let admin: string;
  let dead: string;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const stats = async () => {
    const res = await httpRequest(`${admin}/api/stats`, { headers: auth });
    expect(res.status).toBe(200);
    return res.json<StatsView>();
  };

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      res.writeHead(req.url === '/fail' ? 500 : 200, { 'content-length': '2' });
      res.end('ok');
    });
    dead = `http://127.0.0.1:${await freePort()}`;
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: 0, token: "${TOKEN}" }
upstreams:
  app: { targets: [ "${up.url}" ] }
  gone: { targets: [ "${dead}" ], outlierDetection: { consecutiveErrors: 0 } }
routes:
  - { name: ok, match: { path: /ok }, upstream: app }
  - { name: fail, match: { path: /fail }, upstream: app }
  - { name: down, match: { path: /down }, upstream: gone }
`);
    admin = `http://127.0.0.1:${gw.gw.adminPort}`;
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('needs the admin token', async () => {
    const res = await httpRequest(`${admin}/api/stats`);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('Bearer');
  });

  it('rates, error ratios and latency per route, upstream and target over the window', async () => {
    const before = await stats();
    for (let i = 0; i < 4; i++) expect((await httpRequest(`${gw.url}/ok`)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await httpRequest(`${gw.url}/fail`)).status).toBe(500);
    expect((await httpRequest(`${gw.url}/down`)).status).toBe(502);
    await sleep(1_100); // snapshots at least a second apart make a window
    const v = await stats();
    expect(v.windowSeconds).toBeGreaterThan(1);
    expect(v.routes.ok).toMatchObject({ requests: 4, errors: 0, errorRatio: 0, total: 4 });
    expect(v.routes.ok!.rps).toBeCloseTo(4 / v.windowSeconds!, 2);
    expect(v.routes.ok!.p50Ms).toBeGreaterThan(0);
    expect(v.routes.ok!.p99Ms).toBeGreaterThanOrEqual(v.routes.ok!.p50Ms!);
    expect(v.routes.fail).toMatchObject({ requests: 2, errors: 2, errorRatio: 1 });
    expect(v.routes.down).toMatchObject({ requests: 1, errors: 1, errorRatio: 1 });
    expect(v.upstreams.app).toMatchObject({ requests: 6, errors: 2 });
    expect(v.upstreams.app!.targets[up.url]).toMatchObject({ requests: 6, errors: 2, total: 6 });
    expect(v.upstreams.gone!.targets[dead]).toMatchObject({ errors: 1, errorRatio: 1 });
    // The first call (this file runs in a process of its own) had nothing to compare with.
    expect(before.windowSeconds).toBeNull();
    expect(before.routes.ok?.rps ?? null).toBeNull();
  });

  it('status lists recent reloads, newest first', async () => {
    expect((await httpRequest(`${admin}/api/reload`, { method: 'POST', headers: auth })).status).toBe(200);
    const s = (await httpRequest(`${admin}/api/status`, { headers: auth })).json<{ recentReloads: { ok: boolean; version: number }[] }>();
    expect(s.recentReloads.map((r) => [r.ok, r.version])).toEqual([[true, 2]]);
  });

  const files: { path: string; type: RegExp; has: string }[] = [
    { path: '/', type: /^text\/html/, has: '<script src="/dashboard.js"' },
    { path: '/dashboard.js', type: /^text\/javascript/, has: '/api/status' },
    { path: '/dashboard.css', type: /^text\/css/, has: ':root' },
    { path: '/favicon.svg', type: /^image\/svg\+xml/, has: '<svg' },
  ];
  for (const f of files) {
    it(`serves ${f.path} without a token, with security headers`, async () => {
      const res = await httpRequest(admin + f.path);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(f.type);
      expect(res.text).toContain(f.has);
      expect(res.headers['content-security-policy']).toMatch(/default-src 'self'.*frame-ancestors 'none'/);
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['cache-control']).toBe('no-store');
    });
  }

  it('answers HEAD / without a body and other methods with 405', async () => {
    const head = await httpRequest(`${admin}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    const post = await httpRequest(`${admin}/`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET');
  });
});
