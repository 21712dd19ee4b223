import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { startDnsStub, type DnsStub } from '../dns.js';

const TOKEN = 'coalesce-token-0123456789';

/**
 * Reloads run one at a time, and triggers arriving while one runs share one follow-up
 * reload (Gateway.reload). SIGHUP, the file watcher and `POST /api/reload` all end in
 * `gw.reload()`. To have a reload really running while the triggers arrive, each config
 * points an upstream at a new DNS name: building it waits for the first lookup, and the
 * test's resolver answers only when told to.
 */
describe('reload coalescing', () => {
  let dns: DnsStub;
  let up: TestUpstream;
  let gw: TestGateway;
  const config = (n: number) => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: 0, token: "${TOKEN}" }
log: { access: false }
upstreams:
  app: { dns: { name: v${n}.test, port: ${up.port}, refresh: 1h, servers: [ "127.0.0.1:${dns.port}" ] } }
routes:
  - { name: which, match: { path: /which }, static: { status: 200, body: "config ${n}" } }
  - { name: app, match: { path: /app }, upstream: app }
`;

  beforeAll(async () => {
    dns = await startDnsStub();
    up = await startUpstream((_req, res) => res.end('app'));
    for (let n = 1; n <= 6; n++) dns.records.set(`A v${n}.test`, [{ type: 'A', name: '', ttl: 5, data: '127.0.0.1' }]);
    gw = await startGateway(config(1));
  });
  afterAll(async () => {
    dns?.release();
    await gw?.close();
    await up?.close();
    dns?.close();
  });

  it('triggers during a reload cause one more reload, which serves the last config written', async () => {
    const reloaded = () => gw.logs.filter((l) => l.msg === 'config reloaded').length;
    const built = () => [...new Set(dns.asked)];
    expect(built()).toEqual(['A v1.test']);

    // Reload 1, by the admin API, stalls in its build: the resolver holds its answer.
    dns.hold = true;
    writeFileSync(gw.file, config(2));
    const first = httpRequest(`http://127.0.0.1:${gw.gw.adminPort}/api/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    await eventually(() => dns.asked.includes('A v2.test') || undefined, 5000, 'reload 1 to be building config 2');

    // While it runs: three more writes, each followed by a trigger.
    const triggers = [3, 4, 5].map((n) => {
      writeFileSync(gw.file, config(n));
      return gw.gw.reload();
    });
    expect(new Set(triggers).size).toBe(1);
    expect(reloaded()).toBe(0);

    dns.release();
    const r1 = await first;
    expect(r1.status).toBe(200);
    expect(r1.json()).toMatchObject({ ok: true, version: 2 });
    expect(await Promise.all(triggers)).toEqual([
      { ok: true, version: 3 },
      { ok: true, version: 3 },
      { ok: true, version: 3 },
    ]);
    // Two reloads in all; the follow-up read the file when it started, so configs 3 and 4 were never built.
    expect(reloaded()).toBe(2);
    expect(built()).toEqual(['A v1.test', 'A v2.test', 'A v5.test']);
    expect(gw.gw.runtime.version).toBe(3);
    expect((await httpRequest(`${gw.url}/which`)).text).toBe('config 5');
    expect((await httpRequest(`${gw.url}/app`)).text).toBe('app');

    // Nothing stays queued: the next trigger is a reload of its own.
    writeFileSync(gw.file, config(6));
    expect(await gw.gw.reload()).toEqual({ ok: true, version: 4 });
    expect((await httpRequest(`${gw.url}/which`)).text).toBe('config 6');
  });
});
