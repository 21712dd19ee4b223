import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/** `POST /api/cache/purge` on the admin listener, end to end. */

const TOKEN = 'cache-admin-token-0123456789';

describe('admin cache purge', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let admin: string;
  const n = new Map<string, number>();

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      const c = (n.get(req.url!) ?? 0) + 1;
      n.set(req.url!, c);
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=300', 'surrogate-key': req.url!.includes('/a/') ? 'ta' : 'tb' });
      res.end(String(c));
    });
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: 0, token: "${TOKEN}" }
upstreams:
  up: { targets: [ "${up.url}" ] }
routes:
  - { name: items, match: { path: /items/* }, upstream: up, policies: [ { cache: { key: { host: false } } } ] }
`);
    admin = `http://127.0.0.1:${gw.gw.adminPort}`;
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const purge = (body: unknown, token = TOKEN) =>
    httpRequest(admin + '/api/cache/purge', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const get = async (p: string) => (await httpRequest(gw.url + p)).text;

  it('purges by key, prefix and tag', async () => {
    for (const p of ['/items/a/1', '/items/a/2', '/items/b/1', '/items/b/2']) await get(p);
    expect(await get('/items/a/1')).toBe('1');

    const k = await purge({ key: '/items/a/1' });
    expect(k.status).toBe(200);
    expect(k.json()).toMatchObject({ purged: 1 });
    expect(await get('/items/a/1')).toBe('2');
    expect(await get('/items/a/2')).toBe('1');

    expect((await purge({ tag: 'ta' })).json()).toMatchObject({ purged: 2 });
    expect(await get('/items/a/2')).toBe('2');
    expect(await get('/items/b/1')).toBe('1');

    expect((await purge({ prefix: '/items/b/', zone: 'items' })).json()).toMatchObject({ purged: 2 });
    expect(await get('/items/b/2')).toBe('2');
  });

  const bad: { desc: string; body: unknown }[] = [
    { desc: 'no selector', body: {} },
    { desc: 'two selectors', body: { key: '/a', tag: 'x' } },
    { desc: 'an empty key', body: { key: '' } },
    { desc: 'a non-string tag', body: { tag: 5 } },
    { desc: 'an unknown field', body: { prefix: '/', everything: true } },
    { desc: 'an array', body: ['/a'] },
  ];
  for (const c of bad) {
    it(`400 for ${c.desc}`, async () => {
      const r = await purge(c.body);
      expect(r.status).toBe(400);
      expect(r.headers['content-type']).toBe('application/problem+json');
    });
  }

  it('needs the admin token', async () => {
    expect((await purge({ tag: 'ta' }, 'wrong')).status).toBe(401);
  });
});
