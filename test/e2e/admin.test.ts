import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpRequest, parseMetrics, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

const TOKEN = 'admin-token-0123456789abcdef';

const config = (upstream: string, extraRoute = '') => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: 0, token: "${TOKEN}" }
upstreams:
  items: { targets: [ "${upstream}" ] }
routes:
  - { name: items, match: { path: "/items/:id" }, upstream: items }
  - { name: hello, match: { path: /hello, methods: [GET] }, static: { status: 200, body: hi } }
${extraRoute}`;


describe('admin API', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let admin: string;
  const auth = { authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-length': '2' });
      res.end('ok');
    });
    gw = await startGateway(config(up.url));
    admin = `http://127.0.0.1:${gw.gw.adminPort}`;
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const authCases: { desc: string; path: string; method?: string; headers?: Record<string, string>; want: number; challenge?: string }[] = [
    { desc: 'metrics without a token', path: '/metrics', want: 401, challenge: 'Bearer realm="gantry-admin"' },
    { desc: 'status with a wrong token', path: '/api/status', headers: { authorization: 'Bearer nope' }, want: 401, challenge: 'error="invalid_token"' },
    { desc: 'status with a token one character off', path: '/api/status', headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}x` }, want: 401 },
    { desc: 'reload with Basic credentials', path: '/api/reload', method: 'POST', headers: { authorization: `Basic ${Buffer.from(`a:${TOKEN}`).toString('base64')}` }, want: 401 },
    { desc: 'reload with the token in the query string', path: `/api/reload?token=${TOKEN}`, method: 'POST', want: 401 },
    { desc: 'metrics with the token', path: '/metrics', headers: auth, want: 200 },
    { desc: 'healthz needs no token', path: '/healthz', want: 200 },
    { desc: 'readyz needs no token', path: '/readyz', want: 200 },
    { desc: 'unknown admin path', path: '/api/nothing', headers: auth, want: 404 },
    { desc: 'wrong method', path: '/api/reload', headers: auth, want: 405 },
  ];
  for (const c of authCases) {
    it(`auth: ${c.desc} → ${c.want}`, async () => {
      const res = await httpRequest(admin + c.path, { method: c.method ?? 'GET', headers: c.headers });
      expect(res.status).toBe(c.want);
      if (c.challenge) expect(res.headers['www-authenticate']).toContain(c.challenge);
      if (c.want >= 400) expect(res.headers['content-type']).toBe('application/problem+json');
    });
  }

  it('scrapes counts and labels after known traffic (route names, never raw paths)', async () => {
    for (let i = 0; i < 3; i++) expect((await httpRequest(`${gw.url}/items/${i}`)).status).toBe(200);
    expect((await httpRequest(`${gw.url}/items/9`, { method: 'POST', body: 'x' })).status).toBe(201);
    expect((await httpRequest(`${gw.url}/hello`)).status).toBe(200);
    expect((await httpRequest(`${gw.url}/hello`, { method: 'DELETE' })).status).toBe(405);
    expect((await httpRequest(`${gw.url}/nowhere/42`)).status).toBe(404);
    const res = await httpRequest(`${admin}/metrics`, { headers: auth });
    expect(res.headers['content-type']).toContain('text/plain');
    const v = parseMetrics(res.text);
    expect(v.get('gantry_http_requests_total{route="items",method="GET",status_class="2xx"}')).toBe(3);
    expect(v.get('gantry_http_requests_total{route="items",method="POST",status_class="2xx"}')).toBe(1);
    expect(v.get('gantry_http_requests_total{route="hello",method="GET",status_class="2xx"}')).toBe(1);
    expect(v.get('gantry_http_requests_total{route="(unmatched)",method="DELETE",status_class="4xx"}')).toBe(1);
    expect(v.get('gantry_http_requests_total{route="(unmatched)",method="GET",status_class="4xx"}')).toBe(1);
    expect(v.get('gantry_http_request_duration_seconds_count{route="items",method="GET",status_class="2xx"}')).toBe(3);
    expect(v.get(`gantry_upstream_attempts_total{upstream="items",target="${up.url}",outcome="2xx"}`)).toBe(4);
    expect(v.get(`gantry_upstream_attempt_duration_seconds_count{upstream="items",target="${up.url}"}`)).toBe(4);
    expect(v.get('gantry_http_active_connections{listener="public"}')).toBeGreaterThanOrEqual(0);
    expect(v.get('gantry_config_reloads_total{result="success"}')).toBeGreaterThanOrEqual(1);
    expect(res.text).toMatch(/^process_cpu_seconds_total /m);
    expect(res.text).not.toMatch(/\/items\/\d|\/nowhere/);
  });

  it('status shows config version and hash, routes, upstreams with targets', async () => {
    const res = await httpRequest(`${admin}/api/status`, { headers: auth });
    expect(res.status).toBe(200);
    const s = res.json<Record<string, any>>();
    expect(s.config.hash).toMatch(/^[0-9a-f]{16}$/);
    expect(s.mode).toBe('single');
    expect(s.routes.map((r: { name: string }) => r.name)).toEqual(['items', 'hello']);
    expect(s.routes[0]).toMatchObject({ target: 'upstream items', match: { path: '/items/:id' }, listeners: 'all' });
    expect(s.upstreams).toEqual([expect.objectContaining({ name: 'items', targets: [expect.objectContaining({ url: up.url, healthy: true, weight: 1 })] })]);
    expect(s.upstreams[0]).toMatchObject({ balance: 'round-robin', panic: false, targets: [{ state: 'healthy', ejections: 0, inFlight: 0 }] });
  });

  it('reload: a valid change swaps the config, an invalid one is rejected with its errors and changes nothing', async () => {
    const before = (await httpRequest(`${admin}/api/status`, { headers: auth })).json<Record<string, any>>();
    writeFileSync(gw.file, config(up.url, '  - { name: added, match: { path: /added }, static: { status: 200, body: added } }\n'));
    const ok = await httpRequest(`${admin}/api/reload`, { method: 'POST', headers: auth });
    expect(ok.status).toBe(200);
    expect(ok.json()).toMatchObject({ ok: true, version: before.config.version + 1 });
    expect((await httpRequest(`${gw.url}/added`)).text).toBe('added');

    writeFileSync(gw.file, config(up.url, '  - { name: broken, match: { path: /broken }, upstream: missing }\n'));
    const bad = await httpRequest(`${admin}/api/reload`, { method: 'POST', headers: auth });
    expect(bad.status).toBe(422);
    const body = bad.json<{ ok: boolean; issues: string[] }>();
    expect(body.ok).toBe(false);
    expect(body.issues.join('\n')).toMatch(/gateway\.yaml:\d+ routes\[2\]\.upstream: unknown upstream 'missing'/);
    const after = (await httpRequest(`${admin}/api/status`, { headers: auth })).json<Record<string, any>>();
    expect(after.config.version).toBe(before.config.version + 1);
    expect(after.lastReload).toMatchObject({ ok: false });
    expect((await httpRequest(`${gw.url}/added`)).text).toBe('added');
    const v = parseMetrics((await httpRequest(`${admin}/metrics`, { headers: auth })).text);
    expect(v.get('gantry_config_last_reload_successful')).toBe(0);
    expect(v.get('gantry_config_reloads_total{result="failure"}')).toBeGreaterThanOrEqual(1);
  });
});

describe('admin /readyz and the store', () => {
  it('is ready with the memory store and names the check; not ready (503) while Redis is unreachable', async () => {
    const cfg = (store: string) => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: 0, token: "${TOKEN}" }
store: ${store}
routes: [ { name: r, match: { path: /r }, static: { status: 200 } } ]
`;
    const mem = await startGateway(cfg('{ kind: memory }'));
    try {
      const r = await httpRequest(`http://127.0.0.1:${mem.gw.adminPort}/readyz`);
      expect(r.status).toBe(200);
      expect(r.json<{ workers: { checks: Record<string, { ok: boolean }> }[] }>().workers[0]!.checks.store).toEqual({ ok: true, detail: 'memory' });
    } finally {
      await mem.close();
    }
    const red = await startGateway(cfg('{ kind: redis, url: "redis://127.0.0.1:9" }'));
    try {
      const r = await eventually(async () => {
        const res = await httpRequest(`http://127.0.0.1:${red.gw.adminPort}/readyz`);
        return res.status === 503 ? res : undefined;
      }, 5000, '/readyz to report the store unreachable');
      expect(r.json<{ workers: { checks: Record<string, { ok: boolean; detail: string }> }[] }>().workers[0]!.checks.store).toEqual({ ok: false, detail: 'redis unreachable' });
      // Liveness is not readiness: the process still answers /healthz.
      expect((await httpRequest(`http://127.0.0.1:${red.gw.adminPort}/healthz`)).status).toBe(200);
      // The public listener's readiness follows the store too (server.readyRequiresStore, default true).
      const pub = await httpRequest(`${red.url}/readyz`);
      expect(pub.status).toBe(503);
      expect(pub.json()).toMatchObject({ status: 'not ready', store: 'unreachable' });
    } finally {
      await red.close();
    }
  });
});
