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
service Items {
  rpc List(ListRequest) returns (stream Item);
  rpc Get(ListRequest) returns (Item);
}
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
  let killableUnary: Awaited<ReturnType<typeof startGrpcProcess>>;
  let shutting: Awaited<ReturnType<typeof startShuttingBackend>>;
  let shuttingEarly: Awaited<ReturnType<typeof startShuttingBackend>>;
  let gw: TestGateway;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-grpc-st-'));
    writeFileSync(join(dir, 'items.proto'), PROTO);
    backend = await startBackend(join(dir, 'items.proto'));
    killable = await startGrpcProcess(join(dir, 'items.proto'), 'st.v1.Items', []);
    killableEarly = await startGrpcProcess(join(dir, 'items.proto'), 'st.v1.Items', []);
    killableUnary = await startGrpcProcess(join(dir, 'items.proto'), 'st.v1.Items', []);
    shutting = await startShuttingBackend(join(dir, 'items.proto'));
    shuttingEarly = await startShuttingBackend(join(dir, 'items.proto'));
    const cfg = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
# One failure ejects a target, and 5xx statuses do not count: only broken streams do.
upstreams:
  items: { targets: [ "http://127.0.0.1:${backend.port}" ], outlierDetection: ${OUTLIER} }
  killable: { targets: [ "http://127.0.0.1:${killable.port}" ], outlierDetection: ${OUTLIER} }
  killable-early: { targets: [ "http://127.0.0.1:${killableEarly.port}" ] }
  killable-unary: { targets: [ "http://127.0.0.1:${killableUnary.port}" ] }
  shutting: { targets: [ "http://127.0.0.1:${shutting.port}" ], outlierDetection: ${OUTLIER} }
  shutting-early: { targets: [ "http://127.0.0.1:${shuttingEarly.port}" ] }
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
  - name: get-killable
    match: { path: /v1/killable-unary/:tag, methods: [GET] }
    grpc: { upstream: killable-unary, protoFile: ./items.proto, method: st.v1.Items/Get }
  - name: list-shutting
    match: { path: /v1/shutting/:tag, methods: [GET] }
    grpc: { upstream: shutting, protoFile: ./items.proto, method: st.v1.Items/List }
  - name: list-shutting-early
    match: { path: /v1/shutting-early/:tag, methods: [GET] }
    grpc: { upstream: shutting-early, protoFile: ./items.proto, method: st.v1.Items/List }
`;
    gw = await startGateway(cfg, { file: join(dir, 'gateway.yaml') });
  });

  afterAll(async () => {
    await gw?.close();
    backend?.close();
    killable?.kill();
    killableEarly?.kill();
    killableUnary?.kill();
    shutting?.close();
    shuttingEarly?.close();
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

  it.each([
    ['RESOURCE_EXHAUSTED', grpc.status.RESOURCE_EXHAUSTED, 429, 'grpc-resource-exhausted'],
    // Sent on purpose, these keep their mapping: only grpc-js's own report of a broken stream is a reset.
    ['UNAVAILABLE', grpc.status.UNAVAILABLE, 503, 'grpc-unavailable'],
    ['CANCELLED', grpc.status.CANCELLED, 499, 'grpc-cancelled'],
  ])('a status before the first message (%s) is the mapped problem answer, logged with its HTTP status as a unary call is', async (name, code, status, type) => {
    const path = `/v1/items/early-${name}`;
    const res = await httpRequest(`${gw.url}${path}?count=0&code=${code}&message=quota`);
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.json()).toMatchObject({ type: `https://gantry.dev/problems/${type}`, grpcStatus: name, detail: 'quota' });
    const line = await logLine(path);
    expect(line).toMatchObject({ status, route: 'list' });
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

  /** The proxy's answer to a connection reset before the response head (errors.ts, proxy/forward.ts). */
  const expectReset = async (res: Awaited<ReturnType<typeof httpRequest>>, path: string, route: string, upstream: string) => {
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toBe('application/problem+json');
    const body = res.json() as Obj;
    expect(body).toMatchObject({ type: 'https://gantry.dev/problems/upstream-reset', status: 502, detail: `Upstream '${upstream}' closed the connection.`, instance: path });
    // Not grpc-js's made-up status: nothing came from the server.
    expect(body).not.toHaveProperty('grpcStatus');
    const line = await logLine(path);
    expect(line).toMatchObject({ status: 502, route, error: 'GW_ERR_UPSTREAM_RESET' });
    expect(body.requestId).toBe(line.requestId);
  };

  it.each([
    ['a server stream before its first message', '/v1/killable-early/kill', 'list-killable-early', 'killable-early', () => killableEarly],
    ['a unary call', '/v1/killable-unary/kill', 'get-killable', 'killable-unary', () => killableUnary],
  ])('a server process killed during %s (grpc-js: UNAVAILABLE "Connection dropped") → 502 upstream-reset, as the proxy answers', async (_what, path, route, upstream, proc) => {
    const pending = httpRequest(`${gw.url}${path}?count=0`);
    await eventually(() => (proc().calls() >= 1 ? true : undefined), 5000, 'the call to arrive');
    proc().kill();
    await expectReset(await pending, path, route, upstream);
  });

  it('a server shut down before the first message (its stream reset; grpc-js: CANCELLED "Call cancelled") → 502 upstream-reset, not 499', async () => {
    const path = '/v1/shutting-early/down';
    await expectReset(await httpRequest(`${gw.url}${path}?count=0`), path, 'list-shutting-early', 'shutting-early');
  });

  it('a server that cannot be reached at all keeps the proxy\'s 502 upstream-unavailable', async () => {
    // The process killed above: its port refuses connections now.
    const path = '/v1/killable-unary/refused';
    await eventually(() => (killableUnary.child.exitCode !== null || killableUnary.child.signalCode !== null ? true : undefined), 5000, 'the process to exit');
    const res = await httpRequest(`${gw.url}${path}?count=0`);
    expect(res.status).toBe(502);
    expect(res.json()).toMatchObject({ type: 'https://gantry.dev/problems/upstream-unavailable', detail: "Upstream 'killable-unary' could not be reached." });
    const line = await logLine(path);
    expect(line).toMatchObject({ status: 502, route: 'get-killable', error: 'GW_ERR_UPSTREAM_UNAVAILABLE' });
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
