import { Type, type Static } from '@sinclair/typebox';
import { Duration } from '../../config/types.js';
import { By, OnStoreError, PolicyName } from '../../limits/schema.js';

/**
 * `concurrency` config: requests in flight per key.
 *
 * @example
 *   - concurrency: { max: 10, by: consumer }
 */
export const schema = Type.Object(
  {
    name: Type.Optional(PolicyName('Names the limit in 429 bodies and metrics (default: `concurrency-<max>`).')),
    max: Type.Integer({ minimum: 1, description: 'Requests in flight at once per key.' }),
    by: By(),
    hold: Duration({
      default: '5m',
      description: 'Shared store: a slot not released within this time (an instance that died) frees itself. Keep it above the longest request.',
    }),
    onStoreError: OnStoreError(),
  },
  { additionalProperties: false },
);

export type ConcurrencyConfig = Static<typeof schema>;
