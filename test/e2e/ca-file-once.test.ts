import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, startGateway, type TestGateway } from '../helpers.js';
import { bindGrpc } from '../grpc-fixtures.js';
import { handshake, issue, makeCa, writeSwapAtBuildPlugin, type Issued } from '../tls-fixtures.js';

const PROTO = `syntax = "proto3";
package echo.v1;
message Req { string id = 1; }
message Res { string id = 1; }
service Echo { rpc Get(Req) returns (Res); }
`;

/**
 * A CA file is read once per load: the listener and the gRPC channels a load builds take the
 * bytes its check read, not a second read of a file that may have changed in between (a
 * rotation while a reload runs). The change is made deterministic by a plugin policy whose
 * `create` (run at build, after the load's checks, before the gRPC handler and the listeners
 * are built) overwrites both CA files with another CA.
 */
describe('CA files: what a load builds is what it checked', () => {
  let dir: string;
  let gw: TestGateway;
  let backendPort: number;
  let server: grpc.Server;
  let clientCa: Issued;
  let client: Issued;
  let serverCa: Issued;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-ca-once-'));
    const [targetCa, other] = await Promise.all([makeCa('ca-once target CA'), makeCa('ca-once other CA')]);
    [clientCa, serverCa] = await Promise.all([makeCa('ca-once client CA'), makeCa('ca-once listener CA')]);
    const [target, listener] = await Promise.all([
      issue(targetCa, { cn: 'echo.internal', usage: 'server', dns: ['echo.internal'] }),
      issue(serverCa, { cn: 'gw.internal', usage: 'server', dns: ['gw.internal'] }),
    ]);
    client = await issue(clientCa, { cn: 'client-1', usage: 'client' });
    writeFileSync(join(dir, 'echo.proto'), PROTO);
    writeFileSync(join(dir, 'target-ca.pem'), targetCa.cert);
    writeFileSync(join(dir, 'client-ca.pem'), clientCa.cert);
    writeFileSync(join(dir, 'other-ca.pem'), other.cert);
    writeFileSync(join(dir, 'gw.pem'), listener.cert);
    writeFileSync(join(dir, 'gw-key.pem'), listener.key);
    writeSwapAtBuildPlugin(join(dir, 'rotate.mjs'), 'rotate-cas', [
      [join(dir, 'other-ca.pem'), join(dir, 'target-ca.pem')],
      [join(dir, 'other-ca.pem'), join(dir, 'client-ca.pem')],
    ]);

    const def = protoLoader.loadSync(join(dir, 'echo.proto'));
    const pkg = grpc.loadPackageDefinition(def) as unknown as { echo: { v1: { Echo: grpc.ServiceClientConstructor } } };
    server = new grpc.Server();
    server.addService(pkg.echo.v1.Echo.service, {
      Get(call: grpc.ServerUnaryCall<{ id: string }, unknown>, cb: grpc.sendUnaryData<{ id: string }>) {
        cb(null, { id: call.request.id });
      },
    });
    backendPort = await bindGrpc(server, grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(target.key), cert_chain: Buffer.from(target.cert) }]));

    gw = await startGateway(
      `version: 1
listeners:
  - { name: public, port: 0, host: 127.0.0.1 }
  - name: mtls
    port: 0
    host: 127.0.0.1
    protocol: https
    tls: { cert: ./gw.pem, key: ./gw-key.pem, clientCa: ./client-ca.pem, clientAuth: required }
plugins: [ ./rotate.mjs ]
policies: [ { rotate-cas: {} } ]
upstreams:
  echo: { targets: [ "https://127.0.0.1:${backendPort}" ] }
routes:
  - name: echo
    listeners: [ public ]
    match: { path: /echo/:id }
    grpc: { upstream: echo, protoFile: ./echo.proto, method: echo.v1.Echo/Get, tls: { ca: ./target-ca.pem, serverName: echo.internal } }
`,
      { file: join(dir, 'gateway.yaml') },
    );
  });

  afterAll(async () => {
    await gw?.close();
    server?.forceShutdown();
  });

  it('the gRPC channel trusts the CA the load checked', async () => {
    const res = await httpRequest(`${gw.url}/echo/e1`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ id: 'e1' });
  });

  it("the listener verifies client certificates against the clientCa the load checked", async () => {
    const port = gw.gw.addresses().mtls!.port;
    // TLS 1.2: the server's verdict on the client certificate is part of the handshake.
    const seen = await handshake(port, 'gw.internal', { ca: serverCa.cert, client, maxVersion: 'TLSv1.2' });
    expect(seen.cn).toBe('gw.internal');
  });
});
