import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import type { Client, Metadata, StatusObject } from '@grpc/grpc-js';
import type { TextMapSetter } from '@opentelemetry/api';
import type { RouteConfig } from '../../config/schema.js';
import type { RequestContext } from '../../pipeline/context.js';
import { readRequestBody } from '../../pipeline/body.js';
import { respondAbort, respondData, respondEnd, respondError, respondHead, respondReply } from '../../pipeline/respond.js';
import { GatewayError, GatewayErrors, type GatewayErrorCode } from '../../errors.js';
import { describeFailure } from '../../proxy/forward.js';
import { endRpc } from '../../observability/tracing.js';
import { hasRequestBody, isJsonType, type HeaderList } from '../../http/headers.js';
import type { Target, Upstream } from '../../upstreams/upstream.js';
import type { Handler, HandlerDeps } from '../handler.js';
import { GrpcChannels } from './channels.js';
import { BadMessage } from './wkt.js';
import { METADATA_PREFIX, TRAILER_PREFIX, metadataHeaders, requestMetadata } from './metadata.js';
import { compileMethod, routeParams, type CompiledMethod } from './proto.js';
import { buildRequest } from './request.js';
import { OCTET_STREAM, type RawBody } from './httpbody.js';
import { compileService } from './annotations.js';
import { ALWAYS_FORWARDED } from './schema.js';
import { grpcErrorCode, grpcProblem, grpcStatusName, httpStatusOf } from './status.js';

const NDJSON = 'application/x-ndjson';
/** gRPC status codes used here (the rest are mapped by table, status.ts). */
const Status = { OK: 0, CANCELLED: 1, DEADLINE_EXCEEDED: 4, INTERNAL: 13, UNAVAILABLE: 14 } as const;

/** Errors grpc-js reports when no connection to the target could be made (the call never left). */
const NOT_CONNECTED = /^No connection established/;
/** What grpc-js reports when a response message cannot be decoded or has no JSON form (codec.ts). */
const UNPARSABLE = /^Response message parsing error: /;
/** What grpc-js reports when a message is past its size limit, or its compression is broken (compression-filter.ts). */
const UNREADABLE = /^(?:Received message (?:that decompresses to a size )?larger than|Failed to decompress)/;
/**
 * What grpc-js reports itself, no status having come from the server, when the HTTP/2 stream
 * or its connection breaks (grpc-js 1.14, subchannel-call.ts): the connection closing (a
 * server killed: "Connection dropped", "read ECONNRESET"), the server resetting the stream
 * (RST_STREAM CANCEL is "Call cancelled"; REFUSED_STREAM, ENHANCE_YOUR_CALM,
 * INADEQUATE_SECURITY, other codes) or a write failing.
 */
const BROKEN =
  /^(?:Connection dropped$|Call cancelled$|Received RST_STREAM with code |Stream refused by server$|Bandwidth exhausted or memory limit exceeded$|Protocol not secure enough$|Write (?:error|failed)|(?:read|write) (?:ECONNRESET|ETIMEDOUT)$)/;
/** Failure kinds `Upstream.report` understands (passive health, breaker). */
const CONNECT_ERROR = Object.assign(new Error('gRPC connect error'), { code: 'ECONNREFUSED' });
const TIMED_OUT = Object.assign(new Error('gRPC deadline exceeded'), { code: 'ETIMEDOUT' });
const ABORTED = Object.assign(new Error('gRPC call cancelled'), { code: 'UND_ERR_ABORTED' });
const RESET = Object.assign(new Error('gRPC stream broken'), { code: 'ECONNRESET' });
/** What grpc-js reports for a call the gateway cancelled (the client went away, a body past its limit). */
const CANCELLED_HERE = /^Cancelled on client$/;

/** What one call needs besides the request and the method, compiled at load. */
interface GrpcRoute {
  upstream: Upstream;
  channels: GrpcChannels;
  forward: ReadonlySet<string>;
  timeout: number;
}

