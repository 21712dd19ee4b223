import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { PROTOBUFJS_DIR, startRecordingService, writeHttpBodyProto } from '../grpc-fixtures.js';
import { attr, ERROR, startReceiver, UNSET, type OtlpSpan } from '../otlp-fixtures.js';

/**
 * A GET read to its end or its cut: the status, the body received, and whether it ended
 * cleanly. `leave` makes the client go away once the head and a first chunk arrived.
 */
function getToTheEnd(url: string, leave = false): Promise<{ status: number; text: string; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
        if (leave) req.destroy();
      });
      res.on('error', () => {});
      res.on('close', () => resolve({ status: res.statusCode!, text, complete: res.complete }));
    });
    req.on('error', (e) => (leave ? undefined : reject(e)));
  });
}

/** The server span of the next request on `route` after `before` spans. */
const serverSpanOf = (receiver: { spans: OtlpSpan[] }, route: string, before: number) =>
  eventually(() => receiver.spans.slice(before).find((s) => s.kind === 2 && attr(s, 'gantry.route') === route), 5000, `the server span of ${route}`);

describe('tracing (OTLP/HTTP)', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let up: TestUpstream;
  let flaky: TestUpstream;
  let partial: TestUpstream;
  let gw: TestGateway;
  let flakyCalls = 0;

  beforeAll(async () => {
    receiver = await startReceiver();
    up = await startUpstream();
    // Fails the first two attempts of each request with 503, then answers.
    flaky = await startUpstream((_req, res) => {
      const ok = ++flakyCalls % 3 === 0;
      res.writeHead(ok ? 200 : 503, { 'content-length': '2' });
      res.end(ok ? 'ok' : 'no');
    });
    // Sends its head and a first chunk, then breaks its connection (/reset) or goes silent.
    partial = await startUpstream((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      if (req.url === '/reset') setTimeout(() => res.socket!.destroy(), 20);
    });
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
telemetry:
  tracing: { endpoint: "${receiver.url}", sampleRatio: 1, serviceName: gantry-test, headers: { x-collector-key: k1 }, flushInterval: 50ms }
upstreams:
  echo: { targets: [ "${up.url}" ] }
  partial: { targets: [ "${partial.url}" ] }
  dead: { targets: [ "http://127.0.0.1:1" ] }
  flaky:
    targets: [ "${flaky.url}" ]
    retries: { attempts: 3, on: ["503"], backoff: 1ms, maxBackoff: 2ms, minRetries: 100 }
routes:
  - { name: retried, match: { path: /retried }, upstream: flaky }
  - { name: items, match: { path: "/items/:id" }, upstream: echo }
  - { name: down, match: { path: /down }, upstream: dead }
  - { name: mid-reset, match: { path: /reset }, upstream: partial }
  - { name: mid-idle, match: { path: /idle }, upstream: partial, timeouts: { idle: 200ms } }
  - { name: client-left, match: { path: /leave }, upstream: partial }
  - name: agg
    match: { path: /agg }
    aggregate:
      whole: { upstream: echo, path: /whole }
      cut: { upstream: partial, path: /reset, optional: true }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
    await flaky?.close();
    await partial?.close();
    await receiver?.close();
  });

  it('continues the client trace: server span, one client span child of it, context and baggage sent upstream', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await httpRequest(`${gw.url}/items/7?x=1`, {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, tracestate: 'vendor=abc', baggage: 'tenant=acme', 'user-agent': 'test/1' },
    });
    expect(res.status).toBe(200);
    const server = await eventually(() => receiver.spans.find((s) => s.traceId === traceId && s.kind === 2));
    const client = await eventually(() => receiver.spans.find((s) => s.traceId === traceId && s.kind === 3));
    expect(server.parentSpanId).toBe('00f067aa0ba902b7');
    expect(server.name).toBe('GET /items/:id');
    expect(attr(server, 'http.route')).toBe('/items/:id');
    expect(attr(server, 'gantry.route')).toBe('items');
    expect(attr(server, 'http.request.method')).toBe('GET');
    expect(attr(server, 'http.response.status_code')).toBe(200);
    expect(attr(server, 'url.path')).toBe('/items/7');
    expect(attr(server, 'user_agent.original')).toBe('test/1');
    expect(client.parentSpanId).toBe(server.spanId);
    expect(client.name).toBe('GET');
    expect(attr(client, 'server.address')).toBe('127.0.0.1');
    expect(attr(client, 'server.port')).toBe(up.port);
    expect(attr(client, 'gantry.upstream')).toBe('echo');
    expect(attr(client, 'http.response.status_code')).toBe(200);
    // The upstream saw the client span as its parent, the vendor state and the baggage.
    const seen = up.seen.at(-1)!;
    expect(seen.headers.traceparent).toBe(`00-${traceId}-${client.spanId}-01`);
    expect(seen.headers.tracestate).toBe('vendor=abc');
    expect(seen.headers.baggage).toBe('tenant=acme');
    expect(receiver.requests[0]!.headers['x-collector-key']).toBe('k1');
    expect(receiver.requests[0]!.path).toBe('/v1/traces');
  });

  it('starts a new trace when the client sent none; a failed attempt is an error client span', async () => {
    const before = receiver.spans.length;
    const res = await httpRequest(`${gw.url}/down`);
    expect(res.status).toBe(502);
    const server = await eventually(() => receiver.spans.slice(before).find((s) => s.kind === 2 && attr(s, 'gantry.route') === 'down'));
    const client = await eventually(() => receiver.spans.slice(before).find((s) => s.kind === 3 && s.traceId === server.traceId));
    expect(server.parentSpanId ?? '').toBe('');
    expect(server.status?.code).toBe(2);
    expect(attr(server, 'error.type')).toBe('GW_ERR_UPSTREAM_UNAVAILABLE');
    expect(client.parentSpanId).toBe(server.spanId);
    expect(client.status?.code).toBe(2);
    expect(attr(client, 'error.type')).toBe('connect_error');
  });

  it('retries: one client span per attempt, each a child of the server span, counting resends', async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const res = await httpRequest(`${gw.url}/retried`, { headers: { traceparent: `00-${traceId}-b7ad6b7169203331-01` } });
    expect(res.status).toBe(200);
    const server = await eventually(() => receiver.spans.find((s) => s.traceId === traceId && s.kind === 2));
    const clients = await eventually(() => {
      const c = receiver.spans.filter((s) => s.traceId === traceId && s.kind === 3);
      return c.length === 3 ? c : undefined;
    });
    clients.sort((a, b) => Number(attr(a, 'http.request.resend_count') ?? 0) - Number(attr(b, 'http.request.resend_count') ?? 0));
    expect(clients.map((c) => c.parentSpanId)).toEqual([server.spanId, server.spanId, server.spanId]);
    expect(new Set(clients.map((c) => c.spanId)).size).toBe(3);
    expect(clients.map((c) => attr(c, 'http.request.resend_count'))).toEqual([undefined, 1, 2]);
    expect(clients.map((c) => attr(c, 'http.response.status_code'))).toEqual([503, 503, 200]);
    expect(clients.map((c) => c.status?.code ?? 0)).toEqual([2, 2, 0]);
    // Each attempt carried its own span id upstream.
    const sent = flaky.seen.slice(-3).map((r) => r.headers.traceparent);
    expect(sent).toEqual(clients.map((c) => `00-${traceId}-${c.spanId}-01`));
  });

  it.each([
    ['an upstream reset', '/reset', 'mid-reset', 'GW_ERR_UPSTREAM_RESET'],
    ['the idle timeout', '/idle', 'mid-idle', 'GW_ERR_UPSTREAM_TIMEOUT'],
  ])('a response the proxy cuts off mid-body (%s) is an error span with the gateway\'s code, not a client that left', async (_what, path, route, code) => {
    const before = receiver.spans.length;
    const res = await getToTheEnd(`${gw.url}${path}`);
    expect(res.status).toBe(200);
    expect(res.text).toBe('partial');
    expect(res.complete).toBe(false);
    const server = await serverSpanOf(receiver, route, before);
    expect(attr(server, 'http.response.status_code')).toBe(200);
    expect(server.status).toMatchObject({ code: ERROR, message: 'response cut off after its head' });
    expect(attr(server, 'error.type')).toBe(code);
  });

  it("an aggregate part cut off mid-body is the part's failure: the aggregate's answer is not an error span", async () => {
    const before = receiver.spans.length;
    const res = await httpRequest(`${gw.url}/agg`);
    expect(res.status).toBe(200);
    expect(res.headers['x-aggregate-partial']).toBe('cut');
    const server = await serverSpanOf(receiver, 'agg', before);
    expect(server.status?.code ?? UNSET).toBe(UNSET);
    expect(attr(server, 'error.type')).toBeUndefined();
  });

  it('a client that leaves mid-body: the span says the client closed the connection', async () => {
    const before = receiver.spans.length;
    const res = await getToTheEnd(`${gw.url}/leave`, true);
    expect(res.complete).toBe(false);
    const server = await serverSpanOf(receiver, 'client-left', before);
    expect(server.status).toMatchObject({ code: ERROR, message: 'client closed the connection' });
    expect(attr(server, 'error.type')).toBe('aborted');
  });

  it('unmatched requests get a server span without a route', async () => {
    const before = receiver.spans.length;
    expect((await httpRequest(`${gw.url}/nothing`)).status).toBe(404);
    const server = await eventually(() => receiver.spans.slice(before).find((s) => s.kind === 2 && attr(s, 'url.path') === '/nothing'));
    expect(server.name).toBe('GET');
    expect(attr(server, 'gantry.route')).toBeUndefined();
    expect(receiver.spans.slice(before).filter((s) => s.kind === 3)).toHaveLength(0);
  });
});

