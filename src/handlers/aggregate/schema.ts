import { Type, type Static } from '@sinclair/typebox';
import { Duration, Name, Size } from '../../config/types.js';

/** Client headers a part forwards by default: correlation and trace context, and the language. */
export const DEFAULT_FORWARD_HEADERS = ['x-request-id', 'traceparent', 'tracestate', 'accept-language'];

/** Methods a part may use (a part never carries a request body). */
export const PART_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export const AggregatePartSchema = Type.Object(
  {
    upstream: Name({ description: 'Upstream this part is fetched from (its balancer, retries, breaker and pool apply).' }),
    path: Type.String({ pattern: '^/', description: 'Path template on the upstream; `{params.NAME}` is a route param (percent-encoded), `{params.*}` the wildcard rest as sent (escapes kept).' }),
    method: Type.Union(
      PART_METHODS.map((m) => Type.Literal(m)),
      { default: 'GET', description: 'Method of the part request. Parts never carry a request body.' },
    ),
    optional: Type.Boolean({ default: false, description: 'A failed optional part becomes `null` and is named in `X-Aggregate-Partial`; a failed required part fails the response (502, or 504 on timeout).' }),
    timeout: Duration({ default: '5s', description: 'Bound on the whole part exchange, body included (retries too) → 504 for a required part.' }),
    maxBodySize: Size({ default: '1mb', description: 'Largest part body held for the merge; larger → part failed.' }),
    query: Type.Boolean({ default: true, description: 'Forward the client\'s query string to this part.' }),
    forwardHeaders: Type.Array(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }), {
      uniqueItems: true,
      default: DEFAULT_FORWARD_HEADERS,
      description:
        'Request headers (as the request-phase policies left them) sent to this part; every other client header is dropped. Add `authorization`, `cookie` or the identity headers (`x-consumer-id`, …) to pass them on. `Accept: application/json` (unless `accept` is listed) and the forwarding headers (X-Forwarded-*, Via) are always sent.',
    }),
  },
  { additionalProperties: false, description: 'One part of an aggregate: a request to an upstream whose JSON body becomes one key of the response.' },
);

/**
 * Route target `aggregate:`: parallel requests to upstreams, merged into one JSON object
 * with one key per part (see docs/aggregate.md).
 *
 * @example
 *   aggregate:
 *     product: { upstream: catalog,   path: /products/{params.id} }
 *     stock:   { upstream: inventory, path: /stock/{params.id}, optional: true }
 */
export const AggregateSchema = Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_-]{0,63}$' }), AggregatePartSchema, {
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 32,
  description: 'Parallel fan-out to upstreams, merged into one JSON object (`{ <part>: <that upstream\'s JSON body>, … }`).',
});

export type AggregateConfig = Static<typeof AggregateSchema>;
export type AggregatePartConfig = Static<typeof AggregatePartSchema>;
