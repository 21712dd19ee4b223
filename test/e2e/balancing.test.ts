import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { startGateway, startUpstream, sleep, type TestGateway, type TestUpstream } from '../helpers.js';
import { load, tally } from '../load.js';

/** Every upstream answers its own name, so the body says which target served a request. */
async function named(n: number, delayMs: (i: number) => number = () => 0): Promise<TestUpstream[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      startUpstream((_req, res) => {
        const send = () => res.end(`t${i}`);
        const d = delayMs(i);
        if (d > 0) setTimeout(send, d);
        else send();
      }),
    ),
  );
}

describe('balancers over real upstreams', () => {
  let ups: TestUpstream[] = [];
  let gw: TestGateway;

  beforeAll(async () => {
    ups = await named(5, (i) => (i === 4 ? 200 : 0));
    const [a, b, c, d, slow] = ups.map((u) => u.url);
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  weighted:
    balance: weighted
    targets: [ { url: "${a}", weight: 5 }, { url: "${b}", weight: 3 }, { url: "${c}", weight: 2 } ]
  rr: { targets: [ "${a}", "${b}", "${c}" ] }
  least: { balance: least-connections, targets: [ "${a}", "${b}" ] }
  p2c: { balance: p2c-ewma, targets: [ "${a}", "${b}", "${slow}" ] }
  hashed: { balance: consistent-hash, hashOn: "header:x-user", targets: [ "${a}", "${b}", "${c}", "${d}" ] }
  sticky: { sticky: { cookie: pin }, targets: [ "${a}", "${b}", "${c}" ] }
routes:
  - { name: weighted, match: { path: /w }, upstream: weighted }
  - { name: rr, match: { path: /rr }, upstream: rr }
  - { name: least, match: { path: /lc }, upstream: least }
  - { name: p2c, match: { path: /p2c }, upstream: p2c }
  - { name: hashed, match: { path: /h }, upstream: hashed }
  - { name: sticky, match: { path: /s }, upstream: sticky }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all(ups.map((u) => u.close()));
  });

  it('weighted: 10k requests split 5:3:2 within 5%', { timeout: 120_000 }, async () => {
    const res = await load(gw.url, 10_000, { path: '/w', concurrency: 64 });
    expect(res.every((r) => r.status === 200)).toBe(true);
    const t = tally(res.map((r) => r.body));
    for (const [name, share] of [['t0', 0.5], ['t1', 0.3], ['t2', 0.2]] as const) {
      expect(Math.abs((t.get(name) ?? 0) / 10_000 - share)).toBeLessThan(0.05 * share);
    }
  });

  it('round-robin: an even spread', async () => {
    const res = await load(gw.url, 900, { path: '/rr', concurrency: 8 });
    for (const n of tally(res.map((r) => r.body)).values()) expect(Math.abs(n - 300)).toBeLessThan(20);
  });

  it('least-connections: both targets serve', async () => {
    const res = await load(gw.url, 1000, { path: '/lc', concurrency: 8 });
    const t = tally(res.map((r) => r.body));
    expect(t.get('t0')! + t.get('t1')!).toBe(1000);
    expect(Math.min(t.get('t0')!, t.get('t1')!)).toBeGreaterThan(250);
  });

  it('p2c-ewma: a 200 ms-slow target gets under 20% of the traffic', async () => {
    const res = await load(gw.url, 3000, { path: '/p2c', concurrency: 16 });
    expect(res.every((r) => r.status === 200)).toBe(true);
    const slow = tally(res.map((r) => r.body)).get('t4') ?? 0;
    expect(slow / 3000).toBeLessThan(0.2);
  });

  it('consistent-hash: one key, one target', async () => {
    const byKey = new Map<string, Set<string>>();
    for (let i = 0; i < 40; i++) byKey.set(`u${i}`, new Set());
    for (let k = 0; k < 40; k++) {
      const again = await load(gw.url, 5, { path: '/h', concurrency: 1, headers: () => ({ 'x-user': `u${k}` }) });
      for (const r of again) byKey.get(`u${k}`)!.add(r.body);
    }
    for (const seen of byKey.values()) expect(seen.size).toBe(1);
    expect(new Set([...byKey.values()].map((s) => [...s][0])).size).toBeGreaterThan(2);
  });

  it('sticky: the cookie pins a client to its first target', async () => {
    const first = await load(gw.url, 1, { path: '/s', concurrency: 1 });
    const setCookie = String(first[0]!.headers['set-cookie']);
    expect(setCookie).toMatch(/^pin=[0-9a-f]{12}; Path=\/; HttpOnly/);
    const cookie = setCookie.split(';')[0]!;
    const again = await load(gw.url, 30, { path: '/s', concurrency: 4, headers: () => ({ cookie }) });
    expect(new Set(again.map((r) => r.body))).toEqual(new Set([first[0]!.body]));
    expect(again.every((r) => r.headers['set-cookie'] === undefined)).toBe(true);
    await sleep(0);
  });
});

describe('consistent-hash over real upstreams when a target leaves', () => {
  it('remaps at most 25% of keys when one of 5 targets is removed', { timeout: 60_000 }, async () => {
    // Each target answers "name|key", so answers can be matched to keys in any order.
    const ups = await Promise.all(Array.from({ length: 5 }, (_, i) => startUpstream((req, res) => res.end(`t${i}|${String(req.headers['x-user'])}`))));
    const config = (n: number) => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  hashed:
    balance: consistent-hash
    hashOn: "header:x-user"
    targets: [ ${ups.slice(0, n).map((u) => `"${u.url}"`).join(', ')} ]
routes:
  - { name: hashed, match: { path: /h }, upstream: hashed }
`;
    const gw = await startGateway(config(5));
    const keys = Array.from({ length: 2000 }, (_, i) => `user-${i}`);
    const owners = async () => {
      const res = await load(gw.url, keys.length, { path: '/h', concurrency: 16, headers: (i) => ({ 'x-user': keys[i]! }) });
      expect(res.every((r) => r.status === 200)).toBe(true);
      return new Map(res.map((r) => [r.body.split('|')[1]!, r.body.split('|')[0]!]));
    };
    try {
      const before = await owners();
      writeFileSync(gw.file, config(4));
      expect((await gw.gw.reload()).ok).toBe(true);
      const after = await owners();
      expect([...after.values()]).not.toContain('t4'); // the removed target gets nothing
      const moved = keys.filter((k) => after.get(k) !== before.get(k)).length;
      // Only the keys the removed target owned (≈ 1/5) move; every other key stays put.
      expect(moved).toBe([...before.values()].filter((t) => t === 't4').length);
      expect(moved / keys.length).toBeLessThanOrEqual(0.25);
    } finally {
      await gw.close();
      await Promise.all(ups.map((u) => u.close()));
    }
  });
});
