import * as http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpRequest, startGateway, type TestGateway } from '../helpers.js';
import { startGrpcProcess, startRecordingService } from '../grpc-fixtures.js';

/**
 * How a server stream that ends with a status other than OK is logged: a status the server
 * sent on purpose is named (`GW_ERR_GRPC_<status>`), a broken connection is a reset.
 */
const PROTO = `syntax = "proto3";
package st.v1;
message ListRequest { string tag = 1; int32 count = 2; int32 code = 3; string message = 4; }
message Item { string id = 1; }
service Items { rpc List(ListRequest) returns (stream Item); }
`;

type Obj = Record<string, unknown>;

/** Writes `count` items, then ends with the status `code` (OK: a clean end) and `message`. */
function startBackend(protoFile: string) {
  return startRecordingService(protoFile, 'st.v1.Items', [], ({ seen }) => ({
    List(call: grpc.ServerWritableStream<Obj, Obj>) {
      seen.push({ method: 'List', request: call.request });
      const r = call.request as { count: number; code: number; message: string };
      for (let i = 0; i < r.count; i++) call.write({ id: `i${i}` });
      if (r.code === grpc.status.OK) call.end();
      else call.emit('error', { code: r.code, details: r.message });
    },
  }));
}

/** Writes `count` items, then shuts the whole server down at once (grpc-js forceShutdown: the streams are reset). */
function startShuttingBackend(protoFile: string) {
  let shut = () => {};
  const started = startRecordingService(protoFile, 'st.v1.Items', [], () => ({
    List(call: grpc.ServerWritableStream<Obj, Obj>) {
      for (let i = 0; i < (call.request as { count: number }).count; i++) call.write({ id: `i${i}` });
      setTimeout(() => shut(), 50);
    },
  }));
  return started.then((b) => ((shut = b.close), b));
}

const OUTLIER = '{ consecutiveErrors: 1, on5xx: false, baseEjection: 1m }';

/** The NDJSON lines of a body. */
const linesOf = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l) as Obj);

