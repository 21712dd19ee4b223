import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/source.js';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * `rewrite.location: true`: Location and Content-Location written by the target in its own
 * path space come back in the route's (nginx `proxy_redirect default`). The upstream answers
 * with the status and header the test asks for in `x-status` / `x-field` / `x-value`.
 */
describe('rewrite.location', () => {
  let up: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      const field = (req.headers['x-field'] as string | undefined) ?? 'Location';
      res.writeHead(Number(req.headers['x-status'] ?? 302), [field, req.headers['x-value'] as string, 'Content-Length', '0']);
      res.end();
    });
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
server: { trustedProxies: [ 127.0.0.1/32 ] }
upstreams:
  app: { targets: [ "${up.url}" ] }
  based: { targets: [ "${up.url}/v2/" ] }
routes:
  - { name: strip, match: { path: /api/* }, upstream: app, rewrite: { stripPrefix: /api, location: true } }
  - { name: add, match: { path: /add/* }, upstream: app, rewrite: { stripPrefix: /add, addPrefix: /internal, location: true } }
  - { name: based, match: { path: /b/* }, upstream: based, rewrite: { stripPrefix: /b, location: true } }
  - { name: plain, match: { path: /plain/* }, upstream: app, rewrite: { location: true } }
  - { name: off, match: { path: /off/* }, upstream: app, rewrite: { stripPrefix: /off } }
  - { name: retried, match: { path: /r/* }, upstream: app, retries: { attempts: 2 }, rewrite: { stripPrefix: /r, location: true } }
`);
  });

  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const ask = (path: string, value: string, more: Record<string, string> = {}) => httpRequest(`${gw.url}${path}`, { headers: { 'x-value': value, ...more } });

  const cases: { desc: string; path: string; value: (target: string) => string; want: (target: string, client: string) => string }[] = [
    { desc: 'stripPrefix, root-relative', path: '/api/products', value: () => '/products/1', want: () => '/api/products/1' },
    { desc: 'the target origin becomes the client origin', path: '/api/products', value: (t) => `${t}/products/1`, want: (_t, c) => `${c}/api/products/1` },
    { desc: 'the target origin in another case, with no path', path: '/api/x', value: (t) => `${t.toUpperCase()}?a=1`, want: (_t, c) => `${c}/api/?a=1` },
    { desc: 'query and fragment kept as written', path: '/api/products', value: () => '/products?page=2&q=a%2Fb#top', want: () => '/api/products?page=2&q=a%2Fb#top' },
    { desc: 'the route root', path: '/api/products', value: () => '/', want: () => '/api/' },
    { desc: 'addPrefix dropped, stripPrefix put back', path: '/add/x', value: () => '/internal/items/2', want: () => '/add/items/2' },
    { desc: 'addPrefix, absolute', path: '/add/x', value: (t) => `${t}/internal/items/2`, want: (_t, c) => `${c}/add/items/2` },
    { desc: 'a path without addPrefix is untouched', path: '/add/x', value: () => '/internals/2', want: () => '/internals/2' },
    { desc: 'an absolute URL without addPrefix is untouched', path: '/add/x', value: (t) => `${t}/other/2`, want: (t) => `${t}/other/2` },
    { desc: 'the base path of the target URL dropped', path: '/b/x', value: () => '/v2/items/3', want: () => '/b/items/3' },
    { desc: 'the base path, absolute', path: '/b/x', value: (t) => `${t}/v2/items/3`, want: (_t, c) => `${c}/b/items/3` },
    { desc: 'a path outside the base path is untouched', path: '/b/x', value: () => '/v3/items/3', want: () => '/v3/items/3' },
    { desc: 'nothing to invert: root-relative untouched', path: '/plain/x', value: () => '/x/1', want: () => '/x/1' },
    { desc: 'nothing to invert: the target origin still becomes the client origin', path: '/plain/x', value: (t) => `${t}/x/1`, want: (_t, c) => `${c}/x/1` },
    { desc: 'another host is untouched', path: '/api/x', value: () => 'http://elsewhere.example/products/1', want: () => 'http://elsewhere.example/products/1' },
    { desc: 'a network-path reference is untouched', path: '/api/x', value: () => '//elsewhere.example/products', want: () => '//elsewhere.example/products' },
    { desc: 'a relative reference is untouched', path: '/api/x', value: () => 'next?page=2', want: () => 'next?page=2' },
    { desc: 'garbage is untouched', path: '/api/x', value: () => 'http://[::1', want: () => 'http://[::1' },
    { desc: 'userinfo is not the target origin', path: '/api/x', value: (t) => t.replace('//', '//u@') + '/p', want: (t) => t.replace('//', '//u@') + '/p' },
    { desc: 'a route without location: untouched', path: '/off/x', value: () => '/products/1', want: () => '/products/1' },
    { desc: 'a route without location: absolute untouched', path: '/off/x', value: (t) => `${t}/products/1`, want: (t) => `${t}/products/1` },
    { desc: 'a route with retries', path: '/r/x', value: (t) => `${t}/products/1`, want: (_t, c) => `${c}/r/products/1` },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const r = await ask(c.path, c.value(up.url));
      expect(r.status).toBe(302);
      expect(r.headers.location).toBe(c.want(up.url, `http://127.0.0.1:${gw.port}`));
    });
  }

  it('uses the Host the client sent', async () => {
    const r = await ask('/api/products', `${up.url}/products/1`, { host: 'shop.example:8443' });
    expect(r.headers.location).toBe('http://shop.example:8443/api/products/1');
  });

  it("uses a trusted proxy's X-Forwarded-Proto and X-Forwarded-Host (the client's, first of a list)", async () => {
    const r = await ask('/api/products', `${up.url}/products/1`, { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example, edge.internal' });
    expect(r.headers.location).toBe('https://shop.example/api/products/1');
  });

  it('maps 201 Created with a Location', async () => {
    const r = await ask('/api/products', '/products/9', { 'x-status': '201' });
    expect(r.status).toBe(201);
    expect(r.headers.location).toBe('/api/products/9');
  });

  it('maps Content-Location, whatever the case of the field name', async () => {
    const r = await ask('/b/x', `${up.url}/v2/items/4`, { 'x-status': '200', 'x-field': 'CONTENT-LOCATION' });
    expect(r.headers['content-location']).toBe(`http://127.0.0.1:${gw.port}/b/items/4`);
  });
});

describe('rewrite.location config', () => {
  const doc = (rewrite: string) => `version: 1
listeners: [ { name: p, port: 0 } ]
upstreams:
  app: { targets: [ "http://127.0.0.1:1" ] }
routes:
  - name: r
    match: { path: /r/* }
    upstream: app
    rewrite:
${rewrite}`;
  const cases: { desc: string; rewrite: string; error?: RegExp }[] = [
    {
      desc: 'a path template is not invertible',
      rewrite: '      path: "/v2/{params.*}"\n      location: true',
      error: /^\/v\/gateway\.yaml:11 routes\[0\]\.rewrite\.location: location cannot be mapped back through rewrite\.path \(not invertible\)/m,
    },
    {
      desc: 'a regex replace is not invertible',
      rewrite: '      replace: { pattern: "^/r", with: /s }\n      location: true',
      error: /^\/v\/gateway\.yaml:11 routes\[0\]\.rewrite\.location: location cannot be mapped back through rewrite\.replace \(not invertible\)/m,
    },
    { desc: 'not a boolean', rewrite: '      location: yes-please', error: /^\/v\/gateway\.yaml:10 routes\[0\]\.rewrite\.location/m },
    { desc: 'nothing to invert is allowed', rewrite: '      location: true' },
    { desc: 'a path template without location is allowed', rewrite: '      path: "/v2/{params.*}"\n      location: false' },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const r = await loadConfig('/v/gateway.yaml', { text: doc(c.rewrite), env: {} });
      const errors = r.ok ? '' : r.issues.filter((i) => i.severity === 'error').map(formatIssue).join('\n');
      if (c.error === undefined) expect(errors).toBe('');
      else expect(errors).toMatch(c.error);
    });
  }
});
