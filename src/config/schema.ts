import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ConsumersSchema } from '../consumers/schema.js';
import { ListenerTls } from '../listeners/tls.js';
import { UpstreamTls } from '../upstreams/tls.js';
import { ProxyProtocol } from '../listeners/proxy-protocol.js';
import { Cidr, Duration, HeaderName, HttpUrl, Name, OneOrMany, PolicyEntry, RegexSource, Size } from './types.js';
import { StoreSchema } from '../store/schema.js';
import { AccessLog, Admin, Reload, Telemetry } from './ops-schema.js';
import { TiersSchema } from '../limits/schema.js';
import { TENANT_FROM_PATTERN } from '../tenancy/tenant.js';
import { UpstreamByTenantSchema } from '../handlers/upstream-by-tenant/schema.js';
import { AggregateSchema } from '../handlers/aggregate/schema.js';
import { AsyncSchema } from '../handlers/async/schema.js';
import { BatchSchema } from '../handlers/batch/schema.js';
import { GraphqlSchema } from '../handlers/graphql/schema.js';
import { GrpcSchema } from '../handlers/grpc/schema.js';
import { routeResilienceProps, upstreamResilienceProps } from '../upstreams/schema.js';

/**
 * The gateway config (DESIGN.md "Config"): TypeBox schemas that are at once the TS types,
 * the Ajv validator and the reference docs. Policies and handlers bring their own schemas
 * (see pipeline/registry.ts); here they are validated as opaque single-key maps and then
 * checked one by one against the schema of the policy they name.
 */

const obj = <T extends Record<string, TSchema>>(props: T, description: string) =>
  Type.Object(props, { additionalProperties: false, description });

export const ListenerLimits = obj(
  {
    maxHeaderSize: Size({ default: '16kb', description: 'Largest request head (request line + headers); larger → 431.' }),
    maxUrlLength: Size({ default: '8kb', description: 'Longest request target; longer → 414.' }),
    headersTimeout: Duration({ default: '10s', description: 'Time allowed to receive the request head (slowloris guard).' }),
    requestTimeout: Duration({ default: '5m', description: 'Time allowed to receive the whole request including body; 0 disables.' }),
    keepAliveTimeout: Duration({ default: '5s', description: 'Idle time before a client keep-alive connection is closed.' }),
    maxConnections: Type.Integer({ minimum: 1, default: 10_000, description: 'Concurrent client connections; more are refused.' }),
    maxRequestsPerConnection: Type.Integer({ minimum: 0, default: 0, description: 'Requests served on one connection before it is closed; 0 = unlimited.' }),
    maxConcurrentStreams: Type.Integer({
      minimum: 1,
      maximum: 4_294_967_295,
      default: 100,
      description: 'h2/h2c: streams one client connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS, RFC 9113 §6.5.2).',
    }),
  },
  'Protocol limits of a listener, with safe defaults.',
);

export const Listener = obj(
  {
    name: Name({ description: 'Referenced by routes\' `listeners:` to scope them.' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, description: 'TCP port; 0 picks a free one.' }),
    host: Type.String({ default: '0.0.0.0', description: 'Address to bind.' }),
    protocol: Type.Union([Type.Literal('http'), Type.Literal('https'), Type.Literal('h2'), Type.Literal('h2c')], {
      default: 'http',
      description:
        'Wire protocol: `http`, `https` (HTTP/1.1 over TLS, needs `tls`), `h2` (HTTP/2 over TLS by ALPN with HTTP/1.1 fallback, needs `tls`) or `h2c` (cleartext HTTP/2, prior knowledge only).',
    }),
    tls: Type.Optional(ListenerTls),
    limits: Type.Optional(ListenerLimits),
    proxyProtocol: Type.Optional(ProxyProtocol),
  },
  'A socket the gateway serves.',
);

export const Target = obj(
  {
    url: HttpUrl({ description: 'Base URL of the target: `http://host:port`.' }),
    weight: Type.Integer({ minimum: 0, maximum: 10_000, default: 1, description: 'Relative share of traffic.' }),
  },
  'One backend instance of an upstream.',
);