/**
 * `grpc:`: transcodes a REST/JSON request into one gRPC call (the `google.api.http` model:
 * path params, query parameters and the JSON body fill the request message) and the
 * answer back into JSON: 200 with the response message, or the gRPC status mapped to an
 * HTTP status as problem+json. Server-streaming methods stream NDJSON, one message a line.
 * A google.api.HttpBody (request body or answer) is raw bytes instead of JSON (httpbody.ts).
 * The route timeout is the call's deadline; a client that goes away cancels the call.
 *
 * @example
 *   grpc:
 *     upstream: users-grpc
 *     protoFile: ./protos/users.proto
 *     method: shop.users.v1.Users/GetUser
 */
export function createGrpcHandler(route: RouteConfig, deps: HandlerDeps): Handler {
  const cfg = route.grpc!;
  const upstream = deps.upstreams.get(cfg.upstream);
  if (!upstream) throw new Error(`unknown upstream '${cfg.upstream}'`);
  const channels = new GrpcChannels(upstream, cfg.tls, deps.baseDir);
  const r: GrpcRoute = {
    upstream,
    channels,
    forward: new Set([...ALWAYS_FORWARDED, ...(cfg.forwardHeaders ?? []).map((h) => h.toLowerCase())]),
    timeout: cfg.timeout ?? 30_000,
  };
  const maxBody = cfg.maxBodySize ?? 1_048_576;
  const serve = (ctx: RequestContext, m: CompiledMethod, path: PathValues): void => {
    if (m.body === undefined || !hasRequestBody(ctx.req.headers)) return call(ctx, r, m, path, ctx.body);
    const type = ctx.req.headers['content-type'];
    // A google.api.HttpBody takes any media type (httpbody.ts).
    if (type !== undefined && !m.rawBody && !isJsonType(type)) return respondError(ctx, 'GW_ERR_BAD_REQUEST', `The request body must be application/json, not '${type.split(';')[0]!.trim()}'.`);
    readRequestBody(ctx, maxBody).then(
      (body) => {
        if (ctx.aborted) return;
        try {
          call(ctx, r, m, path, body);
        } catch (e) {
          // Off the request phase's stack: nothing else would turn this into a response.
          ctx.logger.error({ err: e, requestId: ctx.id, route: ctx.route?.name }, 'grpc call failed');
          respondError(ctx, 'GW_ERR_INTERNAL', 'The gateway could not make the gRPC call.');
        }
      },
      (e: unknown) => {
        if (ctx.aborted) return;
        if (e instanceof GatewayError) respondError(ctx, e.code, e.message);
        else respondError(ctx, 'GW_ERR_BAD_REQUEST', 'The request body could not be read.');
      },
    );
  };
  const close = () => channels.close();
  if (cfg.service !== undefined) {
    // One route, a whole service: the google.api.http bindings pick the method (annotations.ts).
    const svc = compileService(cfg, deps.baseDir);
    const handle = function grpcService(ctx: RequestContext): void {
      const hit = svc.find(ctx.method, ctx.path);
      if (hit.kind === 'found') return serve(ctx, hit.binding, hit.values);
      if (hit.kind === 'method-not-allowed') return respondError(ctx, 'GW_ERR_METHOD_NOT_ALLOWED', `${ctx.method} is not allowed here.`, ['allow', hit.allow.join(', ')]);
      respondError(ctx, 'GW_ERR_NOT_FOUND', `No google.api.http binding of ${svc.name} matches ${ctx.method} ${ctx.path}.`);
    };
    return { description: `grpc ${cfg.upstream} ${svc.name} (${svc.bindings.length} bindings)`, handle, close };
  }
  const method = compileMethod(cfg, routeParams(route.match.path), deps.baseDir);
  const handle = function grpc(ctx: RequestContext): void {
    serve(ctx, method, undefined);
  };
  return { description: `grpc ${cfg.upstream} ${cfg.method}`, handle, close };
}

/** Field path → value set from the request path (a binding's variables); undefined: the route's `:params`. */
type PathValues = [string, string][] | undefined;

