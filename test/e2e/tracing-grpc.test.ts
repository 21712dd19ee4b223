import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpRequest, startGateway, type TestGateway } from '../helpers.js';
import { startGrpcProcess, startRecordingService } from '../grpc-fixtures.js';
import { attr, ERROR, startReceiver, UNSET, type OtlpSpan } from '../otlp-fixtures.js';

/**
 * gRPC calls of `grpc:` routes traced as the proxy's attempts are: a CLIENT span per call,
 * child of the request's SERVER span, named and attributed per the OTel RPC semantic
 * conventions, whose context the backend receives as `traceparent` metadata.
 */

const PROTO = `syntax = "proto3";
package tg.v1;
message GetRequest { string id = 1; }
message Item { string id = 1; }
service Items {
  rpc Get(GetRequest) returns (Item);
  rpc List(GetRequest) returns (stream Item);
}
`;

type Obj = Record<string, unknown>;
/** What the backend received: the method and its trace metadata. */
interface SeenCall {
  method: string;
  traceparent: string[];
  tracestate: string[];
}

/** Get answers `{ id }`, or NOT_FOUND for id `missing`; List streams two items. Records each call's trace metadata. */
async function startBackend(protoFile: string) {
  const calls: SeenCall[] = [];
  const see = (method: string, md: grpc.Metadata) => calls.push({ method, traceparent: md.get('traceparent').map(String), tracestate: md.get('tracestate').map(String) });
  const b = await startRecordingService(protoFile, 'tg.v1.Items', [], () => ({
    Get(call: grpc.ServerUnaryCall<Obj, Obj>, cb: grpc.sendUnaryData<Obj>) {
      see('Get', call.metadata);
      const id = (call.request as { id: string }).id;
      if (id === 'missing') cb({ code: grpc.status.NOT_FOUND, details: 'no such item' });
      else cb(null, { id });
    },
    List(call: grpc.ServerWritableStream<Obj, Obj>) {
      see('List', call.metadata);
      call.write({ id: 'a' });
      call.write({ id: 'b' });
      call.end();
    },
  }));
  return { ...b, calls };
}

function writeProto(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-trace-grpc-calls-'));
  writeFileSync(join(dir, 'items.proto'), PROTO);
  return dir;
}

const routes = `routes:
  - name: get
    match: { path: /items/:id, methods: [GET] }
    grpc: { upstream: items, protoFile: ./items.proto, method: tg.v1.Items/Get }
  - name: list
    match: { path: /list/:id, methods: [GET] }
    grpc: { upstream: items, protoFile: ./items.proto, method: tg.v1.Items/List }
`;

/** The head of a config whose one listener traces every request to the OTLP receiver at `url`. */
const traced = (url: string) => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
telemetry:
  tracing: { endpoint: "${url}", sampleRatio: 1, flushInterval: 50ms }
`;

const CALLER = '00f067aa0ba902b7';
const traceparentOf = (traceId: string, flags = '01') => `00-${traceId}-${CALLER}-${flags}`;

describe('tracing gRPC calls', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  let gw: TestGateway;

  beforeAll(async () => {
    receiver = await startReceiver();
    const dir = writeProto();
    backend = await startBackend(join(dir, 'items.proto'));
    gw = await startGateway(
      `${traced(receiver.url)}upstreams:
  items: { targets: [ "http://127.0.0.1:${backend.port}" ] }
