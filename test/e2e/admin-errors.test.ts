import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { describeRedis, redisAdmin } from '../redis.js';
import { eventually, httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { ADMIN_ROUTES, type AdminRoute } from '../../src/admin/routes.js';

/**
 * How the admin API answers failures: an unexpected error never reaches the client (500
 * with the request id, the error in the log), a purge of an unknown cache zone is a 404,
 * and a purge the shared store failed says when to retry.
 */

const TOKEN = 'admin-errors-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

const config = (upstream: string, store = '') => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: 0, token: "${TOKEN}" }
server: { readyRequiresStore: false }
${store}
upstreams:
  up: { targets: [ "${upstream}" ] }
routes:
  - { name: items, match: { path: "/items/*" }, upstream: up, policies: [ { cache: { key: { host: false } } } ] }
  - { name: catalog, match: { path: "/catalog/*" }, upstream: up, policies: [ { cache: { key: { host: false }, zone: shop } } ] }
`;

const cacheable = (req: { url?: string }, res: import('node:http').ServerResponse) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=300', 'surrogate-key': 't' });
  res.end(req.url);
};

describe('admin API failures (memory store)', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let admin: string;
  const added: AdminRoute[] = [];

  beforeAll(async () => {
    up = await startUpstream(cacheable);
    gw = await startGateway(config(up.url));
    admin = `http://127.0.0.1:${gw.gw.adminPort}`;
  });
  afterEach(() => {
    for (const r of added.splice(0)) ADMIN_ROUTES.splice(ADMIN_ROUTES.indexOf(r), 1);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const purge = (body: unknown) => httpRequest(admin + '/api/cache/purge', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  /** An endpoint (the extension point features use) whose work fails inside the gateway. */
  function failingEndpoint(path: string): void {
    const route: AdminRoute = {
      method: 'POST',
      path,
      description: 'test: runs a gateway command that does not exist',
      handle: async (req) => ({ status: 200, body: await req.backend.run('no-such-command-secret-detail') }),
    };
    ADMIN_ROUTES.push(route);
    added.push(route);
  }

  it('an unexpected failure answers 500 problem+json with a generic detail and the request id; the error is logged with the endpoint', async () => {
    failingEndpoint('/api/test-failure');
    const logged = gw.logs.length;
    const res = await httpRequest(admin + '/api/test-failure', { method: 'POST', headers: auth });
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.text).not.toContain('secret-detail');
    const body = res.json<Record<string, string>>();
    expect(body).toMatchObject({ type: 'https://gantry.dev/problems/internal', title: 'Internal gateway error', status: 500 });
    expect(body.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers['x-request-id']).toBe(body.requestId);
    expect(body.detail).toContain(body.requestId);
    const line = gw.logs.slice(logged).find((l) => l.msg === 'admin request failed');
    expect(line).toMatchObject({ level: 50, endpoint: 'POST /api/test-failure', requestId: body.requestId });
    expect(JSON.stringify(line)).toContain('no-such-command-secret-detail');
  });

  it("reuses the client's X-Request-Id when it is a plain token, never a malformed one", async () => {
    failingEndpoint('/api/test-failure-id');
    const given = await httpRequest(admin + '/api/test-failure-id', { method: 'POST', headers: { ...auth, 'x-request-id': 'ops-1234' } });
    expect(given.status).toBe(500);
    expect(given.json()).toMatchObject({ requestId: 'ops-1234' });
    const odd = await httpRequest(admin + '/api/test-failure-id', { method: 'POST', headers: { ...auth, 'x-request-id': 'a b"<c>' } });
    expect(odd.json<{ requestId: string }>().requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a rejected reload still reports its config issues to the operator (422)', async () => {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(gw.file, config(up.url) + '  - { name: broken, match: { path: /broken }, upstream: missing }\n');
    try {
      const res = await httpRequest(admin + '/api/reload', { method: 'POST', headers: auth });
      expect(res.status).toBe(422);
      expect(res.json<{ issues: string[] }>().issues.join('\n')).toMatch(/routes\[2\]\.upstream: unknown upstream 'missing'/);
    } finally {
      writeFileSync(gw.file, config(up.url));
    }
  });

  const zoneCases: { desc: string; body: Record<string, string>; want: number }[] = [
    { desc: 'an unknown zone', body: { tag: 't', zone: 'nope' }, want: 404 },
    { desc: 'a zone named like a route whose zone is another', body: { tag: 't', zone: 'catalog' }, want: 404 },
    { desc: 'a route-named zone', body: { tag: 't', zone: 'items' }, want: 200 },
    { desc: 'an explicitly named zone', body: { tag: 't', zone: 'shop' }, want: 200 },
    { desc: 'no zone (every zone)', body: { tag: 't' }, want: 200 },
  ];
  for (const c of zoneCases) {
    it(`purge naming ${c.desc} → ${c.want}`, async () => {
      // Zones exist once their routes' policies are built (at load).
      const res = await purge(c.body);
      expect(res.status).toBe(c.want);
      if (c.want === 404) {
        expect(res.headers['content-type']).toBe('application/problem+json');
        expect(res.json()).toMatchObject({
          type: 'https://gantry.dev/problems/cache-zone-unknown',
          title: 'Unknown cache zone',
          status: 404,
          zone: c.body.zone,
          zones: ['items', 'shop'],
        });
        expect(res.json<{ detail: string }>().detail).toContain(`'${c.body.zone}'`);
      }
    });
  }

  it('an unknown zone purges nothing anywhere', async () => {
    await httpRequest(`${gw.url}/items/x`);
    await eventually(async () => ((await httpRequest(`${gw.url}/items/x`)).headers['cache-status']?.toString().startsWith('gantry; hit') ? true : undefined), 3000, 'cached');
    expect((await purge({ key: '/items/x', zone: 'itemz' })).status).toBe(404);
    expect((await httpRequest(`${gw.url}/items/x`)).headers['cache-status']).toMatch(/^gantry; hit/);
  });
});

describeRedis('admin cache purge the shared store fails', (redis) => {
  let up: TestUpstream;
  let gw: TestGateway;
  let redisCli: Redis;

  beforeAll(async () => {
    up = await startUpstream(cacheable);
    gw = await startGateway(config(up.url, `store: { kind: redis, url: "${redis().url}", keyPrefix: "admin-errors:", timeout: 200ms, maxBackoff: 100ms }`));
    redisCli = await redisAdmin(redis().url);
  });
  afterAll(async () => {
    redisCli?.disconnect();
    await gw?.close();
    await up?.close();
  });

  it('answers 503 store-unavailable with Retry-After', async () => {
    // Redis refuses every key to the gateway's user (-NOPERM): each zone's purge fails.
    await redisCli.call('ACL', 'SETUSER', 'default', 'resetkeys');
    let res: Awaited<ReturnType<typeof httpRequest>>;
    try {
      res = await httpRequest(`http://127.0.0.1:${gw.gw.adminPort}/api/cache/purge`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"tag":"t"}' });
    } finally {
      await redisCli.call('ACL', 'SETUSER', 'default', 'resetkeys', '~*');
    }
    expect(res.status).toBe(503);
    expect(res.json()).toMatchObject({ type: 'https://gantry.dev/problems/store-unavailable', zones: ['items', 'shop'] });
    expect(res.headers['retry-after']).toBe('5');
    expect(res.headers['cache-control']).toBe('no-store');
  });
});