const GRPC_PROTO = `syntax = "proto3";
package tr.v1;
import "google/api/httpbody.proto";
message ListRequest { string tag = 1; int32 count = 2; int32 code = 3; }
message Item { string id = 1; }
service Items {
  rpc List(ListRequest) returns (stream Item);
  rpc Download(ListRequest) returns (stream google.api.HttpBody);
}
`;

type Obj = Record<string, unknown>;

/**
 * Streams `count` messages, then ends with the status `code` (OK: a clean end), sent on
 * purpose; with `shut`, shuts the whole server down instead (its streams reset: a broken stream).
 */
async function startGrpcBackend(protoFile: string, includeDirs: string[]) {
  let shut = () => {};
  const finish = (call: grpc.ServerWritableStream<Obj, Obj>) => {
    const r = call.request as { tag: string; code: number };
    if (r.tag === 'shut') return void setTimeout(() => shut(), 50);
    if (r.code === grpc.status.OK) call.end();
    else call.emit('error', { code: r.code, details: `ended: ${r.code}` });
  };
  const b = await startRecordingService(protoFile, 'tr.v1.Items', includeDirs, () => ({
    List(call: grpc.ServerWritableStream<Obj, Obj>) {
      for (let i = 0; i < (call.request as { count: number }).count; i++) call.write({ id: `i${i}` });
      finish(call);
    },
    Download(call: grpc.ServerWritableStream<Obj, Obj>) {
      call.write({ contentType: 'text/plain', data: Buffer.from('one,') });
      finish(call);
    },
  }));
  shut = b.close;
  return b;
}