function call(ctx: RequestContext, r: GrpcRoute, m: CompiledMethod, path: PathValues, body: Buffer | undefined): void {
  let message: Record<string, unknown>;
  try {
    message = buildRequest(ctx, m, body, path);
  } catch (e) {
    if (!(e instanceof BadMessage)) throw e;
    return respondError(ctx, 'GW_ERR_BAD_REQUEST', e.message);
  }
  const u = r.upstream;
  const target = u.pick(ctx, undefined);
  if (target === undefined) return respondError(ctx, 'GW_ERR_NO_TARGET', `Upstream '${u.name}' has no target available.`);
  if (u.breaker !== undefined && !u.breaker.allow()) return respondError(ctx, 'GW_ERR_CIRCUIT_OPEN', `Upstream '${u.name}' has its circuit breaker open.`);
  ctx.target = target.origin;
  target.inFlight++;
  const client = r.channels.get(target);
  const md = requestMetadata(ctx, r.forward);
  // Traced: a client span for the call, whose context replaces the client's `traceparent`.
  const span = ctx.trace?.startRpc(m.path, target.origin, u.name, md, traceContextSetter);
  const options = { deadline: Date.now() + r.timeout };
  const started = performance.now();
  const done = (s: StatusObject) => {
    target.inFlight--;
    ctx.upstreamMs = performance.now() - started;
    report(u, target, s, ctx.upstreamMs, ctx.aborted);
    if (span !== undefined) endRpc(span, s.code, s.details, failureType(s, ctx.aborted));
  };
  if (m.serverStreaming) streamCall(ctx, r, m, client, message, md, options, done);
  else unaryCall(ctx, r, m, client, message, md, options, done);
}

function unaryCall(ctx: RequestContext, r: GrpcRoute, m: CompiledMethod, client: Client, message: object, md: Metadata, options: { deadline: number }, done: (s: StatusObject) => void): void {
  let response: unknown;
  let head: Metadata | undefined;
  const c = client.makeUnaryRequest(m.path, m.serialize, m.deserialize, message, md, options, (_err, value) => {
    response = value;
  });
  ctx.cancelable = { cancel: () => c.cancel() };
  c.on('metadata', (m: Metadata) => (head = m));
  // grpc-js calls the callback, then emits the status (with the trailers).
  c.on('status', (s: StatusObject) => {
    done(s);
    if (ctx.aborted) return;
    if (s.code !== Status.OK || response === undefined) return respondStatus(ctx, r, s, head);
    const [type, body] = m.rawResponse ? rawAnswer(response as RawBody) : ['application/json', Buffer.from(JSON.stringify(m.responseBody === undefined ? response : (response as Record<string, unknown>)[m.responseBody]))];
    const headers: HeaderList = ['content-type', type, 'content-length', String(body.length)];
    metadataHeaders(head, METADATA_PREFIX, headers);
    metadataHeaders(s.metadata, TRAILER_PREFIX, headers);
    respondReply(ctx, { status: 200, headers, body });
  });
}

/** An HttpBody answer: its bytes, with its content_type (application/octet-stream when empty). */
function rawAnswer(hb: RawBody): [type: string, body: Buffer] {
  return [hb.contentType === '' ? OCTET_STREAM : hb.contentType, hb.data];
}

/**
 * Server streaming as NDJSON: the head goes out with the first message (or with the
 * status when there is none), each message is one JSON line, and a status other than OK
 * after the head is one last line `{"error":{code,status,message}}` (grpc-gateway's shape).
 * A stream of google.api.HttpBody is one raw body instead, written chunk by chunk, cut off
 * (no clean end) by a status other than OK after the head.
 * The gRPC stream pauses while the client is slow (HTTP/2 flow control pushes back on the backend).
 */