export const Timeouts = obj(
  {
    connect: Duration({ default: '5s', description: 'TCP connect timeout → 502/504.' }),
    response: Duration({ default: '60s', description: 'Time to the upstream response head → 504.' }),
    idle: Duration({ default: '60s', description: 'Longest silence while a response body streams.' }),
    total: Type.Optional(Duration({ description: 'Whole exchange, every attempt and the response body included → 504 (or a cut response). None by default.' })),
  },
  'Upstream timeouts.',
);

/** `websocket:` in its long form. */
export const WebSocketSettings = obj(
  {
    idleTimeout: Type.Optional(
      Duration({ description: 'Close a tunnel after this long with no byte in either direction (WebSocket pings count as traffic). None by default.' }),
    ),
  },
  'WebSocket tunnel settings.',
);

/** A route's timeouts override its upstream's; the connect timeout belongs to the upstream's connection pool. */
export const RouteTimeouts = obj(
  {
    response: Type.Optional(Duration({ description: "Time to the upstream response head → 504. Default: the upstream's." })),
    idle: Type.Optional(Duration({ description: "Longest silence while a response body streams. Default: the upstream's." })),
    total: Type.Optional(Duration({ description: "Whole exchange, every attempt and the response body included → 504 (or a cut response). Default: the upstream's." })),
  },
  "Timeouts of this route, overriding its upstream's (connect is set on the upstream: it belongs to the upstream's connection pool).",
);

export const UpstreamPool = obj(
  {
    connections: Type.Integer({ minimum: 1, default: 128, description: 'Max open connections per target.' }),
    keepAliveTimeout: Duration({ default: '30s', description: 'Idle time before a pooled connection is closed.' }),
    pipelining: Type.Integer({ minimum: 1, maximum: 32, default: 1, description: 'Requests in flight per connection.' }),
  },
  'Connection pool per target.',
);

export const Upstream = obj(
  {
    targets: Type.Optional(Type.Array(Type.Union([HttpUrl(), Target]), { minItems: 1, description: 'Target URLs or `{ url, weight }` objects (or use `dns:` / `file:` discovery).' })),
    ...upstreamResilienceProps,
    timeouts: Type.Optional(Timeouts),
    pool: Type.Optional(UpstreamPool),
    tls: Type.Optional(UpstreamTls),
    http2: Type.Boolean({
      default: false,
      description: 'Speak HTTP/2 to the targets: offered by ALPN on https targets (HTTP/1.1 if the target declines), with prior knowledge (h2c) on http targets.',
    }),
    policies: Type.Optional(
      Type.Array(PolicyEntry, {
        default: [],
        description: "Policies of every route whose target is this upstream (`upstream:`), after the global ones and before the route's own.",
      }),
    ),
  },
  'A named pool of targets.',
);

const HeaderMatch = Type.Union(
  [
    Type.String({ description: 'Exact value.' }),
    obj({ regex: RegexSource({ description: 'Regular expression the value must match.' }) }, 'Value matches a regular expression.'),
    obj({ present: Type.Boolean({ description: '`true`: must be present (any value); `false`: must be absent.' }) }, 'Header present (true) or absent (false).'),
  ],
  { description: 'How a header or query parameter must look.' },
);

