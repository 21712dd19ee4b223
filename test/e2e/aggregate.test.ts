import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { eventually, freePort, httpRequest, parseMetrics, startGateway, startUpstream, writeTempConfig, type TestGateway, type TestUpstream } from '../helpers.js';
import { hashApiKey } from '../../src/consumers/hash.js';
import { loadConfig } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/source.js';
import { metrics } from '../../src/observability/metrics.js';

const json = (res: http.ServerResponse, status: number, body: unknown, type = 'application/json') => {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

/** `aggregate:` over real sockets: parallel parts, merge, partial answers, failures, cancellation. */
describe('aggregate', () => {
  let catalog: TestUpstream;
  let inventory: TestUpstream;
  let odd: TestUpstream;
  let gw: TestGateway;
  /** URLs of requests to `odd` whose connection closed before an answer. */
  const closed: string[] = [];
  const KEY = 'gk_live_aggregate_0001';

  beforeAll(async () => {
    catalog = await startUpstream((req, res) => {
      json(res, 200, { url: req.url, auth: req.headers.authorization ?? null, rid: req.headers['x-request-id'] ?? null, consumer: req.headers['x-consumer-id'] ?? null });
    });
    inventory = await startUpstream((req, res) => json(res, 200, { url: req.url, qty: 3 }));
    odd = await startUpstream(
      (req, res) => {
        const path = req.url!.split('?')[0]!;
        if (path === '/503') return json(res, 503, { error: 'busy' });
        if (path === '/text') return json(res, 200, 'plain words', 'text/plain');
        if (path === '/badjson') return json(res, 200, '{"a":', 'application/json');
        if (path === '/empty') return res.writeHead(204).end();
        if (path === '/big') return json(res, 200, { pad: 'x'.repeat(200_000) });
        if (path === '/slow') return void setTimeout(() => json(res, 200, { slow: true }), 80);
        // /hang…: never answers; record the connection closing.
        res.on('close', () => closed.push(req.url!));
      },
      { bufferBody: false },
    );
    const down = await freePort();
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
consumers:
  - { id: shop-web, apiKeys: ["${hashApiKey(KEY)}"] }
upstreams:
  catalog: { targets: [ "${catalog.url}" ] }
  inventory: { targets: [ "${inventory.url}" ] }
  odd: { targets: [ "${odd.url}" ] }
  down: { targets: [ "http://127.0.0.1:${down}" ] }
routes:
  - name: product-page
    match: { path: /pages/product/:id }
    policies: [ { request-id: {} }, { headers: { response: { set: { x-page: product } } } } ]
    aggregate:
      product: { upstream: catalog, path: "/products/{params.id}" }
      stock:   { upstream: inventory, path: "/stock/{params.id}", optional: true, query: false }
  - name: partial
    match: { path: /partial/:id }
    aggregate:
      product: { upstream: catalog, path: "/products/{params.id}" }
      stock:   { upstream: down, path: "/stock/{params.id}", optional: true }
      extra:   { upstream: odd, path: /503, optional: true }
  - name: fails
    match: { path: /fails/:what }
    aggregate:
      product: { upstream: catalog, path: /products/1 }
      odd:     { upstream: odd, path: "/{params.what}", timeout: 300ms, maxBodySize: 64kb }
  - name: hang
    match: { path: /hang }
    aggregate:
      a: { upstream: odd, path: /hang-a }
      b: { upstream: odd, path: /hang-b, optional: true }
  - name: slow
    match: { path: /slow }
    aggregate:
      product: { upstream: catalog, path: /products/1 }
      late:    { upstream: odd, path: /slow }
  - name: posted
    match: { path: /posted/:id }
    aggregate:
      created: { upstream: inventory, path: "/reserve/{params.id}", method: POST, forwardHeaders: [ accept ] }
      product: { upstream: catalog, path: "/products/{params.id}" }
  - name: keyed
    match: { path: /keyed/:id }
    policies: [ { api-key: {} } ]
    aggregate:
      product: { upstream: catalog, path: "/products/{params.id}", forwardHeaders: [ authorization, x-consumer-id, x-request-id ] }
`);
  });

  afterAll(async () => {
    await gw?.close();
    await Promise.all([catalog?.close(), inventory?.close(), odd?.close()]);
  });

  /** Upstream attempts counted for `upstream`, every outcome. */
  const attempts = async (upstream: string) => {
    let n = 0;
    for (const [k, v] of parseMetrics(await metrics.text())) if (k.startsWith(`gantry_upstream_attempts_total{upstream="${upstream}"`)) n += v;
    return n;
  };

  it('logs upstreamMs as the time from sending the parts to the last answer', async () => {
    const before = gw.logs.length;
    const res = await httpRequest(gw.url + '/slow');
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ product: expect.objectContaining({ url: '/products/1' }), late: { slow: true } });
    const line = await eventually(() => gw.logs.slice(before).find((l) => l.msg === 'request' && l.path === '/slow'), 3000, 'the access-log line');
    // The slow part answers after 80 ms: the aggregate waited at least that long for its upstreams.
    expect(line.upstreamMs).toBeGreaterThanOrEqual(79);
    expect(line.upstreamMs as number).toBeLessThanOrEqual(line.totalMs as number);
    expect(line.target).toBeNull();
  });

  it('merges the parts into one JSON object, with params and query sent on, in parallel', async () => {
    const counted = await attempts('inventory');
    const res = await httpRequest(gw.url + '/pages/product/7%20b?lang=de', { headers: { authorization: 'Bearer secret', 'x-request-id': 'req-42' } });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['x-page']).toBe('product');
    expect(res.headers['x-aggregate-partial']).toBeUndefined();
    expect(res.json()).toEqual({
      product: { url: '/products/7%20b?lang=de', auth: null, rid: 'req-42', consumer: null },
      stock: { url: '/stock/7%20b', qty: 3 },
    });
    const seen = inventory.seen.at(-1)!;
    expect(seen.method).toBe('GET');
    expect(seen.headers.accept).toBe('application/json');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-request-id']).toBe('req-42');
    expect(seen.headers.authorization).toBeUndefined();
    // Each part is an upstream attempt in the metrics.
    expect(await attempts('inventory')).toBe(counted + 1);
  });

  it('answers with null and X-Aggregate-Partial when optional parts fail', async () => {
    const res = await httpRequest(gw.url + '/partial/9');
    expect(res.status).toBe(200);
    expect(res.headers['x-aggregate-partial']).toBe('stock, extra');
    expect(res.json()).toEqual({ product: { url: '/products/9', auth: null, rid: null, consumer: null }, stock: null, extra: null });
  });

  const failures: { desc: string; what: string; status: number; detail: RegExp }[] = [
    { desc: 'a 503', what: '503', status: 502, detail: /^Aggregate part 'odd' failed: upstream answered 503$/ },
    { desc: 'a non-JSON body', what: 'text', status: 502, detail: /^Aggregate part 'odd' failed: upstream answered 'text\/plain', not JSON$/ },
    { desc: 'invalid JSON', what: 'badjson', status: 502, detail: /^Aggregate part 'odd' failed: upstream sent invalid JSON$/ },
    { desc: 'a body over maxBodySize', what: 'big', status: 502, detail: /^Aggregate part 'odd' failed: the body exceeds maxBodySize \(65536 bytes\)$/ },
    { desc: 'no answer within timeout', what: 'hang-t', status: 504, detail: /^Aggregate part 'odd' failed: upstream 'odd' did not answer within 300ms$/ },
  ];
  for (const c of failures) {
    it(`fails with problem+json when a required part gets ${c.desc}`, async () => {
      const started = Date.now();
      const res = await httpRequest(gw.url + '/fails/' + c.what);
      expect(res.status).toBe(c.status);
      expect(res.headers['content-type']).toBe('application/problem+json');
      expect(res.json<{ detail: string }>().detail).toMatch(c.detail);
      // Bounded by the part timeout (300ms), far below the upstream's defaults.
      expect(Date.now() - started).toBeLessThan(3000);
    });
  }
  it('closes the timed-out exchange upstream', async () => {
    await eventually(() => (closed.includes('/hang-t') ? true : undefined), 5000, 'the timed-out part closed');
  });

  it('a 204 part is null and not partial', async () => {
    const res = await httpRequest(gw.url + '/fails/empty');
    expect(res.status).toBe(200);
    expect(res.headers['x-aggregate-partial']).toBeUndefined();
    expect(res.json()).toEqual({ product: { url: '/products/1', auth: null, rid: null, consumer: null }, odd: null });
  });

  it('cancels every part when the client goes away', async () => {
    const before = odd.seen.length;
    const req = http.request(gw.url + '/hang', { agent: false });
    req.on('error', () => {});
    req.end();
    await eventually(() => (odd.seen.slice(before).filter((s) => s.url.startsWith('/hang-')).length === 2 ? true : undefined), 5000, 'both parts sent');
    req.destroy();
    await eventually(() => (closed.includes('/hang-a') && closed.includes('/hang-b') ? true : undefined), 5000, 'both parts closed upstream');
  });

  it('never sends the client\'s body to a part; a part has its own method', async () => {
    const before = inventory.seen.length;
    const res = await httpRequest(gw.url + '/posted/3', { method: 'PUT', body: 'x'.repeat(5000), headers: { 'content-type': 'text/plain', accept: 'application/vnd.shop+json' } });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ created: { url: '/reserve/3', qty: 3 }, product: { url: '/products/3', auth: null, rid: null, consumer: null } });
    const seen = inventory.seen.slice(before);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.method).toBe('POST');
    expect(seen[0]!.body.length).toBe(0);
    expect(seen[0]!.headers['content-type']).toBeUndefined();
    expect(seen[0]!.headers.accept).toBe('application/vnd.shop+json');
    const product = catalog.seen.at(-1)!;
    expect(product.method).toBe('GET');
    expect(product.body.length).toBe(0);
  });

  it('a pathRegex route fills {params.X} from its named groups; a reload naming a param no group gives is refused, the old config serving', async () => {
    const route = (param: string) => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  catalog: { targets: [ "${catalog.url}" ] }
routes:
  - name: rx
    match: { pathRegex: "^/rx/(?<sku>[a-z]+)-(?<id>[0-9]+)$" }
    aggregate:
      product: { upstream: catalog, path: "/products/{params.${param}}/{params.sku}" }
`;
    const file = writeTempConfig(route('id'));
    const g = await startGateway('', { file });
    try {
      expect((await httpRequest(g.url + '/rx/shoe-7')).json()).toMatchObject({ product: { url: '/products/7/shoe' } });
      writeFileSync(file, route('ident'));
      const r = await g.gw.reload();
      expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([
        expect.stringMatching(/gateway\.yaml:9 routes\[0\]\.aggregate\.product\.path: \{params\.ident\} is not a param of match\.pathRegex \(the route captures \{params\.sku\}, \{params\.id\}\)$/),
      ]);
      expect((await httpRequest(g.url + '/rx/boot-8')).json()).toMatchObject({ product: { url: '/products/8/boot' } });
    } finally {
      await g.close();
    }
  });

  it('runs request-phase policies first: api-key protects the route', async () => {
    const before = catalog.seen.length;
    const refused = await httpRequest(gw.url + '/keyed/5');
    expect(refused.status).toBe(401);
    expect(catalog.seen.length).toBe(before);
    const ok = await httpRequest(gw.url + '/keyed/5', { headers: { 'x-api-key': KEY, authorization: 'Bearer on' } });
    expect(ok.status).toBe(200);
    // Listed headers go on: the client's Authorization and the identity the gateway set.
    expect(ok.json()).toEqual({ product: { url: '/products/5', auth: 'Bearer on', rid: null, consumer: 'shop-web' } });
  });
});

describe('aggregate config', () => {
  const doc = (route: string, match = '{ path: /p/:id }') => `version: 1
listeners: [ { name: p, port: 0 } ]
upstreams:
  catalog: { targets: [ "http://127.0.0.1:1" ] }
routes:
  - name: page
    match: ${match}
${route}
`;
  const cases: { desc: string; route: string; match?: string; error: RegExp }[] = [
    { desc: 'unknown upstream', route: '    aggregate: { product: { upstream: catalgo, path: /x } }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.aggregate\.product\.upstream: unknown upstream 'catalgo' \(did you mean 'catalog'\?\)$/m },
    { desc: 'unknown key in an entry', route: '    aggregate: { product: { upstream: catalog, path: /x, retries: 2 } }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.aggregate\.product.*retries/m },
    { desc: 'path without a leading slash', route: '    aggregate: { product: { upstream: catalog, path: x } }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.aggregate\.product\.path: must match/m },
    { desc: 'missing path', route: '    aggregate: { product: { upstream: catalog } }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.aggregate\.product.*path/m },
    { desc: 'param the route does not capture', route: '    aggregate: { product: { upstream: catalog, path: "/x/{params.sku}" } }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.aggregate\.product\.path: \{params\.sku\} is not a param of match\.path \(the route captures \{params\.id\}\)$/m },
    {
      desc: 'param no named group of the pathRegex gives',
      route: '    aggregate: { product: { upstream: catalog, path: "/x/{params.sku}/{params.*}" } }',
      match: '{ pathRegex: "^/p/(?<id>[0-9]+)$" }',
      error: /^\/v\/gateway\.yaml:8 routes\[0\]\.aggregate\.product\.path: \{params\.sku\}, \{params\.\*\} are not params of match\.pathRegex \(the route captures \{params\.id\}\)$/m,
    },
    {
      desc: 'a param of a pathRegex without named groups',
      route: '    aggregate: { product: { upstream: catalog, path: "/x/{params.id}" } }',
      match: '{ pathRegex: "^/p/([0-9]+)$" }',
      error: /^\/v\/gateway\.yaml:8 routes\[0\]\.aggregate\.product\.path: \{params\.id\} is not a param of match\.pathRegex \(the regex has no named groups: \(\?<name>…\)\)$/m,
    },
    {
      desc: 'a param of a route that names no path (it matches /*)',
      route: '    aggregate: { product: { upstream: catalog, path: "/x/{params.id}" } }',
      match: '{ host: shop.example }',
      error: /^\/v\/gateway\.yaml:8 routes\[0\]\.aggregate\.product\.path: \{params\.id\} is not a param of match\.path \(the route captures \{params\.\*\}\)$/m,
    },
    { desc: 'method not allowed', route: '    aggregate: { product: { upstream: catalog, path: /x, method: TRACE } }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.aggregate\.product\.method/m },
    { desc: 'zero timeout', route: '    aggregate: { product: { upstream: catalog, path: /x, timeout: 0s } }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.aggregate\.product\.timeout: timeout must be > 0$/m },
    { desc: 'bad size', route: '    aggregate: { product: { upstream: catalog, path: /x, maxBodySize: lots } }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.aggregate\.product\.maxBodySize/m },
    { desc: 'no parts', route: '    aggregate: {}', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.aggregate/m },
    { desc: 'bad part name', route: '    aggregate: { "a b": { upstream: catalog, path: /x } }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.aggregate/m },
    { desc: 'two targets', route: '    upstream: catalog\n    aggregate: { product: { upstream: catalog, path: /x } }', error: /route has more than one target \(upstream, aggregate\)/ },
    { desc: 'rewrite on an aggregate route', route: '    rewrite: { stripPrefix: /p }\n    aggregate: { product: { upstream: catalog, path: /x } }', error: /routes\[0\]\.rewrite: rewrite does not apply to aggregate routes/ },
    { desc: 'retries on an aggregate route', route: '    retries: { attempts: 2 }\n    aggregate: { product: { upstream: catalog, path: /x } }', error: /routes\[0\]\.retries: retries applies to routes with upstream/ },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const r = await loadConfig('/v/gateway.yaml', { text: doc(c.route, c.match), env: {} });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues.filter((i) => i.severity === 'error').map(formatIssue).join('\n')).toMatch(c.error);
    });
  }

  it('accepts a pathRegex route whose templates name its groups (an optional one included)', async () => {
    const r = await loadConfig('/v/gateway.yaml', {
      text: doc('    aggregate:\n      product: { upstream: catalog, path: "/products/{params.id}/{params.tab}" }', '{ pathRegex: "^/p/(?<id>[0-9]+)(?:/(?<tab>[a-z]+))?$" }'),
      env: {},
    });
    expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([]);
  });

  it('accepts the DESIGN example', async () => {
    const r = await loadConfig('/v/gateway.yaml', {
      text: doc('    aggregate:\n      product: { upstream: catalog, path: "/products/{params.id}" }\n      stock: { upstream: catalog, path: "/stock/{params.id}", optional: true }'),
      env: {},
    });
    expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([]);
  });
});