function streamCall(ctx: RequestContext, r: GrpcRoute, m: CompiledMethod, client: Client, message: object, md: Metadata, options: { deadline: number }, done: (s: StatusObject) => void): void {
  const s = client.makeServerStreamRequest(m.path, m.serialize, m.deserialize, message, md, options);
  ctx.cancelable = { cancel: () => s.cancel() };
  let head: Metadata | undefined;
  let started = false;
  let writable = false;
  let ended = false;
  let closed = false;
  const queue: Buffer[] = [];
  const end = () => {
    if (closed) return;
    closed = true;
    respondEnd(ctx);
  };
  const flush = () => {
    writable = true;
    while (writable && queue.length > 0) writable = respondData(ctx, queue.shift()!);
    if (!writable) return;
    if (ended) end();
    else s.resume();
  };
  const start = (type: string) => {
    started = true;
    const headers: HeaderList = ['content-type', type];
    metadataHeaders(head, METADATA_PREFIX, headers);
    if (respondHead(ctx, 200, headers, flush)) writable = true;
  };
  const write = (line: Buffer) => {
    if (writable && queue.length === 0) writable = respondData(ctx, line);
    else queue.push(line);
    if (!writable && !ended) s.pause();
  };
  // Errors arrive as the status too; without a listener grpc-js's 'error' would throw.
  s.on('error', () => {});
  s.on('metadata', (m: Metadata) => (head = m));
  s.on('data', (msg: unknown) => {
    if (ctx.aborted) return;
    if (m.rawResponse) {
      // HttpBody messages are chunks of one body, typed by the first (grpc-gateway's mapping).
      const [type, data] = rawAnswer(msg as RawBody);
      if (!started) start(type);
      if (data.length > 0) write(data);
      return;
    }
    if (!started) start(NDJSON);
    write(Buffer.from(`${JSON.stringify(m.responseBody === undefined ? msg : (msg as Record<string, unknown>)[m.responseBody])}\n`));
  });
  s.on('status', (st: StatusObject) => {
    done(st);
    if (ctx.aborted) return;
    if (!started) {
      if (st.code !== Status.OK) return respondStatus(ctx, r, st, head);
      start(m.rawResponse ? OCTET_STREAM : NDJSON);
    }
    if (st.code !== Status.OK && m.rawResponse) {
      // Raw bytes have no place for an error line: the body is cut off, so the client sees it
      // incomplete, and the log records why, as the proxy does for an upstream failing mid-body.
      closed = true;
      ctx.errorCode ??= cutOffCode(st);
      return respondAbort(ctx);
    }
    if (st.code !== Status.OK) {
      // NDJSON ends cleanly with grpc-gateway's error line (the protocol's report of the
      // failure), and the log records the failure as for a raw stream cut off.
      const code = cutOffCode(st);
      ctx.errorCode ??= code;
      // The span is an error where the same failure before the head would answer 5xx: the
      // gateway's own (a reset, the deadline, a bad message) or the server's 5xx statuses.
      if (ctx.trace !== undefined && (Object.hasOwn(GatewayErrors, code) || httpStatusOf(st.code) >= 500)) ctx.trace.failAfterHead(ctx, 'stream ended with an error after its head');
      write(Buffer.from(`${JSON.stringify({ error: { code: st.code, status: grpcStatusName(st.code), message: st.details } })}\n`));
    }
    ended = true;
    if (writable && queue.length === 0) end();
  });
}

/**
 * The error code of a stream ended by a status other than OK after its head (a raw body
 * cut off, or NDJSON's last error line), where the status sent (200) cannot say it: the
 * deadline passing, a message the gateway cannot read, the stream or connection broken
 * (no status from the server: as a connection reset mid-body is for the proxy), or else the
 * status the server sent, by name (`GW_ERR_GRPC_NOT_FOUND`; status.ts).
 */
function cutOffCode(s: StatusObject): string {
  if (s.code === Status.DEADLINE_EXCEEDED) return 'GW_ERR_UPSTREAM_TIMEOUT' satisfies GatewayErrorCode;
  if ((s.code === Status.INTERNAL && UNPARSABLE.test(s.details)) || UNREADABLE.test(s.details)) return 'GW_ERR_UPSTREAM_BAD_RESPONSE' satisfies GatewayErrorCode;
  if (BROKEN.test(s.details)) return 'GW_ERR_UPSTREAM_RESET' satisfies GatewayErrorCode;
  return grpcErrorCode(s.code);
}

/**
 * A status other than OK before any answer: the gateway's own problem when the call failed
 * as a proxied request would (502 unreachable, 502 reset: the stream or connection broke, no
 * status came from the server), else the status the server sent, mapped, as problem+json.
 * The log line has that status, and an error code only for the gateway's own problems and
 * its deadline (a status the server sent is its answer, as a proxied one is).
 */
