import { afterAll, beforeAll, expect, it } from 'vitest';
import pino from 'pino';
import { RedisStore } from '../../store/redis.js';
import { describeRedis } from '../../../test/redis.js';
import { ClockedPolicy, type CachedResponse } from './entry.js';
import { entryOf } from './admit.js';
import { SharedCacheStore, SHARED_MAX_RETENTION } from './shared-store.js';

/**
 * The shared cache store on a real redis-server: drops (exact-key purges) and purge rules
 * when other commands for the same zone are in flight at the same time.
 */

function response(key: string, body: string, storedAt: number, tags: string[] = []): CachedResponse {
  const policy = new ClockedPolicy({ url: key, method: 'GET', headers: {} }, { status: 200, headers: { 'cache-control': 'max-age=60' } }, { shared: true });
  return entryOf(200, ['cache-control', 'max-age=60'], Buffer.from(body), policy, null, tags, storedAt, 0, false, 0, 0, key);
}

async function bodyAt(s: SharedCacheStore, key: string): Promise<string | undefined> {
  const n = await s.get(key);
  return n?.kind === 'response' ? n.body.toString() : undefined;
}

describeRedis('shared cache store', (redis) => {
  let store: RedisStore;
  let now = 1_000_000;
  let zone = 0;
  const make = () => new SharedCacheStore(store, `race-${++zone}`, () => now, SHARED_MAX_RETENTION);

  beforeAll(async () => {
    store = new RedisStore({ url: redis().url, keyPrefix: 'shared-store-test:', commandTimeoutMs: 1000, maxBackoffMs: 200, logger: pino({ level: 'silent' }) });
    await store.ready(2000);
  });
  afterAll(async () => {
    await store?.close();
  });

  it('a write issued after a drop started is kept (the drop does not delete it)', async () => {
    const s = make();
    await s.set('/a', response('/a', 'old', now), 60_000);
    now += 10;
    const drop = s.purge({ key: '/a' });
    now += 1;
    // The fresh response arrives while the drop is still talking to Redis.
    const write = s.set('/a', response('/a', 'new', now), 60_000);
    await Promise.all([drop, write]);
    expect(await bodyAt(s, '/a')).toBe('new');
  });

  it('purges fired at once by two instances each keep their rule', async () => {
    // Two gateway instances: two Redis clients, one zone.
    const other = new RedisStore({ url: redis().url, keyPrefix: 'shared-store-test:', commandTimeoutMs: 1000, maxBackoffMs: 200, logger: pino({ level: 'silent' }) });
    await other.ready(2000);
    const name = `two-${++zone}`;
    const a = new SharedCacheStore(store, name, () => now, SHARED_MAX_RETENTION);
    const b = new SharedCacheStore(other, name, () => now, SHARED_MAX_RETENTION);
    const tags = Array.from({ length: 60 }, (_, i) => `t${i}`);
    await Promise.all(tags.map((t) => a.set(`/${t}`, response(`/${t}`, t, now, [t]), 60_000)));
    await a.set('/kept', response('/kept', 'kept', now, ['other']), 60_000);
    now += 10;
    await Promise.all(tags.map((t, i) => (i % 2 === 0 ? a : b).purge({ tag: t })));
    for (const t of tags) {
      expect(await bodyAt(a, `/${t}`)).toBeUndefined();
      expect(await bodyAt(b, `/${t}`)).toBeUndefined();
    }
    expect(await bodyAt(b, '/kept')).toBe('kept');
    // Entries stored after the purges are served.
    now += 10;
    await b.set('/t0', response('/t0', 'new', now, ['t0']), 60_000);
    expect(await bodyAt(a, '/t0')).toBe('new');
    await other.close();
  });

  it('more than 200 rules collapse into one that purges everything stored until then, and later entries are kept', async () => {
    const s = make();
    await s.set('/old', response('/old', 'old', now), 60_000);
    now += 10;
    for (let i = 0; i < 201; i++) await s.purge({ tag: `x${i}` });
    expect(await bodyAt(s, '/old')).toBeUndefined();
    now += 10;
    await s.set('/new', response('/new', 'new', now), 60_000);
    expect(await bodyAt(s, '/new')).toBe('new');
  });

  it('a drop hides the key, its variants and more specific keys stored before it, and nothing else', async () => {
    const s = make();
    const keys = ['/v', '/v#vary|accept=a', '/v#host=x', '/v#host=x#vary|accept=b', '/v2', '/vx#host=x', '/w?v#host=x'];
    for (const k of keys) await s.set(k, response(k, k, now), 60_000);
    now += 10;
    await s.purge({ key: '/v' });
    const left = [];
    for (const k of keys) if ((await bodyAt(s, k)) !== undefined) left.push(k);
    expect(left).toEqual(['/v2', '/vx#host=x', '/w?v#host=x']);
    now += 1;
    await s.set('/v#vary|accept=a', response('/v#vary|accept=a', 'new', now), 60_000);
    expect(await bodyAt(s, '/v#vary|accept=a')).toBe('new');
    // A more specific drop leaves the less specific key alone.
    await s.set('/u', response('/u', 'u', now), 60_000);
    await s.set('/u#host=x', response('/u#host=x', 'ux', now), 60_000);
    now += 10;
    await s.purge({ key: '/u#host=x' });
    expect([await bodyAt(s, '/u'), await bodyAt(s, '/u#host=x')]).toEqual(['u', undefined]);
  });

  it('300 drops of different keys add no zone-wide rule: other entries stay', async () => {
    const s = make();
    await s.set('/kept#host=x', response('/kept#host=x', 'kept', now), 60_000);
    now += 10;
    await Promise.all(Array.from({ length: 300 }, (_, i) => s.purge({ key: `/d/${i}#host=x` })));
    expect(await bodyAt(s, '/kept#host=x')).toBe('kept');
  });

  it('concurrent purges each keep their rule (no lost update)', async () => {
    const s = make();
    await s.set('/red', response('/red', 'red', now, ['red']), 60_000);
    await s.set('/blue', response('/blue', 'blue', now), 60_000);
    now += 10;
    const [byTag, byKey] = await Promise.all([s.purge({ tag: 'red' }), s.purge({ key: '/other' })]);
    expect([byTag, byKey]).toEqual([0, 0]);
    expect(await bodyAt(s, '/red')).toBeUndefined();
    expect(await bodyAt(s, '/blue')).toBe('blue');
  });
});
