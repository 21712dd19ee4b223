import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { hashApiKey } from '../../src/consumers/hash.js';
import { metrics } from '../../src/observability/metrics.js';

/** api-key, auth anyOf + anonymous, and identity propagation, over real sockets. */
describe('api-key', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  const KEY = 'gk_live_4bX9qLm2Vt8sPz';
  const OTHER = 'gk_live_other_key_0001';

  beforeAll(async () => {
    up = await startUpstream();
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
consumers:
  - { id: acme-mobile, tenant: acme, tier: premium, scopes: [orders:read, orders:write], apiKeys: ["${hashApiKey(KEY)}"] }
  - { id: other, apiKeys: ["${hashApiKey(OTHER)}"] }
  - { id: guest, tier: free }
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - { name: keyed, match: { path: /keyed/* }, upstream: echo, policies: [ { api-key: {} } ] }
  - { name: query, match: { path: /query/* }, upstream: echo, policies: [ { api-key: { query: api_key } } ] }
  - { name: shown, match: { path: /shown/* }, upstream: echo, policies: [ { api-key: { header: X-Key, hideCredentials: false, realm: shop } } ] }
  - { name: anon, match: { path: /anon/* }, upstream: echo, policies: [ { api-key: { anonymous: guest } } ] }
  - { name: any, match: { path: /any/* }, upstream: echo, policies: [ { auth: { anyOf: [ { api-key: { header: X-Key-A } }, { api-key: { header: X-Key-B } } ], anonymous: guest } } ] }
  - { name: open, match: { path: /open/* }, upstream: echo }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const cases: {
    desc: string;
    path: string;
    headers?: Record<string, string>;
    want: number;
    consumer?: string;
    upstream?: Record<string, string | undefined>;
    challenge?: RegExp;
    url?: string;
  }[] = [
    { desc: 'valid key', path: '/keyed/a', headers: { 'x-api-key': KEY }, want: 200, consumer: 'acme-mobile' },
    { desc: 'no key → 401 with a challenge', path: '/keyed/a', want: 401, challenge: /^ApiKey realm="gantry"$/ },
    { desc: 'key differing in the last character', path: '/keyed/a', headers: { 'x-api-key': KEY.slice(0, -1) + 'Y' }, want: 401 },
    { desc: 'key with a trailing space', path: '/keyed/a', headers: { 'x-api-key': KEY + ' x' }, want: 401 },
    { desc: 'the stored hash sent as the key', path: '/keyed/a', headers: { 'x-api-key': hashApiKey(KEY) }, want: 401 },
    { desc: 'empty key', path: '/keyed/a', headers: { 'x-api-key': '' }, want: 401 },
    { desc: 'very long key', path: '/keyed/a', headers: { 'x-api-key': 'k'.repeat(4000) }, want: 401 },
    { desc: 'key in the query is refused unless configured', path: `/keyed/a?api_key=${KEY}`, want: 401 },
    {
      desc: 'identity headers propagated, spoofed ones dropped',
      path: '/keyed/a',
      headers: { 'x-api-key': KEY, 'x-consumer-id': 'admin', 'X-Consumer-Tier': 'root', 'x-authenticated-userid': 'root' },
      want: 200,
      upstream: {
        'x-consumer-id': 'acme-mobile',
        'x-consumer-tenant': 'acme',
        'x-consumer-tier': 'premium',
        'x-authenticated-scopes': 'orders:read orders:write',
        'x-authenticated-userid': undefined,
        'x-api-key': undefined,
      },
    },
    { desc: 'key from the query, stripped before forwarding', path: `/query/a?x=1&api_key=${KEY}&y=2`, want: 200, consumer: 'acme-mobile', url: '/query/a?x=1&y=2' },
    { desc: 'header wins over the query', path: `/query/a?api_key=${KEY}`, headers: { 'x-api-key': OTHER }, want: 200, consumer: 'other' },
    { desc: 'custom header, credential kept', path: '/shown/a', headers: { 'x-key': KEY }, want: 200, upstream: { 'x-key': KEY } },
    { desc: 'custom realm in the challenge', path: '/shown/a', want: 401, challenge: /^ApiKey realm="shop"$/ },
    { desc: 'anonymous without a key', path: '/anon/a', want: 200, upstream: { 'x-consumer-id': 'guest', 'x-consumer-anonymous': 'true', 'x-consumer-tier': 'free' } },
    { desc: 'anonymous does not cover a wrong key', path: '/anon/a', headers: { 'x-api-key': 'nope' }, want: 401 },
    { desc: 'anonymous route with a valid key', path: '/anon/a', headers: { 'x-api-key': OTHER }, want: 200, consumer: 'other', upstream: { 'x-consumer-anonymous': undefined } },
    { desc: 'anyOf: second scheme', path: '/any/a', headers: { 'x-key-b': OTHER }, want: 200, consumer: 'other' },
    { desc: 'anyOf: a bad first credential, a good second one', path: '/any/a', headers: { 'x-key-a': 'bad', 'x-key-b': KEY }, want: 200, consumer: 'acme-mobile' },
    { desc: 'anyOf: only a bad credential', path: '/any/a', headers: { 'x-key-a': 'bad' }, want: 401 },
    { desc: 'anyOf: none → anonymous', path: '/any/a', want: 200, consumer: 'guest' },
    {
      desc: 'spoofed identity headers dropped on a route without auth',
      path: '/open/a',
      headers: { 'x-consumer-id': 'admin', 'x-consumer-tenant': 'acme', 'x-authenticated-scopes': 'admin' },
      want: 200,
      upstream: { 'x-consumer-id': undefined, 'x-consumer-tenant': undefined, 'x-authenticated-scopes': undefined },
    },
  ];

  for (const c of cases) {
    it(c.desc, async () => {
      const before = up.seen.length;
      const res = await httpRequest(gw.url + c.path, { headers: c.headers });
      expect(res.status, res.text).toBe(c.want);
      if (c.want === 401) {
        expect(up.seen.length).toBe(before);
        expect(res.headers['content-type']).toBe('application/problem+json');
        expect(res.json()).toMatchObject({ status: 401, detail: expect.any(String) });
        expect(res.headers['www-authenticate']).toBeDefined();
      }
      if (c.challenge) expect(res.headers['www-authenticate']).toMatch(c.challenge);
      const seen = up.seen[up.seen.length - 1]!;
      if (c.consumer) expect(seen.headers['x-consumer-id']).toBe(c.consumer);
      if (c.url) expect(seen.url).toBe(c.url);
      for (const [k, v] of Object.entries(c.upstream ?? {})) expect(seen.headers[k], k).toBe(v);
    });
  }

  it('counts outcomes in gantry_auth_decisions_total', async () => {
    const series = (result: string) => metrics.auth.series('keyed', 'api-key', result);
    const before = ['accepted', 'invalid', 'missing'].map((r) => series(r).value);
    await httpRequest(gw.url + '/keyed/m', { headers: { 'x-api-key': KEY } });
    await httpRequest(gw.url + '/keyed/m', { headers: { 'x-api-key': 'wrong' } });
    await httpRequest(gw.url + '/keyed/m');
    expect(['accepted', 'invalid', 'missing'].map((r, i) => series(r).value - before[i]!)).toEqual([1, 1, 1]);
    expect(await metrics.text()).toMatch(/gantry_auth_decisions_total\{route="keyed",policy="api-key",result="accepted"\} \d+/);
  });

  it('logs the consumer in the access log', async () => {
    await httpRequest(gw.url + '/keyed/log', { headers: { 'x-api-key': KEY } });
    const line = gw.logs.find((l) => l.path === '/keyed/log');
    expect(line).toMatchObject({ consumer: 'acme-mobile', tenant: 'acme' });
  });
});
