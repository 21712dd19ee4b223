import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Duration, HeaderName, Name, Size } from '../config/types.js';

/**
 * Config schemas of upstream resilience and traffic management (`upstreams.<name>.*` and
 * the route keys `split`, `mirror`, `fallback`, `deadline`, `retries`). The root schema
 * (config/schema.ts) plugs these in; one source gives the types, the validator and docs.
 */

const obj = <T extends Record<string, TSchema>>(props: T, description: string) =>
  Type.Object(props, { additionalProperties: false, description });
const literals = <T extends string>(values: readonly T[], options: { default?: T; description: string }) =>
  Type.Union(values.map((v) => Type.Literal(v)), options);

export const BALANCE_NAMES = ['round-robin', 'weighted', 'least-connections', 'p2c-ewma', 'consistent-hash'] as const;

/** Conditions an attempt can fail on, for `retries.on`. */
export const RETRY_CONDITIONS = ['connect-error', 'reset', 'timeout', '500', '502', '503', '504'] as const;
export type RetryCondition = (typeof RETRY_CONDITIONS)[number];
/** Statuses may be written as numbers too (`on: [connect-error, 503]`). */
const RETRY_STATUSES = [500, 502, 503, 504] as const;

/** Idempotent methods (RFC 9110 §9.2.2): safe to send twice. */
export const IDEMPOTENT_METHODS = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'] as const;

export const HealthCheck = obj(
  {
    path: Type.String({ pattern: '^/', default: '/health', description: 'Path probed on every target.' }),
    method: literals(['GET', 'HEAD'], { default: 'GET', description: 'Probe method.' }),
    interval: Duration({ default: '10s', description: 'Time between probes of one target.' }),
    timeout: Duration({ default: '2s', description: 'A probe slower than this fails.' }),
    expect: Type.Array(Type.Union([Type.Integer({ minimum: 100, maximum: 599 }), Type.String({ pattern: '^[1-5][0-9][0-9]-[1-5][0-9][0-9]$' })]), {
      minItems: 1,
      default: ['200-299'],
      description: 'Statuses that count as healthy: codes (`204`) or ranges (`200-299`).',
    }),
    healthyAfter: Type.Integer({ minimum: 1, default: 2, description: 'Consecutive passing probes that bring an unhealthy target back.' }),
    unhealthyAfter: Type.Integer({ minimum: 1, default: 3, description: 'Consecutive failing probes that take a target out.' }),
  },
  'Active health checks: a probe per target per interval.',
);

export const OutlierDetection = obj(
  {
    consecutiveErrors: Type.Integer({ minimum: 0, default: 5, description: 'Failed attempts in a row (connect error, reset, timeout, 5xx) that eject a target; 0 turns passive detection off.' }),
    on5xx: Type.Boolean({ default: true, description: 'Count 5xx responses as failures (connect errors, resets and timeouts always count).' }),
    baseEjection: Duration({ default: '10s', description: 'Ejection time the first time; the n-th ejection lasts n × this.' }),
    maxEjection: Duration({ default: '5m', description: 'Upper bound of one ejection.' }),
  },
  'Passive outlier detection: eject targets that keep failing real traffic.',
);

export const CircuitBreaker = obj(
  {
    failureRatio: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.5, description: 'Open when failures / attempts in the window reach this ratio.' }),
    minRequests: Type.Integer({ minimum: 1, default: 20, description: 'Attempts needed in the window before the ratio counts.' }),
    window: Duration({ default: '10s', description: 'Sliding window the ratio is computed over.' }),
    openFor: Duration({ default: '15s', description: 'Time the breaker stays open (failing fast) before probing.' }),
    halfOpenRequests: Type.Integer({ minimum: 1, default: 3, description: 'Probes let through when half-open; all must succeed to close.' }),
    consecutiveFailures: Type.Integer({ minimum: 0, default: 0, description: 'Also open after this many failures in a row; 0 = off.' }),
  },
  'Circuit breaker for the whole upstream: closed → open → half-open.',
);

