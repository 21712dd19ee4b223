import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { hashApiKey } from '../../src/consumers/hash.js';
import { loadConfig } from '../../src/config/load.js';

/** rbac, abac and opa after api-key authentication, over real sockets. */
interface Opa {
  url: string;
  hits: number;
  inputs: Record<string, unknown>[];
  close(): Promise<void>;
}

/** A local server implementing OPA's Data API contract for a few documents. */
async function startOpa(): Promise<Opa> {
  const state = { hits: 0, inputs: [] as Record<string, unknown>[] };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c));
    req.on('end', () => {
      state.hits++;
      if (req.method !== 'POST' || !req.url?.startsWith('/v1/data/')) return void res.writeHead(404).end();
      let input: Record<string, any>;
      try {
        input = (JSON.parse(raw) as { input: Record<string, any> }).input;
      } catch {
        return void res.writeHead(400).end(JSON.stringify({ code: 'invalid_parameter' }));
      }
      state.inputs.push(input);
      const send = (body: object) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      // The policy: tenants only see their own resources; GET for everyone, writes for admins.
      const allow =
        input.consumer !== null &&
        input.params?.tenant === input.consumer.tenant &&
        (input.method === 'GET' || (input.consumer.scopes as string[]).includes('admin'));
      if (input.headers?.['x-opa'] === 'slow') return; // never answers
      if (input.headers?.['x-opa'] === 'error') return void res.writeHead(500).end('{}');
      switch (req.url) {
        case '/v1/data/httpapi/authz/allow':
          return send({ result: allow });
        case '/v1/data/httpapi/authz':
          return send({ result: { allow, reasons: [] } });
        default:
          return send({}); // undefined document: no result
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  });
}

let up: TestUpstream;
let opa: Opa;
let gw: TestGateway;

