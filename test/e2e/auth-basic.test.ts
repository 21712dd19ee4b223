import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { hashApiKey, hashPassword } from '../../src/consumers/hash.js';

/** basic-auth and basic-auth inside auth anyOf, over real sockets. */
describe('basic-auth', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  const basic = (s: string) => ({ authorization: `Basic ${Buffer.from(s).toString('base64')}` });

  beforeAll(async () => {
    up = await startUpstream();
    const fast = { N: 1024, r: 8, p: 1 };
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
consumers:
  - { id: ops, tenant: internal, scopes: [admin], basicAuth: [ { username: ops, password: "${hashPassword('s3cret:with:colons', fast)}" } ] }
  - { id: emilie, basicAuth: [ { username: émilie, password: "${hashPassword('pässwörd', fast)}" } ], apiKeys: [ "${hashApiKey('emilie-key')}" ] }
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - { name: basic, match: { path: /basic/* }, upstream: echo, policies: [ { basic-auth: { realm: admin } } ] }
  - { name: nocache, match: { path: /nocache/* }, upstream: echo, policies: [ { basic-auth: { cacheTtl: 0, hideCredentials: false } } ] }
  - { name: either, match: { path: /either/* }, upstream: echo, policies: [ { auth: { anyOf: [ { basic-auth: {} }, { api-key: {} } ] } } ] }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const cases: { desc: string; path?: string; headers?: Record<string, string>; want: number; consumer?: string; upstreamAuth?: string | null }[] = [
    { desc: 'right password (colons allowed in it)', headers: basic('ops:s3cret:with:colons'), want: 200, consumer: 'ops', upstreamAuth: null },
    { desc: 'UTF-8 user and password', headers: basic('émilie:pässwörd'), want: 200, consumer: 'emilie' },
    { desc: 'wrong password', headers: basic('ops:s3cret:with:colonz'), want: 401 },
    { desc: 'unknown user', headers: basic('root:s3cret:with:colons'), want: 401 },
    { desc: 'no colon', headers: basic('ops'), want: 401 },
    { desc: 'empty user', headers: basic(':x'), want: 401 },
    { desc: 'not base64', headers: { authorization: 'Basic !!!' }, want: 401 },
    { desc: 'no credential', want: 401 },
    { desc: 'scheme is case-insensitive', headers: { authorization: `basic ${Buffer.from('ops:s3cret:with:colons').toString('base64')}` }, want: 200 },
    { desc: 'without cache, credential kept for upstream', path: '/nocache/a', headers: basic('ops:s3cret:with:colons'), want: 200, upstreamAuth: `Basic ${Buffer.from('ops:s3cret:with:colons').toString('base64')}` },
    { desc: 'without cache, wrong password', path: '/nocache/a', headers: basic('ops:nope'), want: 401 },
    { desc: 'anyOf: api key', path: '/either/a', headers: { 'x-api-key': 'emilie-key' }, want: 200, consumer: 'emilie' },
    { desc: 'anyOf: basic', path: '/either/a', headers: basic('ops:s3cret:with:colons'), want: 200, consumer: 'ops' },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const before = up.seen.length;
      const res = await httpRequest(gw.url + (c.path ?? '/basic/a'), { headers: c.headers });
      expect(res.status, res.text).toBe(c.want);
      if (c.want === 401) {
        expect(up.seen.length).toBe(before);
        if (!c.path) expect(res.headers['www-authenticate']).toBe('Basic realm="admin", charset="UTF-8"');
      }
      const seen = up.seen[up.seen.length - 1]!;
      if (c.consumer) expect(seen.headers['x-consumer-id']).toBe(c.consumer);
      if (c.upstreamAuth !== undefined) expect(seen.headers.authorization ?? null).toBe(c.upstreamAuth);
    });
  }

  it('anyOf: challenges for every scheme when nothing was sent', async () => {
    const res = await httpRequest(gw.url + '/either/a');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Basic realm="gantry", charset="UTF-8", ApiKey realm="gantry"');
  });
});
