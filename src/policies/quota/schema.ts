import { Type, type Static } from '@sinclair/typebox';
import { By, OnStoreError, PolicyName } from '../../limits/schema.js';

/**
 * `quota` config: units per calendar period (UTC).
 *
 * @example
 *   - quota: { name: monthly, limit: 100000, period: month, by: consumer }
 */
export const schema = Type.Object(
  {
    name: PolicyName('Names the quota in headers, 429 bodies, metrics and `tiers:`.'),
    limit: Type.Integer({ minimum: 1, description: 'Units per period.' }),
    period: Type.Union([Type.Literal('hour'), Type.Literal('day'), Type.Literal('week'), Type.Literal('month')], {
      default: 'day',
      description: 'Calendar period in UTC: hour, day, week (ISO, from Monday) or month. Resets at its boundary.',
    }),
    by: By(),
    cost: Type.Integer({ minimum: 1, default: 1, description: 'Units one request takes.' }),
    onStoreError: OnStoreError(),
    headers: Type.Boolean({ default: true, description: 'Send RateLimit-Policy / RateLimit and X-RateLimit-* headers.' }),
  },
  { additionalProperties: false },
);

export type QuotaConfig = Static<typeof schema>;