${routes}`,
      { file: join(dir, 'gateway.yaml') },
    );
  });
  afterAll(async () => {
    await gw?.close();
    backend?.close();
    await receiver?.close();
  });

  /** The server span and the gRPC client span of a trace, once exported. */
  const spansOf = async (traceId: string): Promise<{ server: OtlpSpan; client: OtlpSpan }> => {
    const server = await eventually(() => receiver.spans.find((s) => s.traceId === traceId && s.kind === 2), 5000, 'the server span');
    const client = await eventually(() => receiver.spans.find((s) => s.traceId === traceId && s.kind === 3), 5000, 'the client span');
    return { server, client };
  };

  it.each([
    // Every status but OK is an error on a client span (OTel RPC semconv); NOT_FOUND answers 404, not an error on the server span.
    { what: 'a unary call answered OK', path: '/items/7', method: 'Get', http: 200, code: 0, status: UNSET, serverStatus: UNSET },
    { what: 'a unary call answered NOT_FOUND', path: '/items/missing', method: 'Get', http: 404, code: 5, status: ERROR, serverStatus: UNSET },
    { what: 'a server-streaming call', path: '/list/x', method: 'List', http: 200, code: 0, status: UNSET, serverStatus: UNSET },
  ])('$what: a client span, child of the server span, parent of the backend', async ({ path, method, http, code, status, serverStatus }) => {
    const traceId = crypto.randomUUID().replaceAll('-', '');
    const seen = backend.calls.length;
    const res = await httpRequest(`${gw.url}${path}`, { headers: { traceparent: traceparentOf(traceId), tracestate: 'vendor=abc' } });
    expect(res.status).toBe(http);
    const { server, client } = await spansOf(traceId);
    expect(server.parentSpanId).toBe(CALLER);
    expect(server.status?.code ?? UNSET).toBe(serverStatus);
    expect(client.parentSpanId).toBe(server.spanId);
    expect(client.name).toBe(`tg.v1.Items/${method}`);
    expect(attr(client, 'rpc.system')).toBe('grpc');
    expect(attr(client, 'rpc.service')).toBe('tg.v1.Items');
    expect(attr(client, 'rpc.method')).toBe(method);
    expect(attr(client, 'rpc.grpc.status_code')).toBe(code);
    expect(attr(client, 'server.address')).toBe('127.0.0.1');
    expect(attr(client, 'server.port')).toBe(backend.port);
    expect(attr(client, 'gantry.upstream')).toBe('items');
    expect(client.status?.code ?? UNSET).toBe(status);
    if (status === ERROR) {
      expect(attr(client, 'error.type')).toBe(String(code));
      expect(client.status?.message).toBe('no such item');
    } else expect(attr(client, 'error.type')).toBeUndefined();
    // The backend's parent is the gateway's client span, in the caller's trace, with its tracestate; one value each.
    expect(backend.calls.slice(seen)).toEqual([{ method, traceparent: [`00-${traceId}-${client.spanId}-01`], tracestate: ['vendor=abc'] }]);
  });

  it('a call the gateway could not make is an error client span (connect_error)', async () => {
    const dead = await startGateway(
      `${traced(receiver.url)}upstreams:
  items: { targets: [ "http://127.0.0.1:1" ] }
${routes}`,
      { file: join(writeProto(), 'gateway.yaml') },
    );
    try {
      const traceId = crypto.randomUUID().replaceAll('-', '');
      expect((await httpRequest(`${dead.url}/items/1`, { headers: { traceparent: traceparentOf(traceId) } })).status).toBe(502);
      const { server, client } = await spansOf(traceId);
      expect(client.parentSpanId).toBe(server.spanId);
      expect(attr(client, 'rpc.grpc.status_code')).toBe(14);
      expect(attr(client, 'error.type')).toBe('connect_error');
      expect(client.status?.code).toBe(ERROR);
    } finally {
      await dead.close();
    }
  });
});

/** Not traced (tracing off, or a request not sampled): the call's metadata is as it always was. */
describe('gRPC calls not traced', () => {
  let backend: Awaited<ReturnType<typeof startBackend>>;
  let dir: string;

  beforeAll(async () => {
    dir = writeProto();
    backend = await startBackend(join(dir, 'items.proto'));
  });
  afterAll(() => backend?.close());

  it.each([
    { what: 'tracing off', telemetry: '', flags: '01' },
    { what: 'an unsampled request at sampleRatio 0', telemetry: 'telemetry: { tracing: { endpoint: "http://127.0.0.1:1/v1/traces", sampleRatio: 0 } }\n', flags: '00' },
  ])('$what: the client traceparent and tracestate go to the backend untouched', async ({ telemetry, flags }) => {
    const gw = await startGateway(
      `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
${telemetry}upstreams:
  items: { targets: [ "http://127.0.0.1:${backend.port}" ] }
