import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, sleep, startGateway, startUpstream, writeTempConfig, type TestGateway, type TestUpstream } from '../helpers.js';
import { burst, startGatewayProcess, statusCounts, type GatewayProcess } from '../limits.js';
import { describeRedis } from '../redis.js';
import { hashApiKey } from '../../src/consumers/hash.js';
import { sign } from '../auth-fixtures.js';

/** Tenancy: resolved once per request, used by limits, the access log and upstream selection. */
describe('tenancy', () => {
  let acme: TestUpstream;
  let shared: TestUpstream;
  let gw: TestGateway;
  let hostGw: TestGateway;
  const upstreamsYaml = () => `upstreams:
  acme: { targets: [ "${acme.url}" ] }
  shared: { targets: [ "${shared.url}" ] }
`;
  beforeAll(async () => {
    acme = await startUpstream((_q, res) => res.end('acme'));
    shared = await startUpstream((_q, res) => res.end('shared'));
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
tenantFrom: header:X-Tenant
consumers:
  - { id: robot, tenant: acme, apiKeys: ["${hashApiKey('k-robot')}"] }
${upstreamsYaml()}routes:
  - { name: with-default, match: { path: /d }, upstreamByTenant: { tenants: { acme: acme }, default: shared } }
  - { name: strict, match: { path: /s }, upstreamByTenant: { tenants: { acme: acme } } }
  - name: authed
    match: { path: /authed }
    upstreamByTenant: { tenants: { acme: acme }, default: shared }
    policies: [ { api-key: {} } ]
  - name: per-tenant
    match: { path: /limited }
    static: { body: ok }
    policies: [ { rate-limit: { algorithm: fixed-window, limit: 2, window: 1h, by: tenant } } ]
  - name: template
    match: { path: /echo }
    static: { body: ok }
    policies: [ { headers: { response: { set: { x-tenant: "$\${tenant}" } } } } ]
`);
    hostGw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
tenantFrom: host-subdomain
${upstreamsYaml()}routes:
  - { name: by-host, match: { path: /* }, upstreamByTenant: { tenants: { acme: acme }, default: shared } }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await hostGw?.close();
    await acme?.close();
    await shared?.close();
  });

  const cases: { desc: string; path: string; headers?: Record<string, string>; status: number; body?: string }[] = [
    { desc: 'listed tenant → its upstream', path: '/d', headers: { 'x-tenant': 'acme' }, status: 200, body: 'acme' },
    { desc: 'other tenant → default', path: '/d', headers: { 'x-tenant': 'globex' }, status: 200, body: 'shared' },
    { desc: 'no tenant → default', path: '/d', status: 200, body: 'shared' },
    { desc: 'malformed tenant is no tenant', path: '/d', headers: { 'x-tenant': 'acme;drop' }, status: 200, body: 'shared' },
    { desc: 'no default: unknown tenant → 403', path: '/s', headers: { 'x-tenant': 'globex' }, status: 403 },
    { desc: 'no default: no tenant → 400', path: '/s', status: 400 },
    { desc: "the consumer's tenant wins over the header", path: '/authed', headers: { 'x-api-key': 'k-robot', 'x-tenant': 'globex' }, status: 200, body: 'acme' },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const r = await httpRequest(`${gw.url}${c.path}`, c.headers ? { headers: c.headers } : {});
      expect(r.status).toBe(c.status);
      if (c.body) expect(r.text).toBe(c.body);
      if (c.status >= 400) expect(r.headers['content-type']).toBe('application/problem+json');
    });
  }

  it('host-subdomain: the first label of a three-label host', async () => {
    const at = (host: string) => httpRequest(`${hostGw.url}/x`, { headers: { host } });
    expect((await at('acme.api.example.com')).text).toBe('acme');
    expect((await at('globex.api.example.com')).text).toBe('shared');
    expect((await at('example.com')).text).toBe('shared');
    expect((await at('127.0.0.1')).text).toBe('shared');
  });

  it('limits by tenant, shows in templates and in the access log', async () => {
    const acmeReqs = statusCounts(await burst(`${gw.url}/limited`, 3, { 'x-tenant': 'acme' }));
    expect(acmeReqs).toEqual({ 200: 2, 429: 1 });
    expect(statusCounts(await burst(`${gw.url}/limited`, 2, { 'x-tenant': 'initech' }))).toEqual({ 200: 2 });
    expect((await httpRequest(`${gw.url}/echo`, { headers: { 'x-tenant': 'acme' } })).headers['x-tenant']).toBe('acme');
    await sleep(50);
    const line = gw.logs.find((l) => l.msg === 'request' && l.route === 'template');
    expect(line?.tenant).toBe('acme');
  });
});

describe('tenancy from token claims', () => {
  const SECRET = 'a-tenancy-test-secret-of-at-least-32-bytes';
  const ISS = 'https://id.tenancy.test';
  const hs = { alg: 'HS256', secret: new TextEncoder().encode(SECRET) };
  let acme: TestUpstream;
  let shared: TestUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    acme = await startUpstream((_q, res) => res.end('acme'));
    shared = await startUpstream((_q, res) => res.end('shared'));
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
tenantFrom: claim:org
upstreams:
  acme: { targets: [ "${acme.url}" ] }
  shared: { targets: [ "${shared.url}" ] }
routes:
  - name: claims
    match: { path: /claims }
    upstreamByTenant: { tenants: { acme: acme }, default: shared }
    policies:
      - jwt: { issuer: "${ISS}", secret: "${SECRET}" }
      - rate-limit: { algorithm: fixed-window, limit: 2, window: 1h, by: claim:org }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await acme?.close();
    await shared?.close();
  });

  it('claim:NAME picks the tenant and keys the limit; two subjects of one org share it', async () => {
    const [a, b, c] = await Promise.all([
      sign(hs, { iss: ISS, sub: 'svc-a', org: 'acme' }),
      sign(hs, { iss: ISS, sub: 'svc-b', org: 'acme' }),
      sign(hs, { iss: ISS, sub: 'svc-c', org: 'globex' }),
    ]);
    const call = (t: string) => httpRequest(`${gw.url}/claims`, { headers: { authorization: `Bearer ${t}` } });
    const first = await call(a);
    expect([first.status, first.text]).toEqual([200, 'acme']);
    expect((await call(b)).text).toBe('acme');
    expect((await call(a)).status).toBe(429);
    const other = await call(c);
    expect([other.status, other.text]).toEqual([200, 'shared']);
    await sleep(50);
    expect(gw.logs.filter((l) => l.msg === 'request' && l.route === 'claims').map((l) => l.tenant)).toEqual(['acme', 'acme', 'acme', 'globex']);
  });
});

describeRedis('tenant limits aggregate across consumers and gateway processes', (redis) => {
  const gws: GatewayProcess[] = [];
  beforeAll(async () => {
    const file = writeTempConfig(`version: 1
listeners:
  - name: public
    port: \${PORT}
    host: 127.0.0.1
log: { level: warn, access: false }
store: { kind: redis, url: "${redis().url}", keyPrefix: "tenancy:" }
consumers:
  - { id: alice, tenant: acme, apiKeys: ["${hashApiKey('k-alice')}"] }
  - { id: bob, tenant: acme, apiKeys: ["${hashApiKey('k-bob')}"] }
  - { id: carol, tenant: globex, apiKeys: ["${hashApiKey('k-carol')}"] }
routes:
  - name: api
    match: { path: /api }
    static: { body: ok }
    policies:
      - api-key: {}
      - rate-limit: { name: per-tenant, algorithm: gcra, limit: 10, window: 1h, by: tenant }
`);
    gws.push(...(await Promise.all([startGatewayProcess(file), startGatewayProcess(file)])));
  });
  afterAll(async () => {
    await Promise.all(gws.map((g) => g.stop()));
  });

  it('alice on one instance and bob on the other share acme’s 10; globex has its own', async () => {
    const [a, b] = await Promise.all([burst(`${gws[0]!.url}/api`, 15, { 'x-api-key': 'k-alice' }), burst(`${gws[1]!.url}/api`, 15, { 'x-api-key': 'k-bob' })]);
    expect(statusCounts([...a, ...b])).toEqual({ 200: 10, 429: 20 });
    expect(statusCounts(await burst(gws.map((g) => `${g.url}/api`), 12, { 'x-api-key': 'k-carol' }))).toEqual({ 200: 10, 429: 2 });
  });
});
