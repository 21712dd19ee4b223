import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, startGateway, type TestGateway } from '../helpers.js';
import { bindGrpc } from '../grpc-fixtures.js';

/** grpc-gateway's finer points of transcoding: json_name in field paths, path escapes. */
const PROTO = `syntax = "proto3";
package tc.v1;
import "google/api/annotations.proto";

message Shelf { string name = 1; string theme = 2; }
message Named { string name = 1; }
message PutShelfRequest {
  string shelf_id = 1 [json_name = "id"];
  Shelf shelf_data = 2 [json_name = "shelf"];
  string tag_line = 3 [json_name = "tag"];
}
message PutShelfResponse { Shelf stored = 1 [json_name = "result"]; string note = 2; }

service Transcode {
  rpc PutShelf(PutShelfRequest) returns (PutShelfResponse) {
    option (google.api.http) = { put: "/v1/shelf/{id}" body: "shelf" response_body: "result" };
  }
  rpc GetName(Named) returns (Named) {
    option (google.api.http) = { get: "/v1/names/{name}" additional_bindings { get: "/v1/{name=shelves/**}" } };
  }
}
`;

type Obj = Record<string, unknown>;

async function startBackend(protoFile: string, includeDirs: string[]) {
  const def = protoLoader.loadSync(protoFile, { longs: String, enums: String, defaults: true, includeDirs });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { tc: { v1: { Transcode: grpc.ServiceClientConstructor } } };
  const seen: { method: string; request: Obj }[] = [];
  const unary = (name: string, answer: (r: Obj) => Obj) => (call: grpc.ServerUnaryCall<Obj, Obj>, cb: grpc.sendUnaryData<Obj>) => {
    seen.push({ method: name, request: call.request });
    cb(null, answer(call.request));
  };
  const server = new grpc.Server();
  server.addService(pkg.tc.v1.Transcode.service, {
    PutShelf: unary('PutShelf', (r) => ({ stored: { ...(r.shelfData as Obj), name: `${String(r.shelfId)}/${String(r.tagLine)}` }, note: 'n' })),
    GetName: unary('GetName', (r) => ({ name: r.name })),
  });
  const port = await bindGrpc(server);
  return { port, seen, close: () => server.forceShutdown() };
}

describe('grpc transcoding details (grpc-gateway parity)', () => {
  let backend: Awaited<ReturnType<typeof startBackend>>;
  let gw: TestGateway;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-grpc-tc-'));
    writeFileSync(join(dir, 'transcode.proto'), PROTO);
    // The backend finds google/api/*.proto where the gateway does: beside the proto, then in protobufjs's package.
    backend = await startBackend(join(dir, 'transcode.proto'), [dir, dirname(createRequire(import.meta.url).resolve('protobufjs'))]);
    const cfg = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  tc: { targets: [ "http://127.0.0.1:${backend.port}" ] }
routes:
  - name: transcode
    match: { path: /v1/* }
    grpc: { upstream: tc, protoFile: ./transcode.proto, service: tc.v1.Transcode }
`;
    gw = await startGateway(cfg, { file: join(dir, 'gateway.yaml') });
  });

  afterAll(async () => {
    await gw?.close();
    backend?.close();
  });

  const last = () => backend.seen.at(-1)!;

  it('body, response_body, path variables and query parameters may name a field by its json_name', async () => {
    const res = await httpRequest(`${gw.url}/v1/shelf/s1?tag=t1`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ theme: 'sf' }) });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ name: 's1/t1', theme: 'sf' });
    expect(last()).toMatchObject({ method: 'PutShelf', request: { shelfId: 's1', tagLine: 't1', shelfData: { theme: 'sf' } } });
    // The proto spelling still works for query parameters.
    const proto = await httpRequest(`${gw.url}/v1/shelf/s2?tag_line=t2`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(proto.json()).toEqual({ name: 's2/t2', theme: '' });
  });

  it.each([
    ['a single-segment variable is decoded whole, %2F included', '/v1/names/a%2Fb%20c%3A', 'a/b c:'],
    ['a "**" binding keeps reserved escapes as sent and decodes the rest', '/v1/shelves/a%2Fb/c%20d%3Ae/%C3%A9', 'shelves/a%2Fb/c d%3Ae/\u00e9'],
    ['a "**" binding: plain segments', '/v1/shelves/s1/books/b1', 'shelves/s1/books/b1'],
  ])('%s: %s', async (_what, path, name) => {
    const res = await httpRequest(`${gw.url}${path}`);
    expect(res.status).toBe(200);
    expect(last()).toMatchObject({ method: 'GetName', request: { name } });
    expect(res.json()).toEqual({ name });
  });
});