describe('grpc server streams ending with a status: the access-log error code', () => {
  let dir: string;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  let killable: Awaited<ReturnType<typeof startGrpcProcess>>;
  let killableEarly: Awaited<ReturnType<typeof startGrpcProcess>>;
  let shutting: Awaited<ReturnType<typeof startShuttingBackend>>;
  let gw: TestGateway;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-grpc-st-'));
    writeFileSync(join(dir, 'items.proto'), PROTO);
    backend = await startBackend(join(dir, 'items.proto'));
    killable = await startGrpcProcess(join(dir, 'items.proto'), 'st.v1.Items', []);
    killableEarly = await startGrpcProcess(join(dir, 'items.proto'), 'st.v1.Items', []);
    shutting = await startShuttingBackend(join(dir, 'items.proto'));
    const cfg = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
# One failure ejects a target, and 5xx statuses do not count: only broken streams do.
upstreams:
  items: { targets: [ "http://127.0.0.1:${backend.port}" ], outlierDetection: ${OUTLIER} }
  killable: { targets: [ "http://127.0.0.1:${killable.port}" ], outlierDetection: ${OUTLIER} }
  killable-early: { targets: [ "http://127.0.0.1:${killableEarly.port}" ] }
  shutting: { targets: [ "http://127.0.0.1:${shutting.port}" ], outlierDetection: ${OUTLIER} }
routes:
  - name: list
    match: { path: /v1/items/:tag, methods: [GET] }
    grpc: { upstream: items, protoFile: ./items.proto, method: st.v1.Items/List }
  - name: list-killable
    match: { path: /v1/killable/:tag, methods: [GET] }
    grpc: { upstream: killable, protoFile: ./items.proto, method: st.v1.Items/List }
  - name: list-killable-early
    match: { path: /v1/killable-early/:tag, methods: [GET] }
    grpc: { upstream: killable-early, protoFile: ./items.proto, method: st.v1.Items/List }
  - name: list-shutting
    match: { path: /v1/shutting/:tag, methods: [GET] }
    grpc: { upstream: shutting, protoFile: ./items.proto, method: st.v1.Items/List }
`;
    gw = await startGateway(cfg, { file: join(dir, 'gateway.yaml') });
  });

  afterAll(async () => {
    await gw?.close();
    backend?.close();
    killable?.kill();
    killableEarly?.kill();
    shutting?.close();
  });

  const targetOf = (upstream: string) => gw.gw.runtime.upstreams.get(upstream)!.status().targets[0]!;
  const logLine = (path: string) => eventually(() => gw.logs.find((l) => l.msg === 'request' && l.path === path), 3000, `the access-log line of ${path}`);

  it.each([
    ['NOT_FOUND', grpc.status.NOT_FOUND, 'GW_ERR_GRPC_NOT_FOUND'],
    ['RESOURCE_EXHAUSTED', grpc.status.RESOURCE_EXHAUSTED, 'GW_ERR_GRPC_RESOURCE_EXHAUSTED'],
    ['INTERNAL', grpc.status.INTERNAL, 'GW_ERR_GRPC_INTERNAL'],
    // UNAVAILABLE sent on purpose (a server draining) is the server's answer, not a broken connection.
    ['UNAVAILABLE', grpc.status.UNAVAILABLE, 'GW_ERR_GRPC_UNAVAILABLE'],
    ['CANCELLED', grpc.status.CANCELLED, 'GW_ERR_GRPC_CANCELLED'],
  ])('a status the server sends after the first message (%s) is logged by name, not as a reset', async (name, code, error) => {
    const path = `/v1/items/mid-${name}`;
    const res = await httpRequest(`${gw.url}${path}?count=2&code=${code}&message=${encodeURIComponent(`stopped: ${name}`)}`);
    // The client-visible stream is unchanged: 200, the messages, grpc-gateway's error line, a clean end.
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-ndjson');
    expect(linesOf(res.text)).toEqual([{ id: 'i0' }, { id: 'i1' }, { error: { code, status: name, message: `stopped: ${name}` } }]);
    const line = await logLine(path);
    expect(line).toMatchObject({ status: 200, route: 'list', error, bytesOut: res.text.length });
    expect(line.aborted).not.toBe(true);
    // An answer, not a broken target: passive health keeps it in rotation.
    expect(targetOf('items')).toMatchObject({ available: true, ejections: 0 });
  });

  it('a status before the first message is the mapped problem answer, logged with its HTTP status as a unary call is', async () => {
    const path = '/v1/items/early';
    const res = await httpRequest(`${gw.url}${path}?count=0&code=${grpc.status.RESOURCE_EXHAUSTED}&message=quota`);
    expect(res.status).toBe(429);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.json()).toMatchObject({ type: 'https://gantry.dev/problems/grpc-resource-exhausted', grpcStatus: 'RESOURCE_EXHAUSTED', detail: 'quota' });
    const line = await logLine(path);
    expect(line).toMatchObject({ status: 429, route: 'list' });
    // The status says it all, as for a unary call or a proxied 429: no gateway error code.
    expect(line.error).toBeUndefined();
  });

  it('a clean stream has no error code', async () => {
    const path = '/v1/items/clean';
    const res = await httpRequest(`${gw.url}${path}?count=2`);
    expect(linesOf(res.text)).toEqual([{ id: 'i0' }, { id: 'i1' }]);
    const line = await logLine(path);
    expect(line).toMatchObject({ status: 200 });
    expect(line.error).toBeUndefined();
  });

  it('a server process killed mid-stream is a reset (GW_ERR_UPSTREAM_RESET), reported with the error line', async () => {
    const path = '/v1/killable/kill';
    const out = await new Promise<{ status: number; text: string; complete: boolean }>((resolve, reject) => {
      http
        .get(`${gw.url}${path}?count=2`, { agent: false }, (res) => {
          let text = '';
          let killed = false;
          res.on('data', (c: Buffer) => {
            text += c.toString();
            // The process dies once the client holds both messages: its connection closes without a status.
            if (!killed && text.split('\n').length > 2) {
              killed = true;
              killable.kill();
            }
          });
          res.on('error', () => {});
          res.on('close', () => resolve({ status: res.statusCode!, text, complete: res.complete }));
        })
        .on('error', reject);
    });
    expect(out.status).toBe(200);
    expect(out.complete).toBe(true);
    const lines = linesOf(out.text);
    expect(lines.slice(0, 2)).toEqual([{ id: 'm0' }, { id: 'm1' }]);
    expect(lines.at(-1)).toMatchObject({ error: { code: grpc.status.UNAVAILABLE, status: 'UNAVAILABLE' } });
    const line = await logLine(path);
    expect(line).toMatchObject({ status: 200, route: 'list-killable', error: 'GW_ERR_UPSTREAM_RESET' });
    // A broken target, as a reset is for the proxy (with on5xx: false, an UNAVAILABLE status would not count).
    expect(targetOf('killable')).toMatchObject({ state: 'ejected', available: false });
  });

  it('a server process killed before the first message: the mapped answer, logged as a reset', async () => {
    const path = '/v1/killable-early/kill';
    const pending = httpRequest(`${gw.url}${path}?count=0`);
    await eventually(() => (killableEarly.calls() >= 1 ? true : undefined), 5000, 'the call to arrive');
    killableEarly.kill();
    const res = await pending;
    // The answer stays the mapped status of what grpc-js reports (UNAVAILABLE "Connection dropped")...
    expect(res.status).toBe(503);
    expect(res.json()).toMatchObject({ grpcStatus: 'UNAVAILABLE', detail: 'Connection dropped' });
    // ...and the log says it was a broken connection.
    const line = await logLine(path);
    expect(line).toMatchObject({ status: 503, route: 'list-killable-early', error: 'GW_ERR_UPSTREAM_RESET' });
  });

  it('a server shutting down mid-stream (its streams reset) is a reset too', async () => {
    const path = '/v1/shutting/down';
    const res = await httpRequest(`${gw.url}${path}?count=2`);
    expect(res.status).toBe(200);
    const lines = linesOf(res.text);
    expect(lines.slice(0, 2)).toEqual([{ id: 'i0' }, { id: 'i1' }]);
    // grpc-js reports the reset stream itself (no status came from the server).
    expect(lines[2]).toHaveProperty('error');
    const line = await logLine(path);
    expect(line).toMatchObject({ status: 200, route: 'list-shutting', error: 'GW_ERR_UPSTREAM_RESET' });
    // grpc-js reports the reset as CANCELLED ("Call cancelled"): a failure of the target, not a call the gateway cancelled.
    expect(targetOf('shutting')).toMatchObject({ state: 'ejected', available: false });
  });
});
