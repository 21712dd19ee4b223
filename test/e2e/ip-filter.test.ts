import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * ip-filter over real sockets: a direct client (127.0.0.1, and ::1 / ::ffff:127.0.0.1 on a
 * dual-stack listener), and forwarded clients through a trusted proxy (X-Forwarded-For).
 */
describe('ip-filter', () => {
  let up: TestUpstream;
  let direct: TestGateway;
  let proxied: TestGateway;
  const routes = `upstreams: { echo: { targets: [ "UP" ] } }
routes:
  - { name: local, match: { path: /local }, upstream: echo, policies: [ { ip-filter: { allow: [127.0.0.0/8, "::1"] } } ] }
  - { name: office, match: { path: /office }, upstream: echo, policies: [ { ip-filter: { allow: [10.0.0.0/8] } } ] }
  - { name: blocked, match: { path: /blocked }, upstream: echo, policies: [ { ip-filter: { deny: [127.0.0.1, "::1", 10.6.6.0/24] } } ] }
  - { name: hidden, match: { path: /hidden }, upstream: echo, policies: [ { ip-filter: { deny: [127.0.0.0/8, "::1"], status: 404 } } ] }
  - { name: deny-wins, match: { path: /deny-wins }, upstream: echo, policies: [ { ip-filter: { allow: [127.0.0.0/8, 10.0.0.0/8], deny: [127.0.0.1/32, 10.6.0.0/16] } } ] }
  - { name: v6, match: { path: /v6 }, upstream: echo, policies: [ { ip-filter: { allow: ["2001:db8::/32"] } } ] }
`;

  beforeAll(async () => {
    up = await startUpstream();
    const body = routes.replace('UP', up.url);
    direct = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 }, { name: dual, port: 0, host: "::" } ]
${body}`);
    proxied = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
server: { trustedProxies: [127.0.0.1] }
${body}`);
  });
  afterAll(async () => {
    await direct?.close();
    await proxied?.close();
    await up?.close();
  });

  const cases: { desc: string; gw: () => string; path: string; xff?: string; want: number; detail?: RegExp }[] = [
    { desc: 'a direct client in the allow list', gw: () => direct.url, path: '/local', want: 200 },
    { desc: 'a direct client outside the allow list', gw: () => direct.url, path: '/office', want: 403, detail: /127\.0\.0\.1 is not in the allow list/ },
    { desc: 'a direct client claiming an allowed address in X-Forwarded-For (no trusted proxy: ignored)', gw: () => direct.url, path: '/office', xff: '10.1.2.3', want: 403, detail: /127\.0\.0\.1/ },
    { desc: 'a direct client in the deny list', gw: () => direct.url, path: '/blocked', want: 403, detail: /127\.0\.0\.1 is denied/ },
    { desc: 'a refusal with its status overridden', gw: () => direct.url, path: '/hidden', want: 404 },
    { desc: 'deny wins over allow', gw: () => direct.url, path: '/deny-wins', want: 403, detail: /denied/ },
    { desc: 'an IPv4 client against an IPv6-only allow list', gw: () => direct.url, path: '/v6', want: 403 },
    { desc: 'IPv4-mapped (::ffff:127.0.0.1 on a dual-stack listener) matches IPv4 allow rules', gw: () => `http://127.0.0.1:${direct.gw.port('dual')}`, path: '/local', want: 200 },
    { desc: 'IPv4-mapped matches IPv4 deny rules', gw: () => `http://127.0.0.1:${direct.gw.port('dual')}`, path: '/blocked', want: 403, detail: /::ffff:127\.0\.0\.1 is denied/ },
    { desc: 'an IPv6 client (::1) in the allow list', gw: () => `http://[::1]:${direct.gw.port('dual')}`, path: '/local', want: 200 },
    { desc: 'an IPv6 client (::1) in the deny list', gw: () => `http://[::1]:${direct.gw.port('dual')}`, path: '/blocked', want: 403, detail: /::1 is denied/ },
    { desc: 'an IPv6 client outside an IPv6 allow list', gw: () => `http://[::1]:${direct.gw.port('dual')}`, path: '/v6', want: 403 },
    { desc: 'trusted proxy: the forwarded client is judged, not the proxy', gw: () => proxied.url, path: '/office', xff: '10.1.2.3', want: 200 },
    { desc: 'trusted proxy: a forwarded client outside the allow list', gw: () => proxied.url, path: '/office', xff: '198.51.100.7', want: 403, detail: /198\.51\.100\.7 is not in the allow list/ },
    { desc: 'trusted proxy: a spoofed hop before the real client is not believed', gw: () => proxied.url, path: '/office', xff: '10.1.2.3, 198.51.100.7', want: 403, detail: /198\.51\.100\.7/ },
    { desc: 'trusted proxy: a forwarded client in a deny list', gw: () => proxied.url, path: '/blocked', xff: '10.6.6.20', want: 403, detail: /10\.6\.6\.20 is denied/ },
    { desc: 'trusted proxy: the proxy itself is denied but its client is not', gw: () => proxied.url, path: '/blocked', xff: '10.1.2.3', want: 200 },
    { desc: 'trusted proxy: deny wins for a forwarded client', gw: () => proxied.url, path: '/deny-wins', xff: '10.6.1.1', want: 403, detail: /10\.6\.1\.1 is denied/ },
    { desc: 'trusted proxy: a forwarded IPv6 client', gw: () => proxied.url, path: '/v6', xff: '2001:db8::42', want: 200 },
    { desc: 'trusted proxy: a forwarded hop with a port is judged by its address', gw: () => proxied.url, path: '/office', xff: '10.1.2.3:5000', want: 200 },
    { desc: 'trusted proxy: a bracketed IPv6 hop with a port is judged by its address', gw: () => proxied.url, path: '/v6', xff: '[2001:db8::42]:443', want: 200 },
    { desc: 'trusted proxy: a trusted hop with a port is skipped like one without', gw: () => proxied.url, path: '/office', xff: '198.51.100.7, 127.0.0.1:3456', want: 403, detail: /198\.51\.100\.7 is not in the allow list/ },
    { desc: 'trusted proxy: a forwarded hop that is not an address is refused', gw: () => proxied.url, path: '/blocked', xff: 'unknown', want: 403, detail: /could not be read/ },
  ];

  for (const c of cases) {
    it(`${c.desc} → ${c.want}`, async () => {
      const before = up.seen.length;
      const r = await httpRequest(`${c.gw()}${c.path}`, { headers: c.xff ? { 'x-forwarded-for': c.xff } : {} });
      expect(r.status).toBe(c.want);
      if (c.want === 200) {
        expect(up.seen.length).toBe(before + 1);
        return;
      }
      // Refused before the upstream: it saw nothing.
      expect(up.seen.length).toBe(before);
      expect(r.headers['content-type']).toBe('application/problem+json');
      const p = r.json();
      expect(p).toMatchObject({ type: 'https://gantry.dev/problems/ip-forbidden', status: c.want, instance: c.path });
      expect(typeof p.requestId).toBe('string');
      if (c.detail) expect(p.detail).toMatch(c.detail);
    });
  }
});
