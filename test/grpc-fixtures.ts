import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export type GrpcObj = Record<string, unknown>;

/** A call a recording backend received: the method's name and the decoded request. */
export interface RecordedCall {
  method: string;
  request: GrpcObj;
}

/** Where protobufjs ships google/api/*.proto and google/protobuf/*.proto: the gateway finds them there too. */
export const PROTOBUFJS_DIR = dirname(createRequire(import.meta.url).resolve('protobufjs'));

/**
 * A grpc-js server for `service` (its full name, `pkg.v1.Service`) of `protoFile` on a free
 * 127.0.0.1 port, recording each call in `seen`. `methods` builds the implementation; its
 * `unary(name, answer)` makes a recorded unary method answering `answer(request)`.
 *
 * @example
 *   const b = await startRecordingService(file, 'lib.v1.Library', [PROTOBUFJS_DIR], ({ unary }) => ({ GetBook: unary('GetBook', (r) => ({ name: r.name })) }));
 *   b.seen; // [{ method: 'GetBook', request: { name: … } }] after a call
 */
export async function startRecordingService(
  protoFile: string,
  service: string,
  includeDirs: string[],
  methods: (h: { unary: (name: string, answer: (r: GrpcObj) => GrpcObj) => grpc.handleUnaryCall<GrpcObj, GrpcObj>; seen: RecordedCall[] }) => grpc.UntypedServiceImplementation,
): Promise<{ port: number; seen: RecordedCall[]; close: () => void }> {
  const def = protoLoader.loadSync(protoFile, { longs: String, enums: String, defaults: true, includeDirs });
  const ctor = service.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], grpc.loadPackageDefinition(def)) as grpc.ServiceClientConstructor;
  const seen: RecordedCall[] = [];
  const unary = (name: string, answer: (r: GrpcObj) => GrpcObj) => (call: grpc.ServerUnaryCall<GrpcObj, GrpcObj>, cb: grpc.sendUnaryData<GrpcObj>) => {
    seen.push({ method: name, request: call.request });
    cb(null, answer(call.request));
  };
  const server = new grpc.Server();
  server.addService(ctor.service, methods({ unary, seen }));
  const port = await bindGrpc(server);
  return { port, seen, close: () => server.forceShutdown() };
}

/**
 * A grpc-js server in its own process, so a test can really kill it (SIGKILL: no GOAWAY, no
 * status, the connection just closes). Every method of `service` is taken as server streaming:
 * it writes `count` messages `{ id: 'm<i>' }` (the request's `count`, the reply's `id`), then
 * never ends. Resolves once it listens; `calls()` counts the calls it received, `kill()` ends it.
 *
 * @example
 *   const p = await startGrpcProcess(file, 'st.v1.Items', []);
 *   p.kill(); // mid-stream: the gateway's call ends with UNAVAILABLE "Connection dropped"
 */
export async function startGrpcProcess(protoFile: string, service: string, includeDirs: string[]): Promise<{ port: number; child: ChildProcess; calls: () => number; kill: () => void }> {
  const require = createRequire(import.meta.url);
  const src = `const grpc = require(${JSON.stringify(require.resolve('@grpc/grpc-js'))});
const def = require(${JSON.stringify(require.resolve('@grpc/proto-loader'))}).loadSync(${JSON.stringify(protoFile)}, { defaults: true, includeDirs: ${JSON.stringify(includeDirs)} });
const ctor = ${JSON.stringify(service)}.split('.').reduce((o, k) => o[k], grpc.loadPackageDefinition(def));
const impl = {};
for (const name of Object.keys(ctor.service)) impl[name] = (call) => { process.stdout.write('.'); for (let i = 0; i < call.request.count; i++) call.write({ id: 'm' + i }); };
const server = new grpc.Server();
server.addService(ctor.service, impl);
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, port) => { if (e) throw e; process.stdout.write(port + '\\n'); });`;
  const child = spawn(process.execPath, ['-e', src], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(Number(out.slice(0, out.indexOf('\n'))));
    });
    child.once('exit', (code) => reject(new Error(`the gRPC server process exited (${code}) before listening`)));
  });
  return { port, child, calls: () => out.length - out.indexOf('\n') - 1, kill: () => child.kill('SIGKILL') };
}

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