export const RouteMatch = obj(
  {
    path: Type.Optional(Type.String({ pattern: '^/', description: 'Exact `/a/b`, parameterised `/users/:id`, or prefix `/api/*`.' })),
    pathRegex: Type.Optional(RegexSource({ description: 'A regular expression over the path: the last resort, tried after every path match. Named groups become params, percent-decoded as `:name` params are.' })),
    host: Type.Optional(OneOrMany(Type.String({ minLength: 1 }), { description: 'Exact host or `*.example.com`.' })),
    methods: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Z]+$' }), { minItems: 1, description: 'Allowed methods (default: any).' })),
    headers: Type.Optional(Type.Record(HeaderName(), HeaderMatch, { additionalProperties: false, description: 'Header matchers by name.' })),
    query: Type.Optional(Type.Record(Type.String(), HeaderMatch, { description: 'Query parameter matchers by name.' })),
    version: Type.Optional(
      Type.Union(
        [
          Type.String({ minLength: 1, pattern: '^v?[0-9]+(\\.[0-9]+)*$', description: 'Shorthand for `{ is: <version> }`.' }),
          obj(
            {
              is: Type.String({ minLength: 1, pattern: '^v?[0-9]+(\\.[0-9]+)*$', description: 'The version this route serves; `2` also takes `2.x`.' }),
              sources: Type.Optional(
                Type.Array(Type.Union([Type.Literal('path'), Type.Literal('header'), Type.Literal('media-type')]), {
                  minItems: 1,
                  uniqueItems: true,
                  default: ['path', 'header', 'media-type'],
                  description: 'Where the request names its version, first found wins: `/v2/…`, the header, `Accept: application/vnd.NAME.v2+json`.',
                }),
              ),
              header: Type.Optional(Type.String({ minLength: 1, default: 'accept-version', description: 'Header carrying the version.' })),
              vendor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9.-]*$', description: 'Vendor NAME in `application/vnd.NAME.v2+json` (default: any).' })),
              default: Type.Optional(Type.Boolean({ default: false, description: 'Also take requests that name no version.' })),
            },
            'Version match with its sources.',
          ),
        ],
        { description: 'API version this route serves (path `/v2/…`, `Accept-Version`, or vendor media type); see docs/transformation.md#api-versioning.' },
      ),
    ),
  },
  'What requests a route takes.',
);

export const Rewrite = obj(
  {
    stripPrefix: Type.Optional(Type.String({ pattern: '^/', description: 'Removed from the start of the path.' })),
    addPrefix: Type.Optional(Type.String({ pattern: '^/', description: 'Added to the start of the path.' })),
    replace: Type.Optional(obj({ pattern: RegexSource({ description: 'Regular expression matched against the path.' }), with: Type.String({ description: 'Replacement of the first match; `$1`… refer to capture groups.' }) }, 'Regex replace on the path.')),
    path: Type.Optional(Type.String({ pattern: '^/', description: 'Path template, e.g. `/v2/items/{params.id}`.' })),
    // Optional in the type (rewrites built in code, e.g. aggregate parts, need not name it); the default still applies.
    location: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'Map `Location` and `Content-Location` response headers back through the prefix steps (drop the target URL\'s base path and `addPrefix`, put back `stripPrefix`); a URL on the target\'s origin gets the client\'s scheme and host. Not with `path` or `replace`.',
      }),
    ),
  },
  'How the forwarded path is derived from the matched one (the path steps are applied in the order listed).',
);

export const StaticReply = obj(
  {
    status: Type.Integer({ minimum: 100, maximum: 599, default: 200, description: 'Status code.' }),
    headers: Type.Optional(Type.Record(HeaderName(), Type.String(), { additionalProperties: false, description: 'Response headers.' })),
    body: Type.Optional(Type.Unknown({ description: 'A string, or a value sent as JSON.' })),
  },
  'A fixed response: mocks and maintenance pages.',
);

/** A policy entry: a single-key map `{ <policy-name>: <config> }`; checked by the registry. */
export { PolicyEntry };

