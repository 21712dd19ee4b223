import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Duration, HeaderName, HttpUrl } from './types.js';

/**
 * Config sections for operating the gateway: the admin listener, telemetry (traces),
 * access logs and reload. Imported by config/schema.ts; documented in docs/operations.md.
 */

const obj = <T extends Record<string, TSchema>>(props: T, description: string, options: { default?: unknown } = {}) =>
  Type.Object(props, { additionalProperties: false, description, ...options });

export const Admin = obj(
  {
    host: Type.String({ default: '127.0.0.1', description: 'Address the admin listener binds; loopback unless you mean to expose it.' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 9901, description: 'Admin TCP port; 0 picks a free one.' }),
    token: Type.String({
      default: '',
      description: 'Bearer token required on every admin endpoint except /healthz and /readyz; usually `${GANTRY_ADMIN_TOKEN}`. Must not be empty: an admin section without a token is a config error.',
    }),
  },
  'The admin listener: /metrics, /api/status, /api/reload, /healthz, /readyz.',
);

export const Tracing = obj(
  {
    endpoint: HttpUrl({ description: 'OTLP/HTTP traces endpoint, e.g. `http://otel-collector:4318/v1/traces`.' }),
    sampleRatio: Type.Number({ minimum: 0, maximum: 1, default: 1, description: 'Share of new traces recorded; a sampled parent (traceparent flag) is always followed.' }),
    serviceName: Type.String({ minLength: 1, default: 'gantry', description: 'The `service.name` resource attribute.' }),
    headers: Type.Record(HeaderName(), Type.String(), { additionalProperties: false, default: {}, description: 'Extra HTTP headers on export requests (collector auth).' }),
    flushInterval: Duration({ default: '5s', description: 'Longest time a finished span waits in the batch before export.' }),
  },
  'OpenTelemetry traces: a server span per request, a client span per upstream attempt.',
);

export const Telemetry = obj(
  {
    tracing: Type.Optional(Tracing),
  },
  'Telemetry export. Metrics are always on (admin `/metrics`).',
);

export const ACCESS_LOG_FIELDS = [
  'requestId',
  'method',
  'path',
  'query',
  'route',
  'status',
  'target',
  'upstreamMs',
  'totalMs',
  'bytesIn',
  'bytesOut',
  'clientIp',
  'listener',
  'consumer',
  'tenant',
  'apiVersion',
  'error',
  'traceId',
  'userAgent',
  'headers',
  'httpVersion',
] as const;

/*
 * Every field is optional with its default: `log.access` is `true | false | {…}`, and Ajv
 * does not apply defaults inside `anyOf`, so the access-log compiler re-validates the
 * object against this schema to fill them in (observability/access-log.ts).
 */
export const AccessLog = obj(
  {
    enabled: Type.Optional(Type.Boolean({ default: true, description: 'Write access-log lines.' })),
    output: Type.Optional(Type.String({ minLength: 1, default: 'stdout', description: '`stdout`, `stderr`, or a file path (relative to the config file), appended to.' })),
    fields: Type.Optional(
      Type.Array(Type.Union(ACCESS_LOG_FIELDS.map((f) => Type.Literal(f))), {
        default: ['requestId', 'method', 'path', 'route', 'status', 'target', 'upstreamMs', 'totalMs', 'bytesIn', 'bytesOut', 'clientIp', 'listener', 'consumer', 'tenant', 'apiVersion', 'error'],
        uniqueItems: true,
        description: 'Fields of each line, in order.',
      }),
    ),
    headers: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }), {
        default: [],
        description: 'Request headers logged under `headers` (add `headers` to fields); redacted ones show `[REDACTED]`.',
      }),
    ),
    sample: Type.Optional(
      obj(
        {
          successes: Type.Optional(
            Type.Number({ minimum: 0, maximum: 1, default: 1, description: 'Share of successful (< 400) requests logged; errors and aborted requests are always logged.' }),
          ),
        },
        'Sampling.',
        { default: {} },
      ),
    ),
    redact: Type.Optional(
      obj(
        {
          headers: Type.Optional(
            Type.Array(Type.String(), {
              default: ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'api-key'],
              description: 'Header names whose values are never written.',
            }),
          ),
          query: Type.Optional(
            Type.Array(Type.String(), {
              default: ['api_key', 'apikey', 'api-key', 'key', 'token', 'access_token', 'id_token', 'password', 'secret'],
              description: 'Query parameter names whose values are never written.',
            }),
          ),
        },
        'What is never written to the access log.',
        { default: {} },
      ),
    ),
  },
  'Access-log settings.',
);

export const Reload = obj(
  {
    watch: Type.Boolean({ default: true, description: 'Reload when the config file (or a file of the config folder) changes, or a file it references: listener and upstream TLS files, validate schema files (`gantry start`).' }),
    debounce: Duration({ default: '300ms', description: 'Quiet time after the last change before reloading.' }),
  },
  'Zero-downtime reload triggers (SIGHUP and `POST /api/reload` always work).',
);

export type AdminConfig = Static<typeof Admin>;
export type TracingConfig = Static<typeof Tracing>;
export type TelemetryConfig = Static<typeof Telemetry>;
/** Access-log settings with every default applied. */
export interface AccessLogConfig {
  enabled: boolean;
  output: string;
  fields: AccessLogField[];
  headers: string[];
  sample: { successes: number };
  redact: { headers: string[]; query: string[] };
}
export type AccessLogField = (typeof ACCESS_LOG_FIELDS)[number];
export type ReloadConfig = Static<typeof Reload>;