function respondStatus(ctx: RequestContext, r: GrpcRoute, s: StatusObject, head: Metadata | undefined): void {
  if (s.code === Status.UNAVAILABLE && NOT_CONNECTED.test(s.details)) {
    return respondError(ctx, 'GW_ERR_UPSTREAM_UNAVAILABLE', describeFailure('GW_ERR_UPSTREAM_UNAVAILABLE', r.upstream.name));
  }
  if (BROKEN.test(s.details)) {
    // grpc-js's own report (UNAVAILABLE "Connection dropped", CANCELLED "Call cancelled", …) is
    // not the server's answer: the proxy's answer to a connection reset before the response.
    return respondError(ctx, 'GW_ERR_UPSTREAM_RESET', describeFailure('GW_ERR_UPSTREAM_RESET', r.upstream.name));
  }
  if (s.code === Status.INTERNAL && UNPARSABLE.test(s.details)) {
    // The backend sent a message that does not decode, or a value with no JSON form (a Timestamp out of range, …).
    return respondError(ctx, 'GW_ERR_UPSTREAM_BAD_RESPONSE', `Upstream '${r.upstream.name}' sent a response the gateway cannot turn into JSON: ${s.details.replace(UNPARSABLE, '')}.`);
  }
  if (s.code === Status.OK) {
    // OK without a message: the backend broke the unary contract.
    return respondError(ctx, 'GW_ERR_UPSTREAM_BAD_RESPONSE', `Upstream '${r.upstream.name}' ended the call without a response message.`);
  }
  if (s.code === Status.DEADLINE_EXCEEDED) ctx.errorCode = 'GW_ERR_UPSTREAM_TIMEOUT';
  const p = grpcProblem(ctx, s.code, s.details);
  metadataHeaders(head, METADATA_PREFIX, p.headers);
  metadataHeaders(s.metadata, TRAILER_PREFIX, p.headers);
  respondReply(ctx, p);
}

/**
 * Writes the call's trace context into its metadata, replacing what the client sent. Only
 * W3C Trace Context: `baggage` goes as metadata when `forwardHeaders` lists it, as untraced.
 */
const traceContextSetter: TextMapSetter<Metadata> = {
  set: (md, key, value) => {
    if (key === 'traceparent' || key === 'tracestate') md.set(key, value);
  },
};

/**
 * A client span's `error.type` for a call that got no status from the server, named as the
 * proxy's attempts name it: cancelled by the gateway (the client went away), never connected,
 * or broken. Undefined for a status the server sent (its code is the type).
 */
function failureType(s: StatusObject, aborted: boolean): string | undefined {
  if (aborted || (s.code === Status.CANCELLED && CANCELLED_HERE.test(s.details))) return 'aborted';
  if (s.code === Status.UNAVAILABLE && NOT_CONNECTED.test(s.details)) return 'connect_error';
  if (BROKEN.test(s.details)) return 'reset';
  return undefined;
}

/**
 * Feeds the upstream's passive health and breaker: unreachable, broken (no status from the
 * server: a reset, as for the proxy) and timed-out calls are failures of the target, and so
 * are statuses the server sends to say it is unwell (UNKNOWN, INTERNAL, UNAVAILABLE,
 * DATA_LOSS: 5xx); every other status the server sends is an answer, CANCELLED included.
 * A call the gateway cancelled itself is neither.
 */
function report(u: Upstream, t: Target, s: StatusObject, ms: number, aborted: boolean): void {
  if (aborted || (s.code === Status.CANCELLED && CANCELLED_HERE.test(s.details))) return u.report(t, 0, ms, ABORTED);
  if (s.code === Status.UNAVAILABLE && NOT_CONNECTED.test(s.details)) return u.report(t, 0, ms, CONNECT_ERROR);
  if (s.code === Status.DEADLINE_EXCEEDED) return u.report(t, 0, ms, TIMED_OUT);
  if (BROKEN.test(s.details)) return u.report(t, 0, ms, RESET);
  const http = httpStatusOf(s.code);
  u.report(t, http >= 500 && http !== 501 && http !== 504 ? http : 200, ms, undefined);
}