beforeAll(async () => {
  up = await startUpstream();
  opa = await startOpa();
  gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
consumers:
  - { id: reader, tenant: acme, scopes: [orders:read], apiKeys: ["${hashApiKey('k-reader')}"] }
  - { id: writer, tenant: acme, scopes: [orders:read, orders:write], apiKeys: ["${hashApiKey('k-writer')}"] }
  - { id: admin, tenant: acme, scopes: [orders:read, orders:write, admin], apiKeys: ["${hashApiKey('k-admin')}"] }
  - { id: other, tenant: globex, scopes: [orders:read], apiKeys: ["${hashApiKey('k-other')}"] }
  - { id: guest }
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - name: rbac
    match: { path: /rbac/* }
    upstream: echo
    policies:
      - api-key: { anonymous: guest }
      - rbac: { scopes: { anyOf: [orders:read, admin] }, methods: { POST: { allOf: [orders:read, orders:write] }, DELETE: { allOf: [admin] } } }
  - name: abac
    match: { path: "/abac/:tenant/*" }
    upstream: echo
    policies:
      - api-key: {}
      - abac:
          allow: { and: [ { "==": [ { var: params.tenant }, { var: consumer.tenant } ] }, { cidr: [ { var: ip }, "127.0.0.0/8", "::1/128" ] }, { "<": [ { var: time.hour }, 24 ] } ] }
          deny: { or: [ { and: [ { "==": [ { var: method }, DELETE ] }, { "!": { in: [ admin, { var: consumer.scopes } ] } } ] }, { startsWith: [ { var: path }, "/abac/acme/private" ] }, { "==": [ { var: query.debug }, "1" ] } ] }
  - name: opa
    match: { path: "/opa/:tenant/*" }
    upstream: echo
    policies: [ { api-key: {} }, { opa: { url: "${opa.url}", path: httpapi/authz/allow, timeout: 5s, cacheTtl: 30s, headers: [x-opa] } } ]
  - name: opa-slow
    match: { path: "/opa-slow/:tenant/*" }
    upstream: echo
    policies: [ { api-key: {} }, { opa: { url: "${opa.url}", path: httpapi/authz/allow, timeout: 300ms, headers: [x-opa] } } ]
  - name: opa-object
    match: { path: "/opa-object/:tenant/*" }
    upstream: echo
    policies: [ { api-key: {} }, { opa: { url: "${opa.url}", path: httpapi/authz, cacheTtl: 0, timeout: 5s } } ]
  - name: opa-undefined
    match: { path: "/opa-undefined/:tenant/*" }
    upstream: echo
    policies: [ { api-key: {} }, { opa: { url: "${opa.url}", path: no/such/doc, timeout: 5s } } ]
  - name: opa-down
    match: { path: "/opa-down/:tenant/*" }
    upstream: echo
    policies: [ { api-key: {} }, { opa: { url: "http://127.0.0.1:1", path: httpapi/authz/allow } } ]
`);
});
afterAll(async () => {
  await gw?.close();
  await up?.close();
  await opa?.close();
});

const cases: { desc: string; method?: string; path: string; key?: string; headers?: Record<string, string>; want: number; challenge?: RegExp }[] = [
  // rbac
  { desc: 'rbac: anyOf satisfied', path: '/rbac/a', key: 'k-reader', want: 200 },
  { desc: 'rbac: anonymous consumer lacks scopes → 401', path: '/rbac/a', want: 401 },
  { desc: 'rbac: POST needs read and write', method: 'POST', path: '/rbac/a', key: 'k-reader', want: 403, challenge: /error="insufficient_scope", scope="orders:read orders:write"/ },
  { desc: 'rbac: POST with both', method: 'POST', path: '/rbac/a', key: 'k-writer', want: 200 },
  { desc: 'rbac: DELETE needs admin', method: 'DELETE', path: '/rbac/a', key: 'k-writer', want: 403 },
  { desc: 'rbac: DELETE as admin', method: 'DELETE', path: '/rbac/a', key: 'k-admin', want: 200 },
  // abac
  { desc: 'abac: own tenant', path: '/abac/acme/orders', key: 'k-reader', want: 200 },
  { desc: 'abac: another tenant', path: '/abac/acme/orders', key: 'k-other', want: 403 },
  { desc: 'abac: deny rule on method', method: 'DELETE', path: '/abac/acme/orders', key: 'k-writer', want: 403 },
  { desc: 'abac: deny rule does not hit admins', method: 'DELETE', path: '/abac/acme/orders', key: 'k-admin', want: 200 },
  { desc: 'abac: deny rule on path prefix', path: '/abac/acme/private/x', key: 'k-admin', want: 403 },
  { desc: 'abac: deny rule on a query parameter', path: '/abac/acme/orders?debug=1', key: 'k-admin', want: 403 },
  // opa
  { desc: 'opa: allowed', path: '/opa/acme/orders', key: 'k-reader', want: 200 },
  { desc: 'opa: denied → 403', path: '/opa/globex/orders', key: 'k-reader', want: 403 },
  { desc: 'opa: write allowed for admin', method: 'POST', path: '/opa/acme/orders', key: 'k-admin', want: 200 },
  { desc: 'opa: write denied for writer', method: 'POST', path: '/opa/acme/orders', key: 'k-writer', want: 403 },
  { desc: 'opa: result object { allow }', path: '/opa-object/acme/x', key: 'k-reader', want: 200 },
  { desc: 'opa: result object denied', path: '/opa-object/globex/x', key: 'k-reader', want: 403 },
  { desc: 'opa: undefined document → fail closed', path: '/opa-undefined/acme/x', key: 'k-reader', want: 503 },
  { desc: 'opa: timeout → fail closed', path: '/opa-slow/acme/slow', key: 'k-reader', headers: { 'x-opa': 'slow' }, want: 503 },
  { desc: 'opa: error → fail closed', path: '/opa/acme/err', key: 'k-reader', headers: { 'x-opa': 'error' }, want: 503 },
  { desc: 'opa: unreachable → fail closed', path: '/opa-down/acme/x', key: 'k-reader', want: 503 },
];

describe('authorization', () => {
  for (const c of cases) {
    it(c.desc, async () => {
      const before = up.seen.length;
      const res = await httpRequest(gw.url + c.path, { method: c.method ?? 'GET', headers: { ...(c.key ? { 'x-api-key': c.key } : {}), ...c.headers } });
      expect(res.status, res.text).toBe(c.want);
      if (c.want !== 200) {
        expect(up.seen.length).toBe(before);
        expect(res.headers['content-type']).toBe('application/problem+json');
      }
      if (c.challenge) expect(res.headers['www-authenticate']).toMatch(c.challenge);
    });
  }

  it('opa: sends the documented input, and only the listed headers', async () => {
    await httpRequest(gw.url + '/opa/acme/input?x=1', { headers: { 'x-api-key': 'k-writer', 'x-opa': 'ok', cookie: 'secret' } });
    const input = opa.inputs[opa.inputs.length - 1]!;
    expect(input).toMatchObject({
      method: 'GET',
      path: '/opa/acme/input',
      query: 'x=1',
      route: 'opa',
      params: { tenant: 'acme' },
      headers: { 'x-opa': 'ok' },
      ip: '127.0.0.1',
      consumer: { id: 'writer', tenant: 'acme', scopes: ['orders:read', 'orders:write'], anonymous: false },
    });
    expect(Object.keys(input.headers as object)).toEqual(['x-opa']);
  });

  it('opa: caches decisions per input', async () => {
    const get = () => httpRequest(gw.url + '/opa/acme/cached', { headers: { 'x-api-key': 'k-reader' } });
    expect((await get()).status).toBe(200);
    const h = opa.hits;
    for (let i = 0; i < 5; i++) expect((await get()).status).toBe(200);
    expect(opa.hits).toBe(h);
    // A different input is a different decision.
    expect((await httpRequest(gw.url + '/opa/globex/cached', { headers: { 'x-api-key': 'k-reader' } })).status).toBe(403);
    expect(opa.hits).toBe(h + 1);
  });
});

describe('authorization config', () => {
  const doc = (policy: string) => `version: 1
listeners: [ { name: p, port: 0 } ]
routes:
  - { name: r, match: { path: /x }, static: { status: 200 }, policies: [ ${policy} ] }
`;
  const cases: { desc: string; policy: string; error: RegExp }[] = [
    { desc: 'abac: unknown operator', policy: '{ abac: { allow: { startWith: [ { var: path }, "/a" ] } } }', error: /abac\.allow: unknown operator 'startWith'/ },
    { desc: 'abac: allow is required', policy: '{ abac: { deny: true } }', error: /abac\.allow: is required/ },
    { desc: 'rbac: empty requirement', policy: '{ rbac: { scopes: {} } }', error: /rbac\.scopes/ },
    { desc: 'rbac: method must be upper case', policy: '{ rbac: { methods: { get: { anyOf: [a] } } } }', error: /rbac\.methods/ },
    { desc: 'opa: path with a leading slash', policy: '{ opa: { url: "http://127.0.0.1:8181", path: /v1/data/x } }', error: /opa\.path: must match/ },
    { desc: 'opa: url required', policy: '{ opa: { path: a/b } }', error: /opa\.url: is required/ },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const r = await loadConfig('/v/gateway.yaml', { text: doc(c.policy), env: {} });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues.map((i) => `${i.path}: ${i.message}`).join('\n')).toMatch(c.error);
    });
  }
});