${routes}`,
      { file: join(dir, 'gateway.yaml') },
    );
    try {
      const tp = traceparentOf('4bf92f3577b34da6a3ce929d0e0e4736', flags);
      const seen = backend.calls.length;
      expect((await httpRequest(`${gw.url}/items/7`, { headers: { traceparent: tp, tracestate: 'vendor=abc' } })).status).toBe(200);
      expect((await httpRequest(`${gw.url}/list/7`, { headers: { traceparent: tp } })).status).toBe(200);
      expect(backend.calls.slice(seen)).toEqual([
        { method: 'Get', traceparent: [tp], tracestate: ['vendor=abc'] },
        { method: 'List', traceparent: [tp], tracestate: [] },
      ]);
    } finally {
      await gw.close();
    }
  });
});

/**
 * Calls that end without a status from the server: the server process killed mid-stream
 * (`reset`) and the caller leaving mid-stream, which the gateway cancels (`aborted`). The
 * servers run in their own processes and write `count` messages, then hold the stream open.
 */
describe('gRPC client spans of broken and abandoned calls', () => {
  const STREAM_PROTO = `syntax = "proto3";
package tb.v1;
message ListRequest { string tag = 1; int32 count = 2; }
message Item { string id = 1; }
service Items { rpc List(ListRequest) returns (stream Item); }
`;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let killed: Awaited<ReturnType<typeof startGrpcProcess>>;
  let held: Awaited<ReturnType<typeof startGrpcProcess>>;
  let gw: TestGateway;

  beforeAll(async () => {
    receiver = await startReceiver();
    const dir = mkdtempSync(join(tmpdir(), 'gantry-trace-grpc-broken-'));
    writeFileSync(join(dir, 'items.proto'), STREAM_PROTO);
    killed = await startGrpcProcess(join(dir, 'items.proto'), 'tb.v1.Items', []);
    held = await startGrpcProcess(join(dir, 'items.proto'), 'tb.v1.Items', []);
    gw = await startGateway(
      `${traced(receiver.url)}upstreams:
  killed: { targets: [ "http://127.0.0.1:${killed.port}" ] }
  held: { targets: [ "http://127.0.0.1:${held.port}" ] }
routes:
  - { name: killed, match: { path: /killed/:tag }, grpc: { upstream: killed, protoFile: ./items.proto, method: tb.v1.Items/List } }
  - { name: held, match: { path: /held/:tag }, grpc: { upstream: held, protoFile: ./items.proto, method: tb.v1.Items/List } }
`,
      { file: join(dir, 'gateway.yaml') },
    );
  });
  afterAll(async () => {
    await gw?.close();
    killed?.kill();
    held?.kill();
    await receiver?.close();
  });

  /** Opens a stream of one message; resolves with the request once that message arrived, and a promise of the end of the response. */
  function openStream(path: string, traceId: string): Promise<{ req: http.ClientRequest; ended: Promise<void> }> {
    return new Promise((resolve, reject) => {
      const req = http.get(`${gw.url}${path}?count=1`, { agent: false, headers: { traceparent: traceparentOf(traceId) } }, (res) => {
        expect(res.statusCode).toBe(200);
        const ended = new Promise<void>((done) => {
          res.on('end', done);
          res.on('close', done);
        });
        res.once('data', () => resolve({ req, ended }));
        res.on('error', () => {});
      });
      req.on('error', () => {});
      req.setTimeout(5000, () => reject(new Error('no message from the stream')));
    });
  }

  it.each([
    { what: 'the server process killed mid-stream', path: '/killed/x', errorType: 'reset' },
    { what: 'the caller leaving mid-stream', path: '/held/x', errorType: 'aborted' },
  ])('$what: an error client span ($errorType)', async ({ path, errorType }) => {
    const traceId = crypto.randomUUID().replaceAll('-', '');
    const { req, ended } = await openStream(path, traceId);
    if (errorType === 'reset') killed.kill();
    else req.destroy();
    await ended;
    const server = await eventually(() => receiver.spans.find((s) => s.traceId === traceId && s.kind === 2), 5000, 'the server span');
    const client = await eventually(() => receiver.spans.find((s) => s.traceId === traceId && s.kind === 3), 5000, 'the client span');
    expect(client.parentSpanId).toBe(server.spanId);
    expect(client.name).toBe('tb.v1.Items/List');
    expect(client.status?.code).toBe(ERROR);
    expect(attr(client, 'error.type')).toBe(errorType);
  });
});
