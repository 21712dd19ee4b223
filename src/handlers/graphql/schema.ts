import { Type, type Static } from '@sinclair/typebox';
import { Duration, Name, Size } from '../../config/types.js';
import { DEFAULT_FORWARD_HEADERS, PART_METHODS } from '../aggregate/schema.js';

/** `Type.field` keys of `resolvers:` (GraphQL names, §2.1.9). */
export const RESOLVER_KEY = '^[_A-Za-z][_0-9A-Za-z]*\\.[_A-Za-z][_0-9A-Za-z]*$';

export const GraphqlResolverSchema = Type.Object(
  {
    upstream: Name({ description: 'Upstream the field is fetched from (its balancer, retries, breaker and pool apply).' }),
    path: Type.String({
      pattern: '^/',
      description:
        'Path (and optional `?query`) template on the upstream. `{args.NAME}` is a field argument, `{parent.NAME}` a property of the parent object\'s upstream JSON, `{params.NAME}` a route param; each value is percent-encoded as one segment, except `{params.*}` in the path: the rest a trailing `*` of `match.path` matched, as sent. Dotted names reach into objects (`{args.input.id}`).',
    }),
    method: Type.Union(
      PART_METHODS.map((m) => Type.Literal(m)),
      { default: 'GET', description: 'Method of the upstream request. Identical GET calls of one request are made once.' },
    ),
    body: Type.Optional(
      Type.String({
        pattern: '^args(\\.[_A-Za-z][_0-9A-Za-z]*)?$',
        description: 'JSON request body: `args` (all field arguments as one object) or `args.NAME` (one argument\'s value). Default: no body.',
      }),
    ),
    select: Type.Optional(
      Type.String({
        pattern: '^[^.]+(\\.[^.]+)*$',
        description: 'Dotted path into the upstream JSON taken as the field value, e.g. `data.items` for `{ "data": { "items": [...] } }`. Default: the whole body.',
      }),
    ),
    nullOnNotFound: Type.Boolean({ default: false, description: 'An upstream `404` resolves the field to `null` without an error (the field must be nullable).' }),
    timeout: Duration({ default: '5s', description: 'Bound on the whole upstream exchange of this field (retries and body included).' }),
    maxBodySize: Size({ default: '1mb', description: 'Largest upstream body held for this field; larger → field error.' }),
    forwardHeaders: Type.Array(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }), {
      uniqueItems: true,
      default: DEFAULT_FORWARD_HEADERS,
      description:
        'Request headers (as the request-phase policies left them) sent upstream; every other client header is dropped. Add `authorization` or identity headers (`x-consumer-id`, …) to pass them on. `Accept: application/json` and the forwarding headers are always sent.',
    }),
  },
  { additionalProperties: false, description: 'How one GraphQL field resolves: a request to an upstream whose JSON body is the field value.' },
);

/**
 * Route target `graphql:`: a GraphQL API (SDL) whose fields resolve against REST
 * upstreams (see docs/graphql.md).
 *
 * @example
 *   graphql:
 *     schemaFile: ./shop.graphql
 *     resolvers:
 *       Query.product: { upstream: catalog, path: "/products/{args.id}" }
 *       Product.stock: { upstream: inventory, path: "/stock/{parent.id}" }
 */
export const GraphqlSchema = Type.Object(
  {
    schema: Type.Optional(Type.String({ minLength: 1, description: 'The GraphQL schema in SDL, inline. Exactly one of `schema`, `schemaFile`.' })),
    schemaFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding the SDL, relative to the config file. Exactly one of `schema`, `schemaFile`.' })),
    resolvers: Type.Record(Type.String({ pattern: RESOLVER_KEY }), GraphqlResolverSchema, {
      additionalProperties: false,
      default: {},
      maxProperties: 512,
      description: '`Type.field` → upstream call. Fields without one take the property of the same name from their parent\'s JSON.',
    }),
    introspection: Type.Boolean({ default: false, description: 'Answer introspection (`__schema`, `__type`); off, such queries fail validation (400).' }),
    maxDepth: Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'Deepest field nesting an operation may have (fragments expanded; `__typename` and introspection not counted) → 400.' }),
    maxFields: Type.Integer({ minimum: 1, maximum: 100_000, default: 500, description: 'Most field selections an operation may have, fragments expanded at each use → 400.' }),
    maxAliases: Type.Integer({ minimum: 0, maximum: 10_000, default: 30, description: 'Most aliased fields an operation may have, fragments expanded → 400.' }),
    maxTokens: Type.Integer({ minimum: 100, maximum: 1_000_000, default: 10_000, description: 'Most lexical tokens a document may have (parse stops there) → 400.' }),
    maxRequestSize: Size({ default: '64kb', description: 'Largest POST body (the JSON request) read → 413.' }),
  },
  { additionalProperties: false, description: 'A GraphQL API whose fields resolve against REST upstreams (GraphQL over HTTP, GET and POST).' },
);

export type GraphqlConfig = Static<typeof GraphqlSchema>;
export type GraphqlResolverConfig = Static<typeof GraphqlResolverSchema>;