const retriesProps = (defaults: boolean) => {
  const d = <T>(v: T) => (defaults ? { default: v } : {});
  const from = defaults ? '' : ' (default: the upstream\'s)';
  const opt = <T extends TSchema>(t: T) => (defaults ? t : Type.Optional(t)) as T;
  return {
    attempts: opt(Type.Integer({ minimum: 1, maximum: 10, ...d(3), description: `Tries in all, the first included${from}.` })),
    on: opt(Type.Array(Type.Union([...RETRY_CONDITIONS.map((c) => Type.Literal(c)), ...RETRY_STATUSES.map((c) => Type.Literal(c))], { description: 'A retryable outcome.' }), {
      minItems: 1,
      uniqueItems: true,
      ...d(['connect-error', 'reset', '503']),
      description: `Outcomes that are retried${from}.`,
    })),
    backoff: opt(Duration({ ...d('25ms'), description: `Base of the exponential backoff (full jitter)${from}.` })),
    maxBackoff: opt(Duration({ ...d('250ms'), description: `Longest wait between two tries${from}.` })),
    budget: opt(Type.Number({ minimum: 0, maximum: 10, ...d(0.2), description: `Retries allowed per request over the budget window${from}.` })),
    minRetries: opt(Type.Integer({ minimum: 0, ...d(10), description: `Retries always allowed per window, so quiet upstreams can retry${from}.` })),
    budgetWindow: opt(Duration({ ...d('10s'), description: `Sliding window of the retry budget${from}.` })),
    maxReplayBody: opt(Size({ ...d('64kb'), description: `Largest request body kept for a replay; larger bodies stream and are not retried${from}.` })),
    methods: opt(Type.Array(Type.String({ pattern: '^[A-Z]+$' }), {
      minItems: 1,
      ...d([...IDEMPOTENT_METHODS]),
      description: `Methods that may be retried${defaults ? ' (idempotent ones)' : '; list POST etc. here to opt in per route'}${from}.`,
    })),
  };
};

export const Retries = obj(retriesProps(true), 'Retries of failed attempts, on another target when there is one.');
export const RouteRetries = obj(retriesProps(false), 'Retry settings for this route, over the upstream\'s (e.g. `methods: [GET, POST]` to opt POST in).');

export const DnsDiscovery = obj(
  {
    name: Type.String({ minLength: 1, description: 'DNS name to resolve (for SRV: `_http._tcp.api.internal`).' }),
    type: literals(['A', 'AAAA', 'SRV'], { default: 'A', description: 'Record type; SRV gives ports and weights.' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 80, description: 'Target port for A/AAAA records.' }),
    scheme: literals(['http', 'https'], { default: 'http', description: 'Scheme of the discovered targets.' }),
    refresh: Duration({ default: '30s', description: 'Re-resolution interval.' }),
    servers: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Resolvers (`10.0.0.2`, `127.0.0.1:8600`); default: the system\'s.' })),
  },
  'Targets from DNS, re-resolved.',
);

export const FileDiscovery = obj(
  {
    path: Type.String({ minLength: 1, description: 'JSON or YAML file holding a list like `targets:` (relative to the config).' }),
    interval: Duration({ default: '1s', description: 'How often the file is checked for changes.' }),
  },
  'Targets from a watched file.',
);

export const Sticky = obj(
  {
    cookie: Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$', default: 'gantry-sticky', description: 'Cookie naming the target (an opaque id, not its address).' }),
    ttl: Type.Optional(Duration({ description: 'Cookie Max-Age; default: a session cookie.' })),
    path: Type.String({ pattern: '^/', default: '/', description: 'Cookie Path.' }),
  },
  'Sticky sessions: a cookie pins a client to the target it was first sent to while that target is available.',
);

export const Queue = obj(
  {
    size: Type.Integer({ minimum: 0, default: 100, description: 'Requests that may wait for a slot.' }),
    timeout: Duration({ default: '1s', description: 'Longest wait for a slot before 503.' }),
  },
  'Waiting room for requests over `maxConcurrent`.',
);

/** The resilience keys of `upstreams.<name>` (spread into the Upstream schema). */
export const upstreamResilienceProps = {
  dns: Type.Optional(DnsDiscovery),
  file: Type.Optional(FileDiscovery),
  balance: literals(BALANCE_NAMES, { default: 'round-robin', description: 'Load-balancing algorithm.' }),
  hashOn: Type.String({ pattern: '^(ip|path|header:[A-Za-z0-9-]+|cookie:[!#$%&\'*+.^_`|~0-9A-Za-z-]+)$', default: 'ip', description: 'Key of `consistent-hash`: `ip`, `path`, `header:NAME` or `cookie:NAME`.' }),
  virtualNodes: Type.Integer({ minimum: 1, maximum: 1000, default: 160, description: 'Ring points per unit of weight (`consistent-hash`).' }),
  sticky: Type.Optional(Sticky),
  healthCheck: Type.Optional(HealthCheck),
  outlierDetection: Type.Optional(OutlierDetection),
  circuitBreaker: Type.Optional(CircuitBreaker),
  retries: Type.Optional(Retries),
  maxConcurrent: Type.Optional(Type.Integer({ minimum: 1, description: 'Requests in flight to this upstream at most; more wait in `queue` or get 503.' })),
  queue: Type.Optional(Queue),
};

