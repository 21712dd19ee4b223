import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, httpRequest, spawnGateway, startUpstream, type SpawnedGateway, type TestUpstream } from '../helpers.js';

const TOKEN = 'cluster-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

/** `gantry start --workers 2`: shared listener, reload reaching every worker, aggregated metrics. */
describe('cluster mode', () => {
  let up: TestUpstream;
  let gantry: SpawnedGateway;
  let file: string;
  let pub: string;
  let admin: string;
  const config = (extra = '') => `version: 1
listeners: [ { name: public, port: ${new URL(pub).port}, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: ${new URL(admin).port}, token: "${TOKEN}" }
reload: { watch: false }
log: { level: warn, access: false }
upstreams: { echo: { targets: [ "${up.url}" ] } }
routes:
  - { name: echo, match: { path: /echo/* }, upstream: echo }
${extra}`;

  beforeAll(async () => {
    up = await startUpstream();
    pub = `http://127.0.0.1:${await freePort()}`;
    admin = `http://127.0.0.1:${await freePort()}`;
    gantry = await spawnGateway(config(), { args: ['--workers', '2'], readyUrl: `${admin}/readyz` });
    file = gantry.file;
  });
  afterAll(async () => {
    await gantry?.stop();
    await up?.close();
  });

  const status = async () => (await httpRequest(`${admin}/api/status`, { headers: auth })).json<{ mode: string; workers: { pid: number; version: number }[] }>();

  it('runs two workers behind one listener and sums their metrics', async () => {
    const s = await status();
    expect(s.mode).toBe('cluster');
    expect(s.workers).toHaveLength(2);
    expect(new Set(s.workers.map((w) => w.pid)).size).toBe(2);
    // Fresh connections, so the primary spreads them over both workers.
    const n = 40;
    for (let i = 0; i < n; i++) expect((await httpRequest(`${pub}/echo/${i}`)).status).toBe(200);
    const text = (await httpRequest(`${admin}/metrics`, { headers: auth })).text;
    const m = /gantry_http_requests_total\{route="echo",method="GET",status_class="2xx"\} (\d+)/.exec(text);
    expect(Number(m?.[1])).toBe(n);
    expect(text).toMatch(/gantry_config_last_reload_successful 1\b/);
    // The dashboard's JSON view sums the workers too.
    const stats = (await httpRequest(`${admin}/api/stats`, { headers: auth })).json<{ routes: Record<string, { total: number }> }>();
    expect(stats.routes.echo?.total).toBe(n);
  });

  it('reload through the admin API reaches every worker; an invalid config reaches none', async () => {
    writeFileSync(file, config('  - { name: added, match: { path: /added }, static: { status: 200, body: added } }\n'));
    const r = await httpRequest(`${admin}/api/reload`, { method: 'POST', headers: auth });
    expect(r.status).toBe(200);
    const body = r.json<{ ok: boolean; workers: { ok: boolean; version: number }[] }>();
    expect(body.workers.map((w) => [w.ok, w.version])).toEqual([
      [true, 2],
      [true, 2],
    ]);
    for (let i = 0; i < 6; i++) expect((await httpRequest(`${pub}/added`)).text).toBe('added');

    writeFileSync(file, config('  - { name: bad, match: { path: /bad }, upstream: nowhere }\n'));
    const bad = await httpRequest(`${admin}/api/reload`, { method: 'POST', headers: auth });
    expect(bad.status).toBe(422);
    expect(bad.json<{ issues: string[] }>().issues.join()).toMatch(/unknown upstream 'nowhere'/);
    expect((await status()).workers.map((w) => w.version)).toEqual([2, 2]);
    // The rejection is visible like in a single process: last reload result and metrics.
    const st = (await httpRequest(`${admin}/api/status`, { headers: auth })).json<{ lastReload: { ok: boolean } | null }>();
    expect(st.lastReload?.ok).toBe(false);
    const text = (await httpRequest(`${admin}/metrics`, { headers: auth })).text;
    expect(text).toMatch(/gantry_config_last_reload_successful 0\b/);
    expect(text).toMatch(/gantry_config_reloads_total\{result="failure"\} 2\b/);
  });

  it('SIGHUP to the primary reloads every worker', async () => {
    writeFileSync(file, config());
    gantry.signal('SIGHUP');
    const s = await eventually(async () => {
      const st = await status();
      return st.workers.every((w) => w.version === 3) ? st : undefined;
    });
    expect(s.workers).toHaveLength(2);
    expect((await httpRequest(`${pub}/added`)).status).toBe(404);
  });

  it('reload requests arriving during a reload share one follow-up reload', async () => {
    // Many routes make each reload take a while, so the burst arrives during the first.
    const routes = Array.from({ length: 400 }, (_, i) => `  - { name: r${i}, match: { path: /r${i}/* }, static: { body: r${i} } }\n`).join('');
    writeFileSync(file, config(routes));
    const before = (await status()).workers[0]!.version;
    const replies = await Promise.all(
      Array.from({ length: 5 }, () => httpRequest(`${admin}/api/reload`, { method: 'POST', headers: auth })),
    );
    const versions = replies.map((r) => r.json<{ workers: { version: number }[] }>().workers[0]!.version);
    // The first runs; the other four arrive while it runs and share the one queued after it.
    expect(Math.max(...versions)).toBeLessThanOrEqual(before + 2);
    expect(new Set(versions.slice(1)).size).toBe(1);
    expect((await status()).workers.map((w) => w.version)).toEqual([Math.max(...versions), Math.max(...versions)]);
  });

  it('a worker that dies is replaced and serves the current config', async () => {
    const before = await status();
    const victim = before.workers[0]!.pid;
    process.kill(victim, 'SIGKILL');
    const after = await eventually(async () => {
      const st = await status();
      return st.workers.length === 2 && !st.workers.some((w) => w.pid === victim) ? st : undefined;
    }, 15_000, 'a replacement worker');
    expect(after.workers.every((w) => w.pid !== victim)).toBe(true);
    for (let i = 0; i < 6; i++) expect((await httpRequest(`${pub}/echo/after-crash`)).status).toBe(200);
  });

  it('SIGTERM drains the workers and exits 0', async () => {
    expect(await gantry.stop()).toBe(0);
  });
});

