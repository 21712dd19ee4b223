import { Buffer } from 'node:buffer';
import * as http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpRequest, parseMetrics, startGateway, type TestGateway } from '../helpers.js';
import { metrics } from '../../src/observability/metrics.js';
import { PROTOBUFJS_DIR, startRecordingService, writeHttpBodyProto } from '../grpc-fixtures.js';
import { loadConfig } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/source.js';

/** grpc-gateway's finer points of transcoding: json_name in field paths, path escapes, google.api.HttpBody. */
const PROTO = `syntax = "proto3";
package tc.v1;
import "google/api/annotations.proto";
import "google/api/httpbody.proto";

message Shelf { string name = 1; string theme = 2; }
message Named { string name = 1; }
message PutShelfRequest {
  string shelf_id = 1 [json_name = "id"];
  Shelf shelf_data = 2 [json_name = "shelf"];
  string tag_line = 3 [json_name = "tag"];
}
message PutShelfResponse { Shelf stored = 1 [json_name = "result"]; string note = 2; }
message UploadRequest { string name = 1; google.api.HttpBody file = 2; int32 copies = 3; }
message Upload { string name = 1; string content_type = 2; string hex = 3; int32 copies = 4; }
message Wrapped { string note = 1; google.api.HttpBody payload = 2; }

service Transcode {
  rpc PutShelf(PutShelfRequest) returns (PutShelfResponse) {
    option (google.api.http) = { put: "/v1/shelf/{id}" body: "shelf" response_body: "result" };
  }
  rpc GetName(Named) returns (Named) {
    option (google.api.http) = { get: "/v1/names/{name}" additional_bindings { get: "/v1/{name=shelves/**}" } };
  }
  rpc UploadRaw(google.api.HttpBody) returns (Upload) {
    option (google.api.http) = { post: "/v1/raw" body: "*" };
  }
  rpc UploadFile(UploadRequest) returns (Upload) {
    option (google.api.http) = { put: "/v1/files/{name}" body: "file" };
  }
  rpc Download(Named) returns (google.api.HttpBody) {
    option (google.api.http) = { get: "/v1/download/{name}" };
  }
  rpc DownloadWrapped(Named) returns (Wrapped) {
    option (google.api.http) = { get: "/v1/wrapped/{name}" response_body: "payload" };
  }
  rpc DownloadStream(Named) returns (stream google.api.HttpBody) {
    option (google.api.http) = { get: "/v1/stream/{name}" };
  }
}
`;

type Obj = Record<string, unknown>;

const FILES: Record<string, Obj> = {
  csv: { contentType: 'text/csv; charset=utf-8', data: Buffer.from('a,b\n1,2\n') },
  bin: { data: Buffer.from([0, 1, 0xff]) },
};

function startBackend(protoFile: string, includeDirs: string[]) {
  return startRecordingService(protoFile, 'tc.v1.Transcode', includeDirs, ({ unary, seen }) => ({
    PutShelf: unary('PutShelf', (r) => ({ stored: { ...(r.shelfData as Obj), name: `${String(r.shelfId)}/${String(r.tagLine)}` }, note: 'n' })),
    GetName: unary('GetName', (r) => ({ name: r.name })),
    UploadRaw: unary('UploadRaw', (r) => ({ contentType: r.contentType, hex: (r.data as Buffer).toString('hex') })),
    UploadFile: unary('UploadFile', (r) => {
      const file = r.file as Obj | null;
      return { name: r.name, contentType: file?.contentType ?? '(unset)', hex: file === null ? '' : (file.data as Buffer).toString('hex'), copies: r.copies };
    }),
    Download: unary('Download', (r) => FILES[r.name as string] ?? {}),
    DownloadWrapped: unary('DownloadWrapped', (r) => ({ note: 'n', payload: FILES[r.name as string] ?? null })),
    DownloadStream(call: grpc.ServerWritableStream<Obj, Obj>) {
      seen.push({ method: 'DownloadStream', request: call.request });
      call.write({ contentType: 'text/plain', data: Buffer.from('one,') });
      call.write({ data: Buffer.from('two,') });
      if (call.request.name === 'fail') return void call.emit('error', { code: grpc.status.INTERNAL, details: 'stream broke' });
      // Never ends: the route's deadline passes mid-body.
      if (call.request.name === 'hang') return;
      call.write({ data: Buffer.from('three') });
      call.end();
    },
  }));
}

