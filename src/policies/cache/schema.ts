import { Type, type Static } from '@sinclair/typebox';
import { Duration, Size } from '../../config/types.js';

/** Statuses a cache may store by default (RFC 9110 §15.1 "heuristically cacheable"), minus 206. */
export const DEFAULT_STATUSES = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501];

const HeaderName = Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' });

export const CacheKey = Type.Object(
  {
    query: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        description: 'Only these query parameters are part of the key (sorted); others are ignored. Default: the whole query string.',
      }),
    ),
    ignoreQuery: Type.Boolean({ default: false, description: 'Leave the query string out of the key entirely.' }),
    headers: Type.Array(HeaderName, { default: [], description: 'Request headers whose values are part of the key (e.g. `accept-language`).' }),
    consumer: Type.Boolean({ default: false, description: 'Add the authenticated consumer id to the key: one cache per consumer.' }),
    host: Type.Boolean({ default: true, description: 'Add the request Host to the key.' }),
  },
  { additionalProperties: false, default: {}, description: 'What makes two requests share a cache entry.' },
);

/**
 * `cache` policy config. Freshness comes from the response (RFC 9111); these settings
 * fill in what the response leaves open and bound what is kept.
 *
 * @example
 *   - cache: { ttl: 30s, key: { query: [page, sort] }, staleWhileRevalidate: 10s, maxSize: 128mb }
 */
export const schema = Type.Object(
  {
    ttl: Type.Optional(
      Duration({ description: 'Freshness lifetime for responses that give none (no max-age, s-maxage or Expires). Responses that do, keep theirs.' }),
    ),
    methods: Type.Array(Type.Union([Type.Literal('GET'), Type.Literal('HEAD'), Type.Literal('POST')]), {
      default: ['GET', 'HEAD'],
      minItems: 1,
      description: 'Methods looked up in the cache. HEAD is answered from GET entries; POST is stored only with explicit freshness (RFC 9110 §9.3.3).',
    }),
    statuses: Type.Array(Type.Integer({ minimum: 200, maximum: 599 }), {
      default: DEFAULT_STATUSES,
      minItems: 1,
      description: 'Response statuses that may be stored (the response must still be storable per RFC 9111 §3).',
    }),
    key: CacheKey,
    staleWhileRevalidate: Duration({
      default: 0,
      description: 'Default `stale-while-revalidate` (RFC 5861) when the response sets none: serve stale this long while refreshing in the background.',
    }),
    staleIfError: Duration({
      default: 0,
      description: 'Default `stale-if-error` (RFC 5861) when the response sets none: serve stale this long when the upstream fails.',
    }),
    maxSize: Size({ default: '64mb', description: 'Memory bound of the cache zone in bytes (bodies + headers); least recently used entries are evicted.' }),
    maxEntrySize: Size({ default: '1mb', description: 'Largest response body stored; larger ones stream through uncached.' }),
    tagHeader: Type.String({
      default: 'surrogate-key',
      pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$',
      description: 'Response header listing space-separated purge tags for the entry.',
    }),
    exposeTags: Type.Boolean({ default: false, description: 'Keep the tag header in responses to clients (it is removed by default).' }),
    zone: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9._-]+$',
        description: 'Cache zone name; routes naming the same zone share entries and the byte bound. Default: the route name.',
      }),
    ),
    statusName: Type.String({
      default: 'gantry',
      pattern: '^[A-Za-z0-9._-]+$',
      description: 'Cache name in the `Cache-Status` response header (RFC 9211).',
    }),
    shared: Type.Boolean({
      default: true,
      description: 'Use the shared store (Redis) when the gateway has `store: { kind: redis }`; false keeps this cache in process memory.',
    }),
  },
  { additionalProperties: false },
);

export type CacheConfig = Static<typeof schema>;
export type CacheKeyConfig = Static<typeof CacheKey>;