/** Workers share the primary's stdout (a pipe here): their access-log lines must never interleave mid-line. */
describe('cluster mode access log on a shared pipe', () => {
  // A cluster start plus 2,000 requests: 10-25 s on a busy 2-core machine.
  it('every line from either worker arrives whole', { timeout: 60_000 }, async () => {
    const up = await startUpstream();
    const pub = `http://127.0.0.1:${await freePort()}`;
    const admin = `http://127.0.0.1:${await freePort()}`;
    const gantry = await spawnGateway(`version: 1
listeners: [ { name: public, port: ${new URL(pub).port}, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: ${new URL(admin).port}, token: "${TOKEN}" }
reload: { watch: false }
log: { level: info, access: { fields: [requestId, method, path, status, userAgent] } }
upstreams: { echo: { targets: [ "${up.url}" ] } }
routes:
  - { name: echo, match: { path: /echo/* }, upstream: echo }
`, { args: ['--workers', '2'], readyUrl: `${admin}/readyz` });
    try {
      // ~2 MB of lines from two processes at once, each line ~1 KB (a long user agent). The
      // test stops reading meanwhile, so the pipe fills and the writers have to wait for room:
      // that is when writes longer than PIPE_BUF get split and interleaved.
      gantry.proc.stdout!.pause();
      const n = 2000;
      const ua = `load/${'x'.repeat(900)}`;
      for (let i = 0; i < n; i += 100) {
        const batch = await Promise.all(Array.from({ length: 100 }, (_, j) => httpRequest(`${pub}/echo/${i + j}`, { headers: { 'user-agent': ua } })));
        expect(batch.every((r) => r.status === 200)).toBe(true);
      }
      gantry.proc.stdout!.resume();
      expect(await gantry.stop()).toBe(0);
      const lines = gantry.output().split('\n').filter((l) => l !== '');
      const broken = lines.filter((l) => {
        try {
          JSON.parse(l);
          return false;
        } catch {
          return true;
        }
      });
      expect(broken).toEqual([]);
      const paths = lines.map((l) => JSON.parse(l) as { msg: string; path?: string }).filter((l) => l.msg === 'request').map((l) => l.path);
      expect(new Set(paths).size).toBe(n);
    } finally {
      await gantry.stop();
      await up.close();
    }
  });
});
