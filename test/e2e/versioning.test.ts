import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { manualClock } from '../../src/store/clock.js';

/** Version matching (path, header, media type), deprecation headers and 410 after the sunset, per-version log field. */

describe('API versioning and deprecation', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  const clock = manualClock(Date.parse('2026-01-15T00:00:00Z'));

  beforeAll(async () => {
    up = await startUpstream();
    const s = (name: string) => `static: { status: 200, body: "${name}" }`;
    gw = await startGateway(
      `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
routes:
  - name: orders-v1
    match: { path: /orders/*, version: { is: "1", default: true } }
    ${s('v1')}
    policies:
      - deprecation:
          since: 2025-01-01T00:00:00Z
          sunset: 2026-06-30T00:00:00Z
          link: https://developer.example.com/deprecations/orders-v1
          successor: /orders
          goneAfterSunset: true
  - { name: orders-v2, match: { path: /orders/*, version: "2" }, ${s('v2')} }
  - { name: orders-v3, match: { path: /orders/*, version: { is: "3", sources: [media-type], vendor: acme } }, ${s('v3')} }
  - { name: path-v2, match: { pathRegex: "^/v2/.*", version: { is: "2", sources: [path] } }, ${s('path-v2')} }
  - { name: custom-header, match: { path: /custom, version: { is: "5", sources: [header], header: x-api-version } }, ${s('custom-5')} }
`,
      { clock },
    );
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const cases: { desc: string; path: string; headers?: Record<string, string>; want: number; body?: string }[] = [
    { desc: 'no version → the default route', path: '/orders/1', want: 200, body: 'v1' },
    { desc: 'Accept-Version: 2', path: '/orders/1', headers: { 'accept-version': '2' }, want: 200, body: 'v2' },
    { desc: 'Accept-Version: v2 (prefix v)', path: '/orders/1', headers: { 'accept-version': 'v2' }, want: 200, body: 'v2' },
    { desc: 'Accept-Version: 2.1 is served by 2', path: '/orders/1', headers: { 'accept-version': '2.1' }, want: 200, body: 'v2' },
    { desc: 'Accept-Version: 1 explicitly', path: '/orders/1', headers: { 'accept-version': '1' }, want: 200, body: 'v1' },
    { desc: 'vendor media type v2 (any vendor)', path: '/orders/1', headers: { accept: 'application/vnd.acme.v2+json' }, want: 200, body: 'v2' },
    { desc: 'vendor media type v3 for its vendor', path: '/orders/1', headers: { accept: 'text/html, application/vnd.acme.v3+json;q=0.9' }, want: 200, body: 'v3' },
    { desc: 'v3 of another vendor matches nothing', path: '/orders/1', headers: { accept: 'application/vnd.other.v3+json' }, want: 404 },
    { desc: 'unknown version → 404', path: '/orders/1', headers: { 'accept-version': '9' }, want: 404 },
    { desc: 'version in the path', path: '/v2/anything', want: 200, body: 'path-v2' },
    { desc: 'path version must match', path: '/v3/anything', want: 404 },
    { desc: 'custom version header', path: '/custom', headers: { 'x-api-version': '5' }, want: 200, body: 'custom-5' },
    { desc: 'custom header route ignores Accept-Version', path: '/custom', headers: { 'accept-version': '5' }, want: 404 },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const r = await httpRequest(gw.url + c.path, { headers: c.headers });
      expect(r.status).toBe(c.want);
      if (c.body) expect(r.text).toBe(c.body);
    });
  }

  it('deprecated routes carry Deprecation, Sunset and Link; others do not', async () => {
    const v1 = await httpRequest(gw.url + '/orders/1');
    expect(v1.headers.deprecation).toBe(`@${Date.parse('2025-01-01T00:00:00Z') / 1000}`);
    expect(v1.headers.sunset).toBe('Tue, 30 Jun 2026 00:00:00 GMT');
    expect(v1.headers.link).toBe('<https://developer.example.com/deprecations/orders-v1>; rel="deprecation", </orders>; rel="successor-version"');
    const v2 = await httpRequest(gw.url + '/orders/1', { headers: { 'accept-version': '2' } });
    expect(v2.headers.deprecation).toBeUndefined();
  });

  it('the access log names the version served', async () => {
    await httpRequest(gw.url + '/orders/77', { headers: { 'accept-version': '2' } });
    await httpRequest(gw.url + '/orders/78');
    const lines = gw.logs.filter((l) => l.msg === 'request' && String(l.path).startsWith('/orders/7'));
    expect(lines.map((l) => l.apiVersion)).toEqual(['2', '1']);
  });

  it('after the sunset: 410 Gone with the successor named, still with the headers', async () => {
    clock.advance(Date.parse('2026-07-01T00:00:00Z') - clock.now());
    const r = await httpRequest(gw.url + '/orders/1');
    expect(r.status).toBe(410);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(r.json<{ detail: string }>().detail).toMatch(/retired on 2026-06-30.*Use \/orders/);
    expect(r.headers.sunset).toBe('Tue, 30 Jun 2026 00:00:00 GMT');
    expect((await httpRequest(gw.url + '/orders/1', { headers: { 'accept-version': '2' } })).status).toBe(200);
  });

  it('rejects a bad version or date in config', async () => {
    await expect(startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
routes:
  - { name: bad, match: { path: /x, version: "two" }, static: { body: x } }
`)).rejects.toThrow(/routes\[0\]\.match\.version/);
    await expect(startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
routes:
  - { name: bad, match: { path: /x }, static: { body: x }, policies: [ { deprecation: { since: yesterday } } ] }
`)).rejects.toThrow(/deprecation\.since/);
  });
});