describe('grpc transcoding details (grpc-gateway parity)', () => {
  let backend: Awaited<ReturnType<typeof startBackend>>;
  let gw: TestGateway;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-grpc-tc-'));
    writeFileSync(join(dir, 'transcode.proto'), PROTO);
    writeHttpBodyProto(dir);
    // The backend finds google/api/*.proto where the gateway does: beside the proto, then in protobufjs's package.
    backend = await startBackend(join(dir, 'transcode.proto'), [dir, PROTOBUFJS_DIR]);
    const cfg = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  tc: { targets: [ "http://127.0.0.1:${backend.port}" ] }
routes:
  - name: transcode
    match: { path: /v1/* }
    grpc: { upstream: tc, protoFile: ./transcode.proto, service: tc.v1.Transcode }
  - name: upload-method
    match: { path: /m/files/:name, methods: [POST] }
    grpc: { upstream: tc, protoFile: ./transcode.proto, method: tc.v1.Transcode/UploadFile, body: file }
  - name: stream-method
    match: { path: /m/stream/:name, methods: [GET] }
    grpc: { upstream: tc, protoFile: ./transcode.proto, method: tc.v1.Transcode/DownloadStream, timeout: 300ms }
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

  const BYTES = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff]);

  it('an HttpBody request takes the raw body and its Content-Type, whatever the media type', async () => {
    const res = await httpRequest(`${gw.url}/v1/raw`, { method: 'POST', headers: { 'content-type': 'image/png; q=1' }, body: BYTES });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ name: '', contentType: 'image/png; q=1', hex: '89504e4700ff', copies: 0 });
    expect(last().method).toBe('UploadRaw');
  });

  it('a body field of type HttpBody takes the raw body; path and query fill the rest', async () => {
    const res = await httpRequest(`${gw.url}/v1/files/f1?copies=3`, { method: 'PUT', headers: { 'content-type': 'text/csv' }, body: 'x,y' });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ name: 'f1', contentType: 'text/csv', hex: Buffer.from('x,y').toString('hex'), copies: 3 });
    // A method route with body: <HttpBody field> too.
    const m = await httpRequest(`${gw.url}/m/files/f2`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: BYTES });
    expect(m.status).toBe(200);
    expect(m.json()).toEqual({ name: 'f2', contentType: 'application/octet-stream', hex: '89504e4700ff', copies: 0 });
    // A method route's :param is decoded whole, as a single-segment binding variable is.
    const escaped = await httpRequest(`${gw.url}/m/files/a%2Fb%20c`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    expect(escaped.json()).toMatchObject({ name: 'a/b c' });
  });

  it.each([
    ['an HttpBody response is its data, typed by its content_type', '/v1/download/csv', 'text/csv; charset=utf-8', Buffer.from('a,b\n1,2\n')],
    ['an empty content_type answers application/octet-stream', '/v1/download/bin', 'application/octet-stream', Buffer.from([0, 1, 0xff])],
    ['a response_body field of type HttpBody is answered raw', '/v1/wrapped/csv', 'text/csv; charset=utf-8', Buffer.from('a,b\n1,2\n')],
    ['an unset response_body HttpBody is an empty body', '/v1/wrapped/none', 'application/octet-stream', Buffer.alloc(0)],
  ])('%s', async (_what, path, type, body) => {
    const res = await httpRequest(`${gw.url}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(type);
    expect(res.headers['content-length']).toBe(String(body.length));
    expect(res.body.equals(body)).toBe(true);
  });

  it('a stream of HttpBody is one raw body written chunk by chunk, typed by the first message', async () => {
    const res = await httpRequest(`${gw.url}/v1/stream/ok`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain');
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.text).toBe('one,two,three');
  });

  it.each([
    ['the backend ends the stream with INTERNAL', '/v1/stream/fail', 'transcode', 'GW_ERR_GRPC_INTERNAL'],
    ['the deadline passes', '/m/stream/hang', 'stream-method', 'GW_ERR_UPSTREAM_TIMEOUT'],
  ])('a stream of HttpBody failing after the head is cut off and logged as failed: %s', async (_what, path, route, error) => {
    const series = `gantry_http_requests_total{route="${route}",method="GET",status_class="aborted"}`;
    const before = parseMetrics(await metrics.text()).get(series) ?? 0;
    const out = await new Promise<{ status: number; text: string; complete: boolean }>((resolve) => {
      http.get(`${gw.url}${path}`, { agent: false }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('error', () => {});
        res.on('close', () => resolve({ status: res.statusCode!, text, complete: res.complete }));
      });
    });
    // No error line in raw bytes: the body is cut, never a clean end.
    expect(out).toEqual({ status: 200, text: 'one,two,', complete: false });
    // As the proxy logs an upstream failing mid-body: the status sent, the error code, aborted.
    const line = await eventually(() => gw.logs.find((l) => l.msg === 'request' && l.path === path), 3000, 'the access-log line');
    expect(line).toMatchObject({ status: 200, error, aborted: true, bytesOut: 8 });
    expect(parseMetrics(await metrics.text()).get(series)).toBe(before + 1);
  });
});

describe('google.api.HttpBody config errors', () => {
  it('response_body on an HttpBody response names file:line path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-grpc-tc-cfg-'));
    writeHttpBodyProto(dir);
    writeFileSync(
      join(dir, 'x.proto'),
      'syntax = "proto3";\npackage x;\nimport "google/api/annotations.proto";\nimport "google/api/httpbody.proto";\nmessage R { string name = 1; }\nservice S {\n  rpc A(R) returns (google.api.HttpBody) { option (google.api.http) = { get: "/v1/a" response_body: "data" }; }\n}\n',
    );
    const yaml = `version: 1
listeners: [ { name: public, port: 0 } ]
upstreams:
  g: { targets: [ "http://127.0.0.1:1" ] }
routes:
  - name: r
    match: { path: /v1/* }
    grpc: { upstream: g, protoFile: ./x.proto, service: x.S }
`;
    const r = await loadConfig(join(dir, 'gateway.yaml'), { text: yaml, env: {} });
    expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([
      expect.stringMatching(/gateway\.yaml:8 routes\[0\]\.grpc\.service: A: GET \/v1\/a has response_body "data", but its response is a google\.api\.HttpBody/),
    ]);
  });
});
