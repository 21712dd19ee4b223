import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';

/**
 * Binds a grpc-js test server to a free 127.0.0.1 port and resolves with the port.
 *
 * @example const port = await bindGrpc(server);
 */
export function bindGrpc(server: grpc.Server, creds: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))));
}

/**
 * Writes googleapis' google/api/httpbody.proto under `dir` (neither protobufjs nor the gateway
 * ships it), so a proto in `dir` can `import "google/api/httpbody.proto";`.
 *
 * @example writeHttpBodyProto(dir); // dir/google/api/httpbody.proto
 */
export function writeHttpBodyProto(dir: string): void {
  mkdirSync(join(dir, 'google', 'api'), { recursive: true });
  writeFileSync(
    join(dir, 'google', 'api', 'httpbody.proto'),
    `syntax = "proto3";
package google.api;
import "google/protobuf/any.proto";
message HttpBody {
  string content_type = 1;
  bytes data = 2;
  repeated google.protobuf.Any extensions = 3;
}
`,
  );
}
