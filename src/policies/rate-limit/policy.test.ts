import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, startGateway, type TestGateway } from '../../../test/helpers.js';
import { burst, statusCounts } from '../../../test/limits.js';
import { loadConfig } from '../../config/load.js';
import { formatIssue } from '../../config/source.js';
import { hashApiKey } from '../../consumers/hash.js';

/** rate-limit on the memory store: headers, 429 bodies, keys, several policies, tiers, tenants. */
describe('rate-limit policy', () => {
  let gw: TestGateway;
  const route = (name: string, policies: string, extra = '') =>
    `  - name: ${name}\n    match: { path: /${name} }\n    static: { body: ok }\n${extra}    policies:\n${policies}`;
  beforeAll(async () => {
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
tiers:
  premium: { limits: { per-consumer: { limit: 5 }, rated: { rate: 1/h, burst: 3 } } }
consumers:
  - { id: alice, tenant: acme, tier: premium, apiKeys: ["${hashApiKey('key-alice')}"] }
  - { id: bob, tenant: acme, apiKeys: ["${hashApiKey('key-bob')}"] }
  - { id: carol, tenant: globex, apiKeys: ["${hashApiKey('key-carol')}"] }
routes:
${route('fixed', '      - rate-limit: { name: f, algorithm: fixed-window, limit: 3, window: 1h }\n')}
${route('two', '      - rate-limit: { name: burst, algorithm: gcra, rate: 1/s, burst: 4 }\n      - rate-limit: { name: hourly, algorithm: fixed-window, limit: 2, window: 1h }\n')}
${route('by-header', '      - rate-limit: { algorithm: fixed-window, limit: 2, window: 1h, by: header:X-Client }\n')}
${route('composite', '      - rate-limit: { algorithm: token-bucket, limit: 1, window: 1h, by: [header:X-A, header:X-B] }\n')}
${route('cost', '      - rate-limit: { algorithm: sliding-window, limit: 5, window: 1h, cost: 2 }\n')}
${route('quiet', '      - rate-limit: { algorithm: fixed-window, limit: 1, window: 1h, headers: false }\n')}
${route('consumer', '      - api-key: {}\n      - rate-limit: { name: per-consumer, algorithm: fixed-window, limit: 2, window: 1h, by: consumer }\n')}
${route('rated', '      - api-key: {}\n      - rate-limit: { name: rated, algorithm: gcra, rate: 1/h, burst: 1, by: consumer }\n')}
${route('tenant', '      - api-key: {}\n      - rate-limit: { name: per-tenant, algorithm: gcra, limit: 3, window: 1h, by: tenant }\n')}
`);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('answers within the limit with IETF and legacy headers', async () => {
    const r = await httpRequest(`${gw.url}/fixed`);
    expect(r.status).toBe(200);
    expect(r.headers['ratelimit-policy']).toBe('"f";q=3;w=3600');
    expect(r.headers['ratelimit']).toMatch(/^"f";r=2;t=\d+$/);
    expect(Number(/t=(\d+)/.exec(r.headers['ratelimit'] as string)![1])).toBeGreaterThanOrEqual(1);
    expect(Number(/t=(\d+)/.exec(r.headers['ratelimit'] as string)![1])).toBeLessThanOrEqual(3600);
    expect(r.headers['x-ratelimit-limit']).toBe('3');
    expect(r.headers['x-ratelimit-remaining']).toBe('2');
    expect(Number(r.headers['x-ratelimit-reset'])).toBeGreaterThan(0);
  });

  it('refuses past the limit with 429 problem+json naming the policy and Retry-After', async () => {
    // A one-hour window: the first test's request and this burst fall in the same window
    // (wall-clock aligned) however slowly the machine runs.
    await burst(`${gw.url}/fixed`, 2);
    const r = await httpRequest(`${gw.url}/fixed`);
    expect(r.status).toBe(429);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(r.headers['ratelimit']).toMatch(/^"f";r=0;t=\d+$/);
    expect(r.json()).toMatchObject({ status: 429, policy: 'f', type: expect.stringContaining('rate-limited'), instance: '/fixed', requestId: expect.any(String) });
    expect(String(r.json().detail)).toContain("'f' (3 per 3600s)");
  });

  it('applies every rate-limit policy of a route; legacy headers show the tightest', async () => {
    const a = await httpRequest(`${gw.url}/two`);
    expect(a.status).toBe(200);
    expect(a.headers['ratelimit-policy']).toBe('"burst";q=4;w=4, "hourly";q=2;w=3600');
    expect(a.headers['ratelimit']).toMatch(/^"burst";r=3;t=\d+, "hourly";r=1;t=\d+$/);
    expect(a.headers['x-ratelimit-limit']).toBe('2');
    expect(a.headers['x-ratelimit-remaining']).toBe('1');
    const rest = statusCounts(await burst(`${gw.url}/two`, 3));
    // The burst would allow 3 more; the hourly limit allows 1.
    expect(rest).toEqual({ 200: 1, 429: 2 });
  });

  it('keys by header and by composite keys', async () => {
    expect(statusCounts(await burst(`${gw.url}/by-header`, 4, { 'x-client': 'one' }))).toEqual({ 200: 2, 429: 2 });
    expect(statusCounts(await burst(`${gw.url}/by-header`, 2, { 'x-client': 'two' }))).toEqual({ 200: 2 });
    expect((await httpRequest(`${gw.url}/composite`, { headers: { 'x-a': '1', 'x-b': '1' } })).status).toBe(200);
    expect((await httpRequest(`${gw.url}/composite`, { headers: { 'x-a': '1', 'x-b': '1' } })).status).toBe(429);
    expect((await httpRequest(`${gw.url}/composite`, { headers: { 'x-a': '1', 'x-b': '2' } })).status).toBe(200);
    expect((await httpRequest(`${gw.url}/composite`, { headers: { 'x-a': '2', 'x-b': '1' } })).status).toBe(200);
  });

  it('takes `cost` units per request', async () => {
    expect(statusCounts(await burst(`${gw.url}/cost`, 4))).toEqual({ 200: 2, 429: 2 });
  });

  it('sends no limit headers with headers: false, but still limits', async () => {
    const a = await httpRequest(`${gw.url}/quiet`);
    expect(a.status).toBe(200);
    expect(a.headers['ratelimit']).toBeUndefined();
    expect(a.headers['x-ratelimit-limit']).toBeUndefined();
    expect((await httpRequest(`${gw.url}/quiet`)).status).toBe(429);
  });

  it("a consumer's tier replaces the limit of the policy it names", async () => {
    const alice = statusCounts(await burst(`${gw.url}/consumer`, 7, { 'x-api-key': 'key-alice' }));
    const bob = statusCounts(await burst(`${gw.url}/consumer`, 4, { 'x-api-key': 'key-bob' }));
    expect(alice).toEqual({ 200: 5, 429: 2 });
    expect(bob).toEqual({ 200: 2, 429: 2 });
  });

  it("a tier's rate replaces the rate of a GCRA policy, with no limit of its own", async () => {
    expect(statusCounts(await burst(`${gw.url}/rated`, 4, { 'x-api-key': 'key-alice' }))).toEqual({ 200: 3, 429: 1 });
    expect(statusCounts(await burst(`${gw.url}/rated`, 2, { 'x-api-key': 'key-bob' }))).toEqual({ 200: 1, 429: 1 });
  });

  it('by: tenant aggregates over every consumer of the tenant', async () => {
    const both = await Promise.all([
      burst(`${gw.url}/tenant`, 3, { 'x-api-key': 'key-alice' }),
      burst(`${gw.url}/tenant`, 3, { 'x-api-key': 'key-bob' }),
    ]);
    expect(statusCounts(both.flat())).toEqual({ 200: 3, 429: 3 });
    expect(statusCounts(await burst(`${gw.url}/tenant`, 3, { 'x-api-key': 'key-carol' }))).toEqual({ 200: 3 });
  });
});

describe('rate-limit config', () => {
  const cfg = (policy: string, extra = '') => `version: 1
listeners: [ { name: public, port: 0 } ]
${extra}routes:
  - name: r
    match: { path: / }
    static: { body: ok }
    policies:
      - rate-limit: ${policy}
`;
  const cases: { desc: string; policy: string; extra?: string; error?: RegExp }[] = [
    { desc: 'sliding window (default algorithm)', policy: '{ limit: 10, window: 1s }' },
    { desc: 'gcra with rate and burst', policy: '{ algorithm: gcra, rate: 10/s, burst: 20, by: [consumer, route] }' },
    { desc: 'token bucket with limit and window', policy: '{ algorithm: token-bucket, limit: 600, window: 1m }' },
    { desc: 'lease mode', policy: '{ limit: 1000, window: 1m, mode: lease, lease: 20 }' },
    { desc: 'window without limit', policy: '{ window: 1s }', error: /gateway\.yaml:8 routes\[0\]\.policies\[0\]\.rate-limit: sliding-window needs limit and window/ },
    { desc: 'rate on a window algorithm', policy: '{ algorithm: fixed-window, rate: 10/s }', error: /rate-limit: rate applies to token-bucket and gcra/ },
    { desc: 'both rate and limit', policy: '{ algorithm: gcra, rate: 10/s, limit: 5, window: 1s }', error: /use either rate or limit \+ window/ },
    { desc: 'malformed rate', policy: '{ algorithm: gcra, rate: ten }', error: /rate-limit\.rate: must match/ },
    { desc: 'unknown key part', policy: '{ limit: 1, window: 1s, by: cookie }', error: /rate-limit\.by: must match/ },
    { desc: 'zero limit', policy: '{ limit: 0, window: 1s }', error: /rate-limit\.limit: must be >= 1/ },
    { desc: 'unknown option', policy: '{ limit: 1, window: 1s, windw: 2s }', error: /rate-limit\.windw: unknown key 'windw'/ },
    { desc: 'bad onStoreError', policy: '{ limit: 1, window: 1s, onStoreError: ignore }', error: /onStoreError: must be one of: "allow", "deny"/ },
    {
      desc: 'tier naming no policy',
      policy: '{ name: per-second, limit: 1, window: 1s }',
      extra: 'tiers:\n  gold: { limits: { per-secnd: { limit: 5 } } }\n',
      error: /gateway\.yaml:\d+ tiers\.gold\.limits\.per-secnd: no rate-limit or quota policy is named 'per-secnd' \(did you mean 'per-second'\?\)/,
    },
    {
      desc: 'tier with a rate for a window policy',
      policy: '{ name: w, limit: 1, window: 1s }',
      extra: 'tiers:\n  gold: { limits: { w: { limit: 5, rate: 5/s } } }\n',
      error: /tiers\.gold\.limits\.w: rate applies to token-bucket and gcra/,
    },
    {
      desc: 'tier with only a rate for a gcra policy',
      policy: '{ name: g, algorithm: gcra, rate: 10/s, burst: 20 }',
      extra: 'tiers:\n  gold: { limits: { g: { rate: 100/s, burst: 200 } } }\n',
    },
    {
      desc: 'tier with neither limit nor rate',
      policy: '{ name: g, algorithm: gcra, rate: 10/s, burst: 20 }',
      extra: 'tiers:\n  gold: { limits: { g: { burst: 200 } } }\n',
      error: /gateway\.yaml:4 tiers\.gold\.limits\.g: a tier limit needs 'limit' \(or 'rate' for a token-bucket or GCRA policy\)/,
    },
    {
      desc: 'quota tier without a limit',
      policy: '{ name: g, algorithm: gcra, rate: 10/s, burst: 20 }',
      extra: 'policies:\n  - quota: { name: monthly, limit: 100, period: month }\ntiers:\n  gold: { limits: { monthly: { rate: 100/s } } }\n',
      error: /gateway\.yaml:6 tiers\.gold\.limits\.monthly: 'monthly' is a quota: its tier limit needs 'limit'/,
    },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const r = await loadConfig('/tmp/gateway.yaml', { text: cfg(c.policy, c.extra) });
      if (!c.error) {
        expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([]);
        return;
      }
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues.map(formatIssue).join('\n')).toMatch(c.error);
    });
  }
});
