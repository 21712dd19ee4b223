import { Type, type Static } from '@sinclair/typebox';
import { Duration } from '../../config/types.js';
import { By, OnStoreError, PolicyName, RATE_PATTERN } from '../../limits/schema.js';

/**
 * `rate-limit` config. Windows take `limit` + `window`; token bucket and GCRA take `rate`
 * (+ `burst`) or `limit` + `window` (checked at load with the entry's line).
 *
 * @example
 *   - rate-limit: { name: per-second, algorithm: gcra, rate: 10/s, burst: 20, by: consumer }
 *   - rate-limit: { name: hourly, algorithm: fixed-window, limit: 1000, window: 1h, by: [consumer, route] }
 */
export const schema = Type.Object(
  {
    name: Type.Optional(PolicyName('Names the limit in headers, 429 bodies, metrics and `tiers:` (default: `<limit>-per-<window>`).')),
    algorithm: Type.Union([Type.Literal('fixed-window'), Type.Literal('sliding-window'), Type.Literal('token-bucket'), Type.Literal('gcra')], {
      default: 'sliding-window',
      description: 'fixed-window | sliding-window (weighted counter) | token-bucket | gcra.',
    }),
    limit: Type.Optional(Type.Integer({ minimum: 1, description: 'Units per window (windows); with `window`, the rate of a bucket / GCRA.' })),
    window: Type.Optional(Duration({ description: 'Window length, e.g. `1s`, `1m`, `1h`.' })),
    rate: Type.Optional(Type.String({ pattern: RATE_PATTERN, description: 'Token bucket / GCRA: refill rate, e.g. `10/s`, `600/1m`.' })),
    burst: Type.Optional(Type.Integer({ minimum: 1, description: 'Token bucket / GCRA: the largest burst (capacity). Default: the rate\'s count.' })),
    by: By(),
    cost: Type.Integer({ minimum: 1, default: 1, description: 'Units one request takes.' }),
    mode: Type.Union([Type.Literal('exact'), Type.Literal('lease')], {
      default: 'exact',
      description: 'Shared store: `exact` asks it on every request (one round trip); `lease` takes budgets of `lease` units and decides locally (see docs for the bound).',
    }),
    lease: Type.Optional(Type.Integer({ minimum: 1, description: 'Lease mode: units taken per round trip. Default: 2% of the limit, at least 1.' })),
    leaseTtl: Duration({ default: '1s', description: 'Lease mode, token bucket / GCRA: a budget not spent within this time is void.' }),
    onStoreError: OnStoreError(),
    headers: Type.Boolean({ default: true, description: 'Send RateLimit-Policy / RateLimit and X-RateLimit-* headers.' }),
  },
  { additionalProperties: false },
);

export type RateLimitConfig = Static<typeof schema>;
