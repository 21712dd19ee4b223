import { Type, type Static } from '@sinclair/typebox';
import { Duration } from '../config/types.js';

/**
 * Top-level `store:`: where shared state lives. `memory` (default) keeps it in this
 * process; `redis` shares it between every gateway instance (docs/rate-limits.md,
 * "Scaling out").
 *
 * @example
 *   store: { kind: redis, url: "redis://127.0.0.1:6379", keyPrefix: "gantry:" }
 */
export const StoreSchema = Type.Object(
  {
    kind: Type.Union([Type.Literal('memory'), Type.Literal('redis')], { default: 'memory', description: '`memory` (this process) or `redis` (shared by every instance).' }),
    url: Type.String({ pattern: '^rediss?://', default: 'redis://127.0.0.1:6379', description: 'Redis URL (`redis://[user:pass@]host:port[/db]`, `rediss://` for TLS).' }),
    nodes: Type.Optional(Type.Array(Type.String({ pattern: '^rediss?://' }), { minItems: 1, description: 'Redis Cluster seed nodes; replaces `url`.' })),
    keyPrefix: Type.String({ default: 'gantry:', maxLength: 64, description: 'Prepended to every key, to share a Redis with other applications.' }),
    timeout: Duration({ default: '500ms', description: 'A Redis command not answered within this time fails; the policy\'s `onStoreError` applies.' }),
    maxBackoff: Duration({ default: '2s', description: 'Longest wait between two reconnect attempts (exponential backoff with jitter).' }),
  },
  { additionalProperties: false, description: 'Where shared state lives (rate-limit counters, cache entries, jobs).' },
);

export type StoreConfig = Static<typeof StoreSchema>;
