import { describe, expect, it } from 'vitest';
import { writeTempConfig } from '../../test/helpers.js';
import { explain, formatExplanation, type Explanation } from './explain.js';

const file = writeTempConfig(`version: 1
listeners:
  - { name: public, port: 0 }
  - { name: partners, port: 0 }
policies:
  - request-id: {}
consumers:
  - { id: batch, policies: [ { rate-limit: { limit: 5, window: 1s, by: consumer } } ] }
  - { id: plain }
upstreams:
  catalog:
    targets: [ "http://127.0.0.1:7001", { url: "http://127.0.0.1:7002", weight: 3 } ]
    policies: [ { concurrency: { max: 10 } } ]
routes:
  - name: products
    match: { path: /api/v1/products/*, methods: [GET] }
    upstream: catalog
    rewrite: { stripPrefix: /api/v1 }
    policies: [ { headers: { request: { set: { x-from: gw } } } } ]
  - { name: product, match: { path: "/api/v1/products/:id", methods: [GET] }, upstream: catalog }
  - { name: product-write, match: { path: "/api/v1/products/:id", methods: [PUT] }, static: { status: 204 } }
  - { name: beta, match: { path: "/api/v1/products/:id", headers: { x-beta: "1" } }, static: { status: 200 }, priority: 5 }
  - { name: mobile, match: { path: /m/*, host: "*.mobile.example.com" }, static: { status: 200 } }
  - { name: partner, match: { path: /p }, static: { status: 200 }, listeners: [partners] }
`);

const cases: { desc: string; method: string; url: string; headers?: Record<string, string>; listener?: string; route: string | null; outcome?: RegExp; near?: string[]; forwarded?: string }[] = [
  { desc: 'param route beats the prefix (more specific)', method: 'GET', url: '/api/v1/products/7', route: 'product', near: ['products', 'product-write', 'beta'], forwarded: '/api/v1/products/7' },
  { desc: 'prefix route with rewrite', method: 'GET', url: '/api/v1/products/7/reviews?page=2', route: 'products', forwarded: '/products/7/reviews?page=2' },
  { desc: 'a header match and priority win', method: 'GET', url: '/api/v1/products/7', headers: { 'X-Beta': '1' }, route: 'beta' },
  { desc: 'method picks the write route', method: 'PUT', url: '/api/v1/products/7', route: 'product-write' },
  { desc: 'wrong method is a 405 naming the allowed ones', method: 'DELETE', url: '/api/v1/products/7', route: null, outcome: /405.*GET, HEAD, PUT/ },
  { desc: 'host from an absolute URL', method: 'GET', url: 'http://a.mobile.example.com/m/x', route: 'mobile' },
  { desc: 'host miss is a near miss', method: 'GET', url: 'http://example.com/m/x', route: null, outcome: /404/, near: ['mobile'] },
  { desc: 'listener-scoped route on its listener', method: 'GET', url: '/p', listener: 'partners', route: 'partner' },
  { desc: 'listener-scoped route absent elsewhere', method: 'GET', url: '/p', route: null, outcome: /404/ },
];