/** A gRPC stream that fails after its 200 head: the status cannot say so, the span does. */
describe('tracing gRPC streams failing after their head', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let backend: Awaited<ReturnType<typeof startGrpcBackend>>;
  let shutting: Awaited<ReturnType<typeof startGrpcBackend>>;
  let gw: TestGateway;

  beforeAll(async () => {
    receiver = await startReceiver();
    const dir = mkdtempSync(join(tmpdir(), 'gantry-trace-grpc-'));
    writeFileSync(join(dir, 'items.proto'), GRPC_PROTO);
    writeHttpBodyProto(dir);
    backend = await startGrpcBackend(join(dir, 'items.proto'), [dir, PROTOBUFJS_DIR]);
    shutting = await startGrpcBackend(join(dir, 'items.proto'), [dir, PROTOBUFJS_DIR]);
    const cfg = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
telemetry:
  tracing: { endpoint: "${receiver.url}", sampleRatio: 1, flushInterval: 50ms }
upstreams:
  items: { targets: [ "http://127.0.0.1:${backend.port}" ] }
  shutting: { targets: [ "http://127.0.0.1:${shutting.port}" ] }
routes:
  - name: list
    match: { path: /list/:tag, methods: [GET] }
    grpc: { upstream: items, protoFile: ./items.proto, method: tr.v1.Items/List }
  - name: list-shutting
    match: { path: /shutting/:tag, methods: [GET] }
    grpc: { upstream: shutting, protoFile: ./items.proto, method: tr.v1.Items/List }
  - name: download
    match: { path: /download/:tag, methods: [GET] }
    grpc: { upstream: items, protoFile: ./items.proto, method: tr.v1.Items/Download }
`;
    gw = await startGateway(cfg, { file: join(dir, 'gateway.yaml') });
  });
  afterAll(async () => {
    await gw?.close();
    backend?.close();
    shutting?.close();
    await receiver?.close();
  });

  it.each([
    // The same status before the head would answer 5xx: an error.
    ['INTERNAL from the server', '/list/a?count=1&code=13', 'list', ERROR, 'GW_ERR_GRPC_INTERNAL'],
    ['UNAVAILABLE from the server', '/list/b?count=1&code=14', 'list', ERROR, 'GW_ERR_GRPC_UNAVAILABLE'],
    // A broken stream (grpc-js: CANCELLED "Call cancelled", 499 by the table): the gateway's 502 reset.
    ['a stream reset by a server shutting down', '/shutting/shut?count=1', 'list-shutting', ERROR, 'GW_ERR_UPSTREAM_RESET'],
    // 404 before the head, not an error on a server span (semconv: only 5xx): nor after it.
    ['NOT_FOUND from the server', '/list/c?count=1&code=5', 'list', UNSET, undefined],
  ])('an NDJSON stream ended by %s after its head', async (_what, path, route, status, type) => {
    const before = receiver.spans.length;
    const res = await getToTheEnd(`${gw.url}${path}`);
    expect(res.status).toBe(200);
    expect(res.complete).toBe(true);
    expect(res.text.trim().split('\n').at(-1)).toContain('"error"');
    const server = await serverSpanOf(receiver, route, before);
    expect(attr(server, 'http.response.status_code')).toBe(200);
    expect(server.status?.code ?? UNSET).toBe(status);
    if (status === ERROR) expect(server.status?.message).toBe('stream ended with an error after its head');
    expect(attr(server, 'error.type')).toBe(type);
  });

  it('a raw HttpBody stream cut off after its head is an error span, whatever the status', async () => {
    const before = receiver.spans.length;
    const res = await getToTheEnd(`${gw.url}/download/x?code=5`);
    expect(res.status).toBe(200);
    expect(res.text).toBe('one,');
    expect(res.complete).toBe(false);
    const server = await serverSpanOf(receiver, 'download', before);
    expect(server.status).toMatchObject({ code: ERROR, message: 'response cut off after its head' });
    expect(attr(server, 'error.type')).toBe('GW_ERR_GRPC_NOT_FOUND');
  });

  it('a clean stream is not an error', async () => {
    const before = receiver.spans.length;
    const res = await getToTheEnd(`${gw.url}/list/ok?count=2`);
    expect(res.complete).toBe(true);
    const server = await serverSpanOf(receiver, 'list', before);
    expect(server.status?.code ?? UNSET).toBe(UNSET);
    expect(attr(server, 'error.type')).toBeUndefined();
  });
});

/**
 * Parent-based sampling (W3C Trace Context `trace-flags`): at `sampleRatio: 0` the gateway
 * starts no trace of its own, but a client's sampled trace is still recorded and exported,
 * and an unsampled one is propagated unsampled.
 */
describe('tracing at sampleRatio 0', () => {
  it('exports a sampled incoming trace as a child span; an unsampled one and a new root are not exported', async () => {
    const receiver = await startReceiver();
    const up = await startUpstream();
    const gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
telemetry:
  tracing: { endpoint: "${receiver.url}", sampleRatio: 0, serviceName: gantry-ratio-0, flushInterval: 50ms }
upstreams: { echo: { targets: [ "${up.url}" ] } }
routes: [ { name: echo, match: { path: /e/* }, upstream: echo } ]
`);
    try {
      const unsampled = '5e1b4a3c2d7f46e8b9a0c1d2e3f40516';
      const sampled = '7a8b9c0d1e2f43a4b5c6d7e8f9a0b1c2';
      expect((await httpRequest(`${gw.url}/e/unsampled`, { headers: { traceparent: `00-${unsampled}-b7ad6b7169203331-00` } })).status).toBe(200);
      const unsampledUpstream = up.seen.at(-1)!.headers.traceparent;
      expect((await httpRequest(`${gw.url}/e/root`)).status).toBe(200);
      const rootUpstream = up.seen.at(-1)!.headers.traceparent;
      expect((await httpRequest(`${gw.url}/e/sampled`, { headers: { traceparent: `00-${sampled}-00f067aa0ba902b7-01` } })).status).toBe(200);
      const sampledUpstream = up.seen.at(-1)!.headers.traceparent;

      const server = await eventually(() => receiver.spans.find((s) => s.traceId === sampled && s.kind === 2), 5000, 'the server span');
      const client = await eventually(() => receiver.spans.find((s) => s.traceId === sampled && s.kind === 3), 5000, 'the client span');
      expect(server.parentSpanId).toBe('00f067aa0ba902b7');
      expect(attr(server, 'url.path')).toBe('/e/sampled');
      expect(client.parentSpanId).toBe(server.spanId);
      expect(sampledUpstream).toBe(`00-${sampled}-${client.spanId}-01`);
      // Every span that ended has been exported once flush resolves: only the sampled trace's two.
      await gw.gw.runtime.tracing!.flush();
      expect(receiver.spans.map((s) => s.traceId)).toEqual([sampled, sampled]);
      // The unsampled trace goes on upstream, still unsampled; the new root is unsampled too.
      expect(unsampledUpstream).toMatch(new RegExp(`^00-${unsampled}-(?!b7ad6b7169203331)[0-9a-f]{16}-00$`));
      expect(rootUpstream).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      expect(rootUpstream).not.toContain(unsampled);
    } finally {
      await gw.close();
      await up.close();
      await receiver.close();
    }
  });
});

