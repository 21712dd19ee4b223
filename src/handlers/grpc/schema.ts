import { Type, type Static } from '@sinclair/typebox';
import { Duration, Name, Size } from '../../config/types.js';

/** Client headers always sent as gRPC metadata: correlation id and W3C Trace Context. */
export const ALWAYS_FORWARDED = ['x-request-id', 'traceparent', 'tracestate'] as const;

/**
 * Route target `grpc:`: REST/JSON in, one gRPC call to a target of `upstream` out
 * (see docs/grpc.md). The proto is loaded and the method resolved at config load.
 *
 * @example
 *   grpc:
 *     upstream: users-grpc
 *     protoFile: ./protos/users.proto
 *     method: shop.users.v1.Users/GetUser
 *     timeout: 5s
 */
export const GrpcSchema = Type.Object(
  {
    upstream: Name({ description: 'Upstream whose targets serve gRPC: `http://host:port` is plaintext HTTP/2 (h2c), `https://host:port` is TLS.' }),
    protoFile: Type.String({ minLength: 1, description: 'The `.proto` file declaring the service, relative to the config file.' }),
    includeDirs: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Directories `import`s are resolved against (relative to the config file), tried in order after the proto file\'s own directory. The well-known types and `google/api/annotations.proto` / `http.proto` are built in.',
    }),
    method: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*/[A-Za-z_][A-Za-z0-9_]*$',
        description: 'The method called: `package.Service/Method`. Unary and server-streaming methods; client and bidi streaming are refused at load. Set `method` or `service`. Default: none.',
      }),
    ),
    service: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*$',
        description:
          'Serve every method of this service (`package.Service`) that has `google.api.http` annotations: the binding matching the request\'s verb and path picks the method; no binding → 404, another verb → 405. The route\'s `match.path` is a prefix such as `/v1/*`. Set `method` or `service`. Default: none.',
      }),
    ),
    body: Type.String({
      pattern: '^(\\*|[A-Za-z_][A-Za-z0-9_]*)?$',
      default: '*',
      description:
        'Where the JSON body of a POST/PUT/PATCH goes (as `google.api.http` `body`): `*` the whole request message, a field name that field, `""` nowhere (the body is not read). Query parameters fill the other fields; path params win over both. Not on a `service` route: each google.api.http binding has its own.',
    }),
    timeout: Duration({ default: '30s', description: 'Deadline of the call (sent as `grpc-timeout`); past it → 504.' }),
    maxBodySize: Size({ default: '1mb', description: 'Largest request body read (JSON, or raw bytes for a google.api.HttpBody); larger → 413.' }),
    forwardHeaders: Type.Array(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }), {
      uniqueItems: true,
      default: [],
      description:
        'Request headers (as the request-phase policies left them) sent as gRPC metadata, besides `x-request-id`, `traceparent` and `tracestate`, which always are. Names are lowercased; `grpc-*` and HTTP/2 connection headers cannot be listed.',
    }),
    tls: Type.Optional(
      Type.Object(
        {
          ca: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of the CA that signs the targets\' certificates (relative to the config file). Default: the system roots.' })),
          serverName: Type.Optional(Type.String({ minLength: 1, description: 'Name the target certificate must carry, when it is not the target host.' })),
        },
        { additionalProperties: false, description: 'TLS settings for `https://` targets.' },
      ),
    ),
  },
  { additionalProperties: false, description: 'Transcode REST/JSON to a gRPC call on an upstream (see docs/grpc.md).' },
);

export type GrpcConfig = Static<typeof GrpcSchema>;
