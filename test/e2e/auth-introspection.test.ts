import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * oauth2-introspection against a local server implementing RFC 7662: client
 * authentication, active/inactive answers, caching both ways, timeout → 503.
 */
const CLIENT = 'gantry gateway';
const SECRET = 's3cret/with:odd&chars';
const now = () => Math.floor(Date.now() / 1000);

const ANSWERS: Record<string, () => object> = {
  'tok-alice': () => ({ active: true, sub: 'alice', scope: 'orders:read orders:write', exp: now() + 600, aud: ['orders-api'], client_id: 'web', tenant: 'acme' }),
  'tok-machine': () => ({ active: true, client_id: 'batch-job', scope: 'reports:read', exp: now() + 600, aud: 'orders-api' }),
  'tok-inactive': () => ({ active: false }),
  'tok-expired': () => ({ active: true, sub: 'alice', exp: now() - 5, aud: 'orders-api' }),
  'tok-other-aud': () => ({ active: true, sub: 'alice', exp: now() + 600, aud: 'billing' }),
  'tok-active-string': () => ({ active: 'true', sub: 'alice', aud: 'orders-api' }),
  'tok-no-subject': () => ({ active: true, exp: now() + 600, aud: 'orders-api' }),
};

interface AuthServer {
  url: string;
  hits: Record<string, number>;
  close(): Promise<void>;
}

async function startIntrospection(): Promise<AuthServer> {
  const hits: Record<string, number> = {};
  const expected = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT)}:${encodeURIComponent(SECRET)}`).toString('base64')}`;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/x-www-form-urlencoded') return void res.writeHead(400).end();
      if (req.headers.authorization !== expected) return void res.writeHead(401, { 'www-authenticate': 'Basic' }).end();
      const form = new URLSearchParams(raw);
      const token = form.get('token') ?? '';
      hits[token] = (hits[token] ?? 0) + 1;
      if (form.get('token_type_hint') !== 'access_token') return void res.writeHead(400).end();
      if (token === 'tok-slow') return; // never answers
      if (token === 'tok-500') return void res.writeHead(500).end();
      const body = JSON.stringify((ANSWERS[token] ?? (() => ({ active: false })))());
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`,
    hits,
    close: () => new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}

describe('oauth2-introspection', () => {
  let up: TestUpstream;
  let as: AuthServer;
  let gw: TestGateway;

  beforeAll(async () => {
    up = await startUpstream();
    as = await startIntrospection();
    const common = `url: "${as.url}", clientId: "${CLIENT}", clientSecret: "${SECRET}"`;
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - { name: i, match: { path: /i/* }, upstream: echo, policies: [ { oauth2-introspection: { ${common}, audience: orders-api, tenantClaim: tenant, timeout: 5s } } ] }
  - { name: slow, match: { path: /slow/* }, upstream: echo, policies: [ { oauth2-introspection: { ${common}, timeout: 300ms } } ] }
  - { name: badcreds, match: { path: /bad/* }, upstream: echo, policies: [ { oauth2-introspection: { url: "${as.url}", clientId: x, clientSecret: y } } ] }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
    await as?.close();
  });

  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  const cases: { desc: string; token?: string; path?: string; want: number; upstream?: Record<string, string> }[] = [
    { desc: 'active token', token: 'tok-alice', want: 200, upstream: { 'x-consumer-id': 'alice', 'x-authenticated-scopes': 'orders:read orders:write', 'x-consumer-tenant': 'acme' } },
    { desc: 'machine token: consumer from client_id', token: 'tok-machine', want: 200, upstream: { 'x-consumer-id': 'batch-job' } },
    { desc: 'inactive token', token: 'tok-inactive', want: 401 },
    { desc: 'unknown token', token: 'tok-nope', want: 401 },
    { desc: 'active but expired', token: 'tok-expired', want: 401 },
    { desc: 'active for another audience', token: 'tok-other-aud', want: 401 },
    { desc: '"active": "true" (a string) is not active', token: 'tok-active-string', want: 401 },
    { desc: 'no sub and no client_id', token: 'tok-no-subject', want: 401 },
    { desc: 'no token', want: 401 },
    { desc: 'endpoint times out → 503, not 200', token: 'tok-slow', path: '/slow/a', want: 503 },
    { desc: 'endpoint errors → 503', token: 'tok-500', want: 503 },
    { desc: 'endpoint refuses the gateway\'s client credentials → 503', token: 'tok-alice', path: '/bad/a', want: 503 },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const before = up.seen.length;
      const res = await httpRequest(gw.url + (c.path ?? '/i/a'), { headers: c.token ? bearer(c.token) : {} });
      expect(res.status, res.text).toBe(c.want);
      if (c.want !== 200) expect(up.seen.length).toBe(before);
      if (c.want === 401) expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="gantry"/);
      for (const [k, v] of Object.entries(c.upstream ?? {})) expect(up.seen[up.seen.length - 1]!.headers[k], k).toBe(v);
    });
  }

  it('caches active and inactive answers; does not cache failures', async () => {
    const h = { ...as.hits };
    for (let i = 0; i < 5; i++) {
      expect((await httpRequest(gw.url + '/i/c', { headers: bearer('tok-alice') })).status).toBe(200);
      expect((await httpRequest(gw.url + '/i/c', { headers: bearer('tok-inactive') })).status).toBe(401);
    }
    expect(as.hits['tok-alice']).toBe(h['tok-alice']);
    expect(as.hits['tok-inactive']).toBe(h['tok-inactive']);
    expect((await httpRequest(gw.url + '/i/c', { headers: bearer('tok-500') })).status).toBe(503);
    expect(as.hits['tok-500']).toBe((h['tok-500'] ?? 0) + 1);
  });

  it('concurrent requests with one new token make one call', async () => {
    const codes = await Promise.all(Array.from({ length: 10 }, () => httpRequest(gw.url + '/i/c', { headers: bearer('tok-machine-x') }).then((r) => r.status)));
    expect(codes.every((s) => s === 401)).toBe(true);
    expect(as.hits['tok-machine-x']).toBe(1);
  });
});