export const Route = obj(
  {
    name: Name({ description: 'Unique route name, used in logs and metrics.' }),
    match: RouteMatch,
    priority: Type.Integer({ default: 0, description: 'Higher wins over any lower-priority route that also matches.' }),
    listeners: Type.Optional(Type.Array(Name(), { minItems: 1, description: 'Listeners serving this route (default: all).' })),
    upstream: Type.Optional(Name({ description: 'Name of the upstream to proxy to.' })),
    upstreamByTenant: Type.Optional(UpstreamByTenantSchema),
    static: Type.Optional(StaticReply),
    aggregate: Type.Optional(AggregateSchema),
    async: Type.Optional(AsyncSchema),
    batch: Type.Optional(BatchSchema),
    graphql: Type.Optional(GraphqlSchema),
    grpc: Type.Optional(GrpcSchema),
    rewrite: Type.Optional(Rewrite),
    preserveHost: Type.Boolean({ default: false, description: 'Send the client\'s Host upstream instead of the target\'s.' }),
    timeouts: Type.Optional(RouteTimeouts),
    ...routeResilienceProps,
    // Optional in the type (routes built in code, e.g. aggregate parts, need not name it); the default still applies.
    websocket: Type.Optional(
      Type.Union([Type.Boolean(), WebSocketSettings], {
        default: false,
        description: 'Accept WebSocket upgrades (RFC 6455) on this route and tunnel them to the `upstream:` target: `true`, or settings (see docs/websocket.md).',
      }),
    ),
    accessLog: Type.Boolean({ default: true, description: 'Write an access-log line for this route.' }),
    policies: Type.Array(PolicyEntry, { default: [], description: 'Route policies, after the global ones, in order.' }),
  },
  'A match plus what to do with it.',
);

export const Server = obj(
  {
    trustedProxies: Type.Array(Cidr(), { default: [], description: 'Peers whose X-Forwarded-*/Forwarded headers are kept and extended.' }),
    healthPath: Type.String({ pattern: '^/', default: '/healthz', description: 'Liveness endpoint on every listener.' }),
    readyPath: Type.String({ pattern: '^/', default: '/readyz', description: 'Readiness endpoint on every listener.' }),
    readyRequiresStore: Type.Boolean({
      default: true,
      description: 'Readiness needs the store reachable (DESIGN). Set false where limits fail open and a store outage should not take instances out of the load balancer.',
    }),
    drainTimeout: Duration({ default: '30s', description: 'On SIGTERM, time allowed for in-flight requests to finish.' }),
    via: Type.String({ default: 'gantry', description: 'Pseudonym in the Via header (RFC 9110 §7.6.3); empty string omits it.' }),
    mergeSlashes: Type.Boolean({ default: true, description: 'Collapse `//` in paths before routing.' }),
  },
  'Process-wide settings.',
);

export const Log = obj(
  {
    level: Type.Union(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].map((l) => Type.Literal(l)), { default: 'info', description: 'Log level.' }),
    access: Type.Union([Type.Boolean(), AccessLog], { default: true, description: 'One JSON line per request: `true`/`false`, or settings (fields, sampling, redaction, output).' }),
  },
  'Logging.',
);

export const GatewayConfigSchema = obj(
  {
    version: Type.Literal(1, { description: 'Config format version.' }),
    listeners: Type.Array(Listener, { minItems: 1, default: [{ name: 'public', port: 8080 }], description: 'Sockets to serve.' }),
    server: Type.Optional(Server),
    log: Type.Optional(Log),
    store: Type.Optional(StoreSchema),
    admin: Type.Optional(Admin),
    telemetry: Type.Optional(Telemetry),
    reload: Type.Optional(Reload),
    tiers: TiersSchema,
    tenantFrom: Type.Optional(Type.String({ pattern: TENANT_FROM_PATTERN, description: 'Where a request\'s tenant comes from when its consumer has none: `header:NAME`, `host-subdomain` or `claim:NAME`.' })),
    plugins: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Modules exporting custom policies (`definePolicy`), relative to the config file.' }),
    policies: Type.Array(PolicyEntry, { default: [], description: 'Global policies, run before every route\'s own.' }),
    consumers: ConsumersSchema,
    upstreams: Type.Record(Name(), Upstream, { additionalProperties: false, default: {}, description: 'Named upstreams.' }),
    routes: Type.Array(Route, { default: [], description: 'Routes, matched most specific first.' }),
  },
  'Gantry config, version 1.',
);

export type GatewayConfig = Static<typeof GatewayConfigSchema>;
export type RouteConfig = Static<typeof Route>;
export type UpstreamConfig = Static<typeof Upstream>;
export type ListenerConfig = Static<typeof Listener>;
export type TimeoutsConfig = Static<typeof Timeouts>;
export type StaticReplyConfig = Static<typeof StaticReply>;
export type ServerConfig = Static<typeof Server>;
