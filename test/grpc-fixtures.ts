import * as grpc from '@grpc/grpc-js';

/**
 * Binds a grpc-js test server to a free 127.0.0.1 port and resolves with the port.
 *
 * @example const port = await bindGrpc(server);
 */
export function bindGrpc(server: grpc.Server, creds: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))));
}
