import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { hashApiKey, hashPassword } from '../../src/consumers/hash.js';
import { loadConfig } from '../../src/config/load.js';

/**
 * Policies attach globally, to an upstream, to a route and to a consumer (DESIGN "Policy").
 * Each policy below appends its own mark to `X-Trail` on the way up and to `X-Back` on the
 * way down, so the upstream and the client see which policies ran, and in which order.
 */
const mark = (m: string) => `{ headers: { request: { add: { x-trail: ${m} } }, response: { add: { x-back: ${m} } } } }`;
const ALICE = 'gk_live_alice_0123456789';
const BOB = 'gk_live_bob_0123456789';

describe('policy scopes: global, upstream, route, consumer', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    a = await startUpstream();
    b = await startUpstream();
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
policies: [ ${mark('global')} ]
consumers:
  - id: alice
    apiKeys: [ "${hashApiKey(ALICE)}" ]
    policies:
      - ${mark('alice')}
      - rate-limit: { limit: 2, window: 1m, by: consumer }
  - id: bob
    apiKeys: [ "${hashApiKey(BOB)}" ]
  - id: carol
    basicAuth: [ { username: carol, password: "${hashPassword('s3cret')}" } ]
    policies: [ ${mark('carol')} ]
upstreams:
  a:
    targets: [ "${a.url}" ]
    policies:
      - ${mark('upstream-a')}
      - rate-limit: { limit: 5, window: 1m, by: ip }
  b: { targets: [ "${b.url}" ] }
routes:
  - { name: a1, match: { path: /a1 }, upstream: a, policies: [ ${mark('route-a1')} ] }
  - { name: a2, match: { path: /a2 }, upstream: a }
  - { name: b1, match: { path: /b1 }, upstream: b, policies: [ ${mark('route-b1')} ] }
  - name: keyed
    match: { path: /keyed/* }
    upstream: b
    policies: [ ${mark('before-auth')}, { api-key: {} }, ${mark('after-auth')} ]
  - name: basic
    match: { path: /basic }
    upstream: b
    policies: [ ${mark('before-auth')}, { basic-auth: {} }, ${mark('after-auth')} ]
  - { name: static, match: { path: /static }, static: { body: ok }, policies: [ { api-key: {} } ] }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await a?.close();
    await b?.close();
  });

  const trailSeen = (up: TestUpstream) => up.seen.at(-1)!.headers['x-trail'];

  it('runs global, then upstream, then route policies; the response phase in the same order', async () => {
    const r = await httpRequest(`${gw.url}/a1`);
    expect(r.status).toBe(200);
    expect(trailSeen(a)).toBe('global, upstream-a, route-a1');
    expect(r.headers['x-back']).toBe('global, upstream-a, route-a1');
    const other = await httpRequest(`${gw.url}/b1`);
    expect(trailSeen(b)).toBe('global, route-b1');
    expect(other.headers['x-back']).toBe('global, route-b1');
  });

  it("shares one instance of an upstream's policies across the routes that target it", async () => {
    // a1 used one of upstream a's 5 requests above; a2 and a1 draw on the same limit.
    const statuses: number[] = [];
    for (const path of ['/a2', '/a1', '/a2', '/a1', '/a2']) statuses.push((await httpRequest(`${gw.url}${path}`)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
    // Upstream b's routes are not limited by upstream a's policy.
    expect((await httpRequest(`${gw.url}/b1`)).status).toBe(200);
  });

  it("joins a consumer's policies right after the policy that identified it", async () => {
    const r = await httpRequest(`${gw.url}/keyed/x`, { headers: { 'x-api-key': ALICE } });
    expect(r.status).toBe(200);
    expect(trailSeen(b)).toBe('global, before-auth, alice, after-auth');
    expect(r.headers['x-back']).toBe('global, before-auth, alice, after-auth');

    const other = await httpRequest(`${gw.url}/keyed/x`, { headers: { 'x-api-key': BOB } });
    expect(other.status).toBe(200);
    expect(trailSeen(b)).toBe('global, before-auth, after-auth');
    expect(other.headers['x-back']).toBe('global, before-auth, after-auth');

    const anonymous = await httpRequest(`${gw.url}/keyed/x`);
    expect(anonymous.status).toBe(401);
    // A reply from the request phase goes through every response hook of the route; no consumer joined.
    expect(anonymous.headers['x-back']).toBe('global, before-auth, after-auth');
  });

  it('joins after an asynchronous authentication (basic-auth) too', async () => {
    const auth = `Basic ${Buffer.from('carol:s3cret').toString('base64')}`;
    const r = await httpRequest(`${gw.url}/basic`, { headers: { authorization: auth } });
    expect(r.status).toBe(200);
    expect(trailSeen(b)).toBe('global, before-auth, carol, after-auth');
    expect(r.headers['x-back']).toBe('global, before-auth, carol, after-auth');
  });

  it("a consumer's rate limit is its own, across routes and targets", async () => {
    // Alice made one request above; her limit is 2 a minute wherever she goes.
    expect((await httpRequest(`${gw.url}/static`, { headers: { 'x-api-key': ALICE } })).status).toBe(200);
    const before = b.seen.length;
    const limited = await httpRequest(`${gw.url}/keyed/y`, { headers: { 'x-api-key': ALICE } });
    expect(limited.status).toBe(429);
    // The 429 still goes through the joined pipeline's response hooks.
    expect(limited.headers['x-back']).toBe('global, before-auth, alice, after-auth');
    expect(b.seen.length).toBe(before); // the limited request never went upstream
    expect((await httpRequest(`${gw.url}/keyed/y`, { headers: { 'x-api-key': BOB } })).status).toBe(200);
  });
});

describe('policy scopes: config', () => {
  const base = `version: 1
listeners: [ { name: public, port: 0 } ]
`;
  it.each([
    {
      desc: 'unknown policy on an upstream',
      yaml: `${base}upstreams:\n  u:\n    targets: [ "http://127.0.0.1:1" ]\n    policies:\n      - rate-limt: { limit: 1 }\n`,
      want: { line: 7, path: /^upstreams\.u\.policies\[0\]\.rate-limt$/, message: /unknown policy 'rate-limt'/ },
    },
    {
      desc: "a consumer policy's settings checked against its schema",
      yaml: `${base}consumers:\n  - id: c\n    policies:\n      - rate-limit: { limit: -1, window: 1m }\n`,
      want: { line: 6, path: /^consumers\[0\]\.policies\[0\]\.rate-limit\.limit$/, message: /must be >= 1/ },
    },
    {
      desc: 'a consumer policy list that is not a list',
      yaml: `${base}consumers:\n  - id: c\n    policies: { headers: {} }\n`,
      want: { line: 5, path: /^consumers\[0\]\.policies$/, message: /must be a list/ },
    },
  ])('$desc', async ({ yaml, want }) => {
    const r = await loadConfig('/v/gateway.yaml', { text: yaml, env: {} });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const issue = r.issues.find((i) => want.path.test(i.path));
    expect(issue, JSON.stringify(r.issues)).toBeDefined();
    expect(issue!.line).toBe(want.line);
    expect(issue!.message).toMatch(want.message);
  });
});
