import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { eventually, freePort, httpRequest, sleep, spawnGateway, startUpstream, writeTempConfig } from '../helpers.js';

describe('process lifecycle', () => {
  it('SIGTERM drains: stops accepting, finishes the request in flight, exits 0', async () => {
    const up = await startUpstream((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '8' });
        res.end('finished');
      }, 800);
    });
    const gw = await spawnGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
server: { drainTimeout: 10s }
upstreams: { slow: { targets: [ "${up.url}" ] } }
routes: [ { name: slow, match: { path: /* }, upstream: slow } ]
`);
    const inFlight = httpRequest(`http://127.0.0.1:${gw.port}/work`);
    await sleep(200);
    const exited = gw.stop('SIGTERM');
    await sleep(100);
    // New connections are refused while the old request finishes.
    await expect(httpRequest(`http://127.0.0.1:${gw.port}/late`)).rejects.toThrow(/ECONNREFUSED/);
    const r = await inFlight;
    expect(r.status).toBe(200);
    expect(r.text).toBe('finished');
    expect(await exited).toBe(0);
    expect(gw.logs.some((l) => l.msg === 'drained' && l.inTime === true)).toBe(true);
    await up.close();
  });

  it('validate exits 0 for a good config and 1 with file:line errors for a bad one', async () => {
    const run = (file: string) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn(process.execPath, ['dist/cli.js', 'validate', file], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        p.stdout.on('data', (d) => (out += d));
        p.stderr.on('data', (d) => (out += d));
        p.on('exit', (code) => resolve({ code, out }));
      });
    const good = await run('examples/demo/gateway.yaml');
    expect(good.code).toBe(0);
    expect(good.out).toMatch(/valid \(8 routes, 3 upstreams, 1 listeners/);
    const { writeTempConfig } = await import('../helpers.js');
    const bad = await run(writeTempConfig('version: 1\nlisteners: [ { name: a, port: 99999 } ]\nroutes:\n  - { name: r, match: { path: /x }, upstream: nope }\n'));
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/gateway\.yaml:2 listeners\[0\]\.port: must be <= 65535/);
    expect(bad.out).toMatch(/gateway\.yaml:4 routes\[0\]\.upstream: unknown upstream 'nope'/);
  });

  it('validate exits 1 on a plugin that never finishes loading, even one holding the event loop', async () => {
    const file = writeTempConfig('version: 1\nlisteners: [ { name: a, port: 0 } ]\nplugins: [ ./hang.mjs ]\n');
    writeFileSync(join(dirname(file), 'hang.mjs'), 'await new Promise(() => setInterval(() => {}, 1000));\nexport default {};\n');
    const p = spawn(process.execPath, ['dist/cli.js', 'validate', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GANTRY_PLUGIN_LOAD_TIMEOUT: '200' } });
    let out = '';
    p.stderr.on('data', (d) => (out += d));
    const kill = setTimeout(() => p.kill('SIGKILL'), 4000);
    const code = await new Promise<number | null>((resolve) => p.on('exit', (c) => resolve(c)));
    clearTimeout(kill);
    expect(code).toBe(1);
    expect(out).toMatch(/gateway\.yaml:3 plugins\[0\]: \.\/hang\.mjs: did not finish loading within 200ms/);
  });

  it('the demo (npm start) answers /api/products from the demo catalog', async () => {
    const [gwPort, catalog, inventory, orders, adminPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const child = spawn(process.execPath, ['examples/demo/run.mjs'], {
      env: { ...process.env, GANTRY_ADMIN_TOKEN: '', GANTRY_ADMIN_PORT: String(adminPort), GANTRY_PORT: String(gwPort), DEMO_CATALOG_PORT: String(catalog), DEMO_INVENTORY_PORT: String(inventory), DEMO_ORDERS_PORT: String(orders) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let banner = '';
    child.stderr.on('data', (d) => (banner += d));
    try {
      await eventually(() => banner.includes('Try:') || undefined, 10_000, 'the demo banner');
      expect(banner).toContain(`curl http://localhost:${gwPort}/api/products`);
      const r = await httpRequest(`http://127.0.0.1:${gwPort}/api/products`);
      expect(r.status).toBe(200);
      expect(r.json<{ servedBy: string; items: unknown[] }>()).toMatchObject({ servedBy: 'catalog' });
      expect(r.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      const order = await httpRequest(`http://127.0.0.1:${gwPort}/api/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ productId: 2, quantity: 1 }),
      });
      expect(order.status).toBe(201);
      const batch = await httpRequest(`http://127.0.0.1:${gwPort}/api/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ path: '/api/products/1' }, { path: '/api/nope' }]),
      });
      expect(batch.json<{ status: number }[]>().map((i) => i.status)).toEqual([200, 404]);
      // The banner names the dashboard and the random admin token it runs with.
      const m = new RegExp(`Dashboard: http://127\\.0\\.0\\.1:${adminPort}/  \\(admin token: ([A-Za-z0-9_-]{24})\\)`).exec(banner);
      expect(m).not.toBeNull();
      expect((await httpRequest(`http://127.0.0.1:${adminPort}/`)).text).toContain('<script src="/dashboard.js"');
      expect((await httpRequest(`http://127.0.0.1:${adminPort}/api/status`, { headers: { authorization: `Bearer ${m![1]}` } })).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
    }
  });
});
