import { writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * The cache zones the admin purge knows follow the serving config: a zone a reload removed
 * is unknown (404) at once, even while the previous config version still drains (its
 * in-flight requests hold the zone), and zones the new config keeps purge as before.
 */

const TOKEN = 'cache-zones-reload-token-0123';
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

const config = (upstream: string, withOld: boolean) => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: 0, token: "${TOKEN}" }
server: { readyRequiresStore: false }
upstreams:
  up: { targets: [ "${upstream}" ] }
routes:
  - { name: kept, match: { path: "/kept/*" }, upstream: up, policies: [ { cache: { key: { host: false } } } ] }
${withOld ? '  - { name: slow, match: { path: "/slow/*" }, upstream: up, policies: [ { cache: { key: { host: false }, zone: old } } ] }\n' : ''}`;

describe('cache zones known to the purge after a reload', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let admin: string;
  const held: ServerResponse[] = [];

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      // /slow/* answers only when the test lets it: its request keeps the old config version in use.
      if (req.url!.startsWith('/slow/')) return void held.push(res);
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=300' });
      res.end(req.url);
    });
    gw = await startGateway(config(up.url, true));
    admin = `http://127.0.0.1:${gw.gw.adminPort}`;
  });
  afterAll(async () => {
    for (const res of held) res.destroy();
    await gw?.close();
    await up?.close();
  });

  const purge = (body: unknown) => httpRequest(admin + '/api/cache/purge', { method: 'POST', headers: auth, body: JSON.stringify(body) });
  const cacheStatus = async (path: string) => String((await httpRequest(gw.url + path)).headers['cache-status']);

  it('a zone the reload removed answers 404 while the old version drains; a kept zone still purges', async () => {
    expect((await purge({ prefix: '/', zone: 'old' })).status).toBe(200);
    await httpRequest(gw.url + '/kept/a');
    await eventually(async () => ((await cacheStatus('/kept/a')).startsWith('gantry; hit') ? true : undefined), 3000, 'cached');

    const slow = httpRequest(gw.url + '/slow/x');
    slow.catch(() => undefined); // reported by the await below; a failed test closes it early
    await eventually(() => (held.length === 1 ? true : undefined), 3000, 'the slow request upstream');
    writeFileSync(gw.file, config(up.url, false));
    expect((await httpRequest(admin + '/api/reload', { method: 'POST', headers: auth })).status).toBe(200);

    // The old version still serves /slow/x, so it still holds zone 'old'.
    const gone = await purge({ prefix: '/', zone: 'old' });
    expect(gone.status).toBe(404);
    expect(gone.json()).toMatchObject({ type: 'https://gantry.dev/problems/cache-zone-unknown', zone: 'old', zones: ['kept'] });

    const kept = await purge({ key: '/kept/a', zone: 'kept' });
    expect(kept.status).toBe(200);
    expect(kept.json()).toMatchObject({ purged: 1 });
    expect(await cacheStatus('/kept/a')).toMatch(/^gantry; fwd=uri-miss/);

    held[0]!.writeHead(200, { 'content-type': 'text/plain' });
    held[0]!.end('done');
    expect((await slow).status).toBe(200);
    expect((await purge({ prefix: '/', zone: 'old' })).status).toBe(404);
  });
});