describe('gantry explain', () => {
  for (const c of cases) {
    it(c.desc, async () => {
      const e = (await explain(file, { method: c.method, url: c.url, headers: c.headers ?? {}, ...(c.listener ? { listener: c.listener } : {}) })) as Explanation;
      expect(e.matched?.route ?? null).toBe(c.route);
      if (c.outcome) expect(e.outcome).toMatch(c.outcome);
      if (c.near) expect(e.nearMisses.map((n) => n.route).sort()).toEqual([...c.near].sort());
      if (c.forwarded) expect(e.forwardedPath).toBe(c.forwarded);
    });
  }

  it('prints why, the policies in order (global, upstream, route; consumers\' noted) and the upstream with its balancer and targets', async () => {
    const e = (await explain(file, { method: 'GET', url: '/api/v1/products/7/x', headers: {} })) as Explanation;
    expect(e.policies.map((p) => `${p.scope}:${p.name}`)).toEqual(['global:request-id', 'upstream:concurrency', 'route:headers']);
    expect(e.consumerPolicies).toEqual([{ consumer: 'batch', policies: ['rate-limit'] }]);
    const text = formatExplanation(e);
    expect(text).toContain('2. concurrency [upstream]');
    expect(text).toContain('+ for consumer batch, after the policy that identifies it: rate-limit');
    expect(text).toContain('matched route: products');
    expect(text).toContain('✓ path /api/v1/products/* matches /api/v1/products/7/x');
    expect(text).toContain('1. request-id [global]');
    expect(text).toMatch(/upstream catalog\n\s+balancer: round-robin\n\s+target http:\/\/127\.0\.0\.1:7001 \(weight 1\)\n\s+target http:\/\/127\.0\.0\.1:7002 \(weight 3\)/);
  });

  it('routes a CORS preflight to a GET-only route with cors as the gateway does; without cors it is a 405', async () => {
    const cors = writeTempConfig(`version: 1
listeners: [ { name: public, port: 0 } ]
routes:
  - { name: read, match: { path: /read, methods: [GET] }, static: { status: 200 }, policies: [ { cors: { origins: ["https://*.example.com"] } } ] }
  - { name: plain, match: { path: /plain, methods: [GET] }, static: { status: 200 } }
`);
    const pre = { origin: 'https://a.example.com', 'Access-Control-Request-Method': 'GET' };
    const e = (await explain(cors, { method: 'OPTIONS', url: '/read', headers: pre })) as Explanation;
    expect(e.matched?.route).toBe('read');
    expect(e.outcome).toMatch(/CORS preflight for GET: answered by its cors policy/);
    expect(e.policies.map((p) => p.name)).toEqual(['cors']);
    const plain = (await explain(cors, { method: 'OPTIONS', url: '/plain', headers: pre })) as Explanation;
    expect(plain.outcome).toMatch(/^405/);
  });

  it('explains a near miss by the condition that failed', async () => {
    const e = (await explain(file, { method: 'GET', url: '/api/v1/products/7', headers: {} })) as Explanation;
    const beta = e.nearMisses.find((n) => n.route === 'beta')!;
    expect(beta.reasons.join('\n')).toMatch(/header x-beta do not match/);
    const write = e.nearMisses.find((n) => n.route === 'product-write')!;
    expect(write.reasons.join('\n')).toMatch(/methods PUT exclude GET/);
  });

  it('matches versioned routes like the router (version in the path, a header), naming the version', async () => {
    const versioned = writeTempConfig(`version: 1
listeners: [ { name: public, port: 0 } ]
routes:
  - { name: orders-v1, match: { path: /orders/*, version: { is: "1", default: true } }, static: { status: 200 } }
  - { name: orders-v2, match: { path: /orders/*, version: "2" }, static: { status: 200 } }
  - { name: any-v2, match: { path: /v2/*, version: "2" }, static: { status: 200 } }
`);
    const byPath = (await explain(versioned, { method: 'GET', url: '/v2/orders/7', headers: {} })) as Explanation;
    expect(byPath.matched?.route).toBe('any-v2');
    expect(formatExplanation(byPath)).toMatch(/✓ version "2" match/);
    const byHeader = (await explain(versioned, { method: 'GET', url: '/orders/7', headers: { 'Accept-Version': '2' } })) as Explanation;
    expect(byHeader.matched?.route).toBe('orders-v2');
    const none = (await explain(versioned, { method: 'GET', url: '/orders/7', headers: {} })) as Explanation;
    expect(none.matched?.route).toBe('orders-v1');
    expect(none.nearMisses.find((n) => n.route === 'orders-v2')!.reasons.join('\n')).toMatch(/version "2" do not match/);
  });

  it('reports config errors and bad targets', async () => {
    expect(await explain(file, { method: 'GET', url: 'nope', headers: {} })).toEqual({ issues: [expect.stringMatching(/not a valid request target/)] });
    expect(await explain(file, { method: 'GET', url: '/', headers: {}, listener: 'x' })).toEqual({ issues: ["unknown listener 'x'"] });
  });
});