export const SplitSide = obj(
  {
    upstream: Name({ description: 'Upstream serving this share.' }),
    weight: Type.Integer({ minimum: 0, maximum: 10_000, description: 'Relative share of traffic.' }),
  },
  'One side of a traffic split.',
);

export const SplitOptions = obj(
  {
    to: Type.Array(SplitSide, { minItems: 1, description: 'The sides and their weights.' }),
    override: Type.Optional(
      obj(
        {
          header: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9-]+$', description: 'Request header whose value names the upstream to use.' })),
          cookie: Type.Optional(Type.String({ minLength: 1, description: 'Cookie whose value names the upstream to use.' })),
        },
        'Force a side (testers, internal users): the value must name one of the split\'s upstreams.',
      ),
    ),
    stickyBy: Type.Optional(literals(['consumer', 'ip', 'cookie'], { description: 'Keep one client on one side: by consumer id (else ip), client ip, or a cookie the gateway sets.' })),
    // Optional rather than defaulted: Ajv does not fill defaults inside a union branch.
    cookie: Type.Optional(Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$', description: 'Cookie used by `stickyBy: cookie` (default `gantry-split`).' })),
  },
  'A traffic split with options.',
);

export const Fallback = obj(
  {
    static: Type.Optional(
      obj(
        {
          status: Type.Integer({ minimum: 100, maximum: 599, default: 200, description: 'Status code.' }),
          headers: Type.Optional(Type.Record(HeaderName(), Type.String(), { additionalProperties: false, description: 'Response headers.' })),
          body: Type.Optional(Type.Unknown({ description: 'A string, or a value sent as JSON.' })),
        },
        'A fixed response.',
      ),
    ),
    upstream: Type.Optional(Name({ description: 'Another upstream to send the request to.' })),
    on: Type.Array(literals(['circuit-open', 'no-target', 'overloaded', 'upstream-error', 'deadline'], { description: 'A failure the fallback answers.' }), {
      minItems: 1,
      uniqueItems: true,
      default: ['circuit-open', 'no-target'],
      description: 'Failures the fallback answers instead of an error (`upstream-error`: the last attempt failed before any response byte).',
    }),
  },
  'What answers when the upstream cannot: a static response or another upstream.',
);

/** The resilience keys of a route (spread into the Route schema). */
export const routeResilienceProps = {
  split: Type.Optional(
    Type.Union([Type.Array(SplitSide, { minItems: 1 }), SplitOptions], { description: 'Weighted canary / blue-green: `[{ upstream, weight }]` or `{ to: […], override, stickyBy }`.' }),
  ),
  mirror: Type.Optional(
    obj(
      {
        upstream: Name({ description: 'Upstream receiving the copies.' }),
        percent: Type.Number({ minimum: 0, maximum: 100, default: 100, description: 'Share of requests copied.' }),
        maxBody: Size({ default: '64kb', description: 'Requests with a larger body are not mirrored (the body would have to be held).' }),
      },
      'Shadow traffic: a fire-and-forget copy whose response and errors never reach the client.',
    ),
  ),
  fallback: Type.Optional(Fallback),
  deadline: Type.Optional(Duration({ description: 'Latency budget from accept to response head, across every attempt and backoff; propagated upstream; 504 when spent.' })),
  retries: Type.Optional(RouteRetries),
};

export type RetriesConfig = Static<typeof Retries>;
export type RouteRetriesConfig = Static<typeof RouteRetries>;
export type HealthCheckConfig = Static<typeof HealthCheck>;
export type OutlierConfig = Static<typeof OutlierDetection>;
export type BreakerConfig = Static<typeof CircuitBreaker>;
export type DnsDiscoveryConfig = Static<typeof DnsDiscovery>;
export type FileDiscoveryConfig = Static<typeof FileDiscovery>;
export type SplitConfig = Static<(typeof routeResilienceProps)['split']>;
export type FallbackConfig = Static<typeof Fallback>;