describe('tracing off', () => {
  it('passes trace headers upstream untouched and creates no trace state', async () => {
    const up = await startUpstream();
    const gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams: { echo: { targets: [ "${up.url}" ] } }
routes: [ { name: echo, match: { path: /e }, upstream: echo } ]
`);
    try {
      expect(gw.gw.runtime.tracing).toBeNull();
      const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      await httpRequest(`${gw.url}/e`, { headers: { traceparent: tp, baggage: 'a=b' } });
      expect(up.seen.at(-1)!.headers.traceparent).toBe(tp);
      expect(up.seen.at(-1)!.headers.baggage).toBe('a=b');
    } finally {
      await gw.close();
      await up.close();
    }
  });
});

describe('tracing across reloads', () => {
  it('a reload with the same settings keeps the tracer and its batch; the reload that drops tracing exports the batch', async () => {
    const receiver = await startReceiver();
    const old = await startUpstream();
    // A long flush interval: spans leave the batch only when the tracer shuts down.
    const tracing = `telemetry: { tracing: { endpoint: "${receiver.url}", sampleRatio: 1, flushInterval: 10m } }`;
    const cfg = (telemetry: string, withOld: boolean) => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
${telemetry}
upstreams: ${withOld ? `{ old: { targets: [ "${old.url}" ] } }` : '{}'}
routes:
  - { name: ok, match: { path: /* }, static: { status: 200, body: ok } }
${withOld ? '  - { name: old, match: { path: /old }, upstream: old }' : ''}
`;
    const g = await startGateway(cfg(tracing, true));
    try {
      expect((await httpRequest(`${g.url}/old`)).status).toBe(200); // a pooled connection to `old`
      const tracer = g.gw.runtime.tracing;
      expect(tracer).not.toBeNull();

      // Same settings, `old` gone: once the first config version has retired (its pool to
      // `old` closed, which comes after its tracer is released), the tracer still holds its batch.
      writeFileSync(g.file, cfg(tracing, false));
      expect((await g.gw.reload()).ok).toBe(true);
      const connections = () => new Promise<number>((r) => old.server.getConnections((_e, n) => r(n)));
      await eventually(async () => ((await connections()) === 0 ? true : undefined), 5000, 'the first config version to retire');
      expect(g.gw.runtime.tracing).toBe(tracer);
      expect((await httpRequest(`${g.url}/two`)).status).toBe(200);
      expect(receiver.spans).toHaveLength(0);

      // Tracing off: the last version holding the tracer retires and its shutdown exports the batch.
      writeFileSync(g.file, cfg('', false));
      expect((await g.gw.reload()).ok).toBe(true);
      expect(g.gw.runtime.tracing).toBeNull();
      await eventually(() => (receiver.spans.length >= 3 ? true : undefined), 5000, 'the batch to be exported');
      const servers = receiver.spans.filter((s) => s.kind === 2).map((s) => attr(s, 'gantry.route'));
      expect(servers.sort()).toEqual(['ok', 'old']);
      expect(receiver.spans.filter((s) => s.kind === 3).map((s) => attr(s, 'gantry.upstream'))).toEqual(['old']);
    } finally {
      await g.close();
      await old.close();
      await receiver.close();
    }
  });
});
