import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../gateway.js';
import { httpRequest, memoryLogger, writeTempConfig } from '../../../test/helpers.js';
import { describeRedis } from '../../../test/redis.js';
import { manualClock } from '../../store/clock.js';
import { hashApiKey } from '../../consumers/hash.js';
import { periodOf } from '../../limits/calendar.js';

/** Quotas reset at calendar boundaries (UTC); the gateway's clock is injected to reach them. */

describe('calendar periods', () => {
  const cases: { period: 'hour' | 'day' | 'week' | 'month'; at: string; id: string; end: string }[] = [
    { period: 'hour', at: '2024-03-10T13:59:59.999Z', id: '2024-03-10T13', end: '2024-03-10T14:00:00.000Z' },
    { period: 'day', at: '2024-12-31T23:59:59.000Z', id: '2024-12-31', end: '2025-01-01T00:00:00.000Z' },
    { period: 'week', at: '2024-03-10T12:00:00.000Z', id: 'w2024-03-04', end: '2024-03-11T00:00:00.000Z' }, // a Sunday
    { period: 'week', at: '2024-03-11T00:00:00.000Z', id: 'w2024-03-11', end: '2024-03-18T00:00:00.000Z' }, // the Monday after
    { period: 'month', at: '2024-02-29T23:00:00.000Z', id: '2024-02', end: '2024-03-01T00:00:00.000Z' }, // leap year
  ];
  for (const c of cases) {
    it(`${c.period} at ${c.at}`, () => {
      const p = periodOf(c.period, Date.parse(c.at));
      expect(p.id).toBe(c.id);
      expect(new Date(p.end).toISOString()).toBe(c.end);
    });
  }
});

const yaml = (store: string) => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
${store}
tiers:
  gold: { limits: { monthly: { limit: 4 } } }
consumers:
  - { id: basic, apiKeys: ["${hashApiKey('k-basic')}"] }
  - { id: goldie, tier: gold, apiKeys: ["${hashApiKey('k-gold')}"] }
routes:
  - name: api
    match: { path: /api }
    static: { body: ok }
    policies:
      - api-key: {}
      - quota: { name: monthly, limit: 2, period: month, by: consumer }
`;

function quotaSuite(store: () => string) {
  const clock = manualClock(Date.parse('2024-01-31T23:59:58.000Z'));
  let gw: Gateway;
  let url: string;
  beforeAll(async () => {
    gw = await Gateway.start(writeTempConfig(yaml(store())), { logger: memoryLogger().logger, clock });
    url = `http://127.0.0.1:${gw.port()}/api`;
  });
  afterAll(async () => {
    await gw?.close();
  });
  const get = (key: string) => httpRequest(url, { headers: { 'x-api-key': key } });

  it('admits the quota, then 429 with the reset time, then admits again at the boundary', async () => {
    const first = await get('k-basic');
    expect(first.status).toBe(200);
    expect(first.headers['ratelimit-policy']).toBe('"monthly";q=2;w=2678400'); // January: 31 days
    expect(first.headers['ratelimit']).toBe('"monthly";r=1;t=2');
    expect((await get('k-basic')).status).toBe(200);

    const over = await get('k-basic');
    expect(over.status).toBe(429);
    expect(over.headers['retry-after']).toBe('2');
    expect(over.json()).toMatchObject({ status: 429, policy: 'monthly', resetAt: '2024-02-01T00:00:00.000Z', type: expect.stringContaining('quota-exceeded') });

    clock.advance(1999); // 23:59:59.999: still January
    expect((await get('k-basic')).status).toBe(429);
    clock.advance(1); // February
    const feb = await get('k-basic');
    expect(feb.status).toBe(200);
    expect(feb.headers['ratelimit-policy']).toBe('"monthly";q=2;w=2505600'); // 29 days in 2024
    expect(feb.headers['ratelimit']).toBe('"monthly";r=1;t=2505600');
  });

  it("a consumer's tier replaces the quota", async () => {
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await get('k-gold')).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
  });
}

describe('quota on the memory store', () => quotaSuite(() => ''));

describeRedis('quota on Redis', (redis) => {
  quotaSuite(() => `store: { kind: redis, url: "${redis().url}", keyPrefix: "quota${Math.random().toString(36).slice(2, 6)}:" }`);
});
