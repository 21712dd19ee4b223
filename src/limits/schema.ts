import { Type, type Static } from '@sinclair/typebox';
import { Duration, Name, OneOrMany } from '../config/types.js';
import { BY_PATTERN } from './keys.js';

/**
 * Config pieces shared by `rate-limit`, `quota`, `concurrency` and the top-level `tiers:`.
 * One schema, four uses: the TS type, the validator, the docs (docs/rate-limits.md).
 */

/** `10/s`, `100/1m`, `0.5/s`: units per duration. */
export const RATE_PATTERN = '^\\d+(\\.\\d+)?\\s*/\\s*(\\d+(\\.\\d+)?)?\\s*(ms|s|m|h|d)$';

export const By = () =>
  OneOrMany(Type.String({ pattern: BY_PATTERN }), {
    default: 'ip',
    description: 'What a separate limit is kept for: `ip`, `consumer`, `tenant`, `route`, `header:NAME`, `claim:NAME`, or a list of these (composite key).',
  });

export const OnStoreError = () =>
  Type.Union([Type.Literal('allow'), Type.Literal('deny')], {
    default: 'allow',
    description: 'When the store cannot answer (Redis down): `allow` the request, or `deny` it with 503.',
  });

export const PolicyName = (description: string) => Name({ maxLength: 64, description });

/** A tier's override of one named limit. */
export const TierLimit = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, description: 'Units per window (rate-limit, quota), or the rate count when `rate` is not set. Required unless `rate` is set; a quota\'s tier limit always needs it.' })),
    window: Type.Optional(Duration({ description: 'Window of a rate limit (default: the policy\'s).' })),
    rate: Type.Optional(Type.String({ pattern: RATE_PATTERN, description: 'Token-bucket / GCRA rate, e.g. `100/s` (default: the policy\'s).' })),
    burst: Type.Optional(Type.Integer({ minimum: 1, description: 'Token-bucket / GCRA capacity (default: the policy\'s, else `limit`).' })),
  },
  { additionalProperties: false, description: 'Replaces the limit of the rate-limit or quota policy of the same name for consumers of this tier.' },
);

export const Tier = Type.Object(
  {
    description: Type.Optional(Type.String({ description: 'What the tier is for (docs, status).' })),
    limits: Type.Record(Name(), TierLimit, { additionalProperties: false, default: {}, description: 'Limits by rate-limit / quota policy `name`.' }),
  },
  { additionalProperties: false, description: 'One tier (e.g. `free`, `premium`): the limits and quotas of its consumers.' },
);

/**
 * Top-level `tiers:`. A consumer's `tier` selects one; each of its `limits` replaces the
 * limit of the policy with that name.
 *
 * @example
 *   tiers:
 *     free:    { limits: { per-second: { limit: 5 },   monthly: { limit: 10000 } } }
 *     premium: { limits: { per-second: { limit: 100 }, monthly: { limit: 1000000 } } }
 */
export const TiersSchema = Type.Record(Name(), Tier, { additionalProperties: false, default: {}, description: 'Consumer tiers and the limits and quotas they get.' });

export type TiersConfig = Static<typeof TiersSchema>;
export type TierLimitConfig = Static<typeof TierLimit>;
