import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { RouteConfig } from '../../config/schema.js';
import type { Handler, HandlerDeps } from '../handler.js';
import type { RequestContext } from '../../pipeline/context.js';
import { respondAbort, respondData, respondEnd, respondError, respondHead } from '../../pipeline/respond.js';
import { describeFailure, errorCode, outcomeOf, upstreamHeadersOf, type ForwardOptions } from '../../proxy/forward.js';
import { filterResponseHeaders } from '../../proxy/headers.js';
import { compileRewrite, type PathRewrite } from '../../proxy/rewrite.js';
import { Tunnel } from '../../proxy/tunnel.js';
import { poolOptions, type Target, type Upstream } from '../../upstreams/upstream.js';
import { metrics } from '../../observability/metrics.js';

/** Handshake settings of a websocket route, compiled at load. */
interface WebSocketRoute {
  readonly upstream: Upstream;
  readonly rewrite: PathRewrite | null;
  readonly opts: ForwardOptions;
  /** ms to open the upstream connection, then ms to wait for its answer to the handshake. */
  readonly connectTimeout: number;
  readonly responseTimeout: number;
  /** ms without a byte either way before an open tunnel is closed; 0 = never. */
  readonly idleTimeout: number;
}

/**
 * `websocket: true` on an `upstream:` route: an upgrade request (the gateway sets
 * `ctx.upgrade`, after the request phase ran) is tunnelled to a target of the upstream;
 * any other request goes to `inner`, the route's ordinary handler.
 *
 * The upstream handshake uses node:http's client, not undici: undici's `upgrade()` treats
 * any answer but 101 as a socket error ("bad upgrade"), and the gateway relays an
 * upstream's refusal (401, 403, 404 …) to the client as it is. node:http emits
 * `'upgrade'` for a 101 and `'response'` for anything else, with the parsing done by llhttp.
 *
 * @example
 *   routes: [{ name: chat, match: { path: /chat }, upstream: chat, websocket: true }]
 */
export function withWebSocket(inner: Handler, route: RouteConfig, deps: HandlerDeps): Handler {
  const settings = route.websocket;
  if (settings === undefined || settings === false || route.upstream === undefined) return inner;
  const upstream = deps.upstreams.get(route.upstream);
  if (upstream === undefined) return inner;
  const pool = poolOptions(upstream.config);
  const ws: WebSocketRoute = {
    upstream,
    rewrite: compileRewrite(route.rewrite, route.match),
    opts: { forwarding: deps.forwarding, preserveHost: route.preserveHost ?? false, headersTimeout: 0, bodyTimeout: 0 },
    connectTimeout: (pool.connect as { timeout?: number } | undefined)?.timeout ?? 5000,
    responseTimeout: route.timeouts?.response ?? pool.headersTimeout ?? 60_000,
    idleTimeout: settings === true ? 0 : ((settings.idleTimeout as number | undefined) ?? 0),
  };
  return {
    description: `${inner.description} (websocket)`,
    handle(ctx) {
      if (ctx.upgrade === undefined) inner.handle(ctx);
      else openUpstream(ctx, ws);
    },
  };
}

/** Sends the client's opening handshake (RFC 6455 §4.1) to a target and acts on its answer. */
function openUpstream(ctx: RequestContext, ws: WebSocketRoute): void {
  const target = ws.upstream.pick(ctx, undefined);
  if (target === undefined) {
    respondError(ctx, 'GW_ERR_NO_TARGET', `Upstream '${ws.upstream.name}' has no target available.`);
    return;
  }
  const path = target.basePath + (ws.rewrite === null ? ctx.path : ws.rewrite(ctx.path, ctx.params)) + ctx.query;
  // Client fields minus hop-by-hop ones (Sec-WebSocket-* stay), plus forwarding fields; the
  // upgrade itself is asked for again on this hop (Connection and Upgrade are hop-by-hop).
  const headers = upstreamHeadersOf(ctx, ws.opts);
  headers.push('connection', 'Upgrade', 'upgrade', 'websocket');
  const url = new URL(target.origin);
  const secure = url.protocol === 'https:';
  const sentAt = performance.now();
  target.inFlight++;
  ctx.target = target.origin;
  const req = (secure ? https : http).request({
    method: 'GET',
    hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
    path,
    headers: headerObject(headers),
    agent: false,
    // The upstream's `tls:` (CA, client certificate, SNI name) holds for tunnels as for requests.
    ...(secure && ws.upstream.tls !== undefined && ws.upstream.tls.options),
  });
  let settled = false;
  const settle = (status: number, err: Error | undefined): boolean => {
    if (settled) return false;
    settled = true;
    clearTimeout(timer);
    ctx.upstreamMs = performance.now() - sentAt;
    target.sink?.report(target, status, ctx.upstreamMs, err);
    metrics.upstreamAttempt(target.upstream, target.origin, err === undefined ? status : ctx.aborted ? 'aborted' : outcomeOf(err), ctx.upstreamMs / 1000);
    return true;
  };
  const timeout = (ms: number) => setTimeout(() => req.destroy(Object.assign(new Error('upstream handshake timed out'), { code: 'ETIMEDOUT' })), ms);
  let timer = timeout(ws.connectTimeout);
  req.once('socket', (s: Socket) => {
    s.once(secure ? 'secureConnect' : 'connect', () => {
      if (settled) return;
      clearTimeout(timer);
      timer = timeout(ws.responseTimeout);
    });
  });
  // The client went away during the handshake.
  ctx.cancelable = { cancel: () => req.destroy() };

  req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
    if (!settle(101, undefined) || ctx.aborted) {
      target.inFlight--;
      socket.destroy();
      return;
    }
    splice(ctx, target, res, socket, head, ws.idleTimeout);
  });
  req.on('response', (res: IncomingMessage) => {
    settle(res.statusCode ?? 0, undefined);
    relayRefusal(ctx, target, res);
  });
  req.on('error', (err: Error) => {
    if (!settle(0, err)) return;
    target.inFlight--;
    if (ctx.aborted) return;
    const code = errorCode(err);
    ctx.logger.warn({ requestId: ctx.id, route: ctx.route?.name, upstream: ws.upstream.name, target: target.origin, code, cause: (err as { code?: string }).code ?? err.message }, 'websocket handshake failed');
    respondError(ctx, code, describeFailure(code, ws.upstream.name));
  });
  req.end();
}

/** The upstream switched protocols: relay its 101 head, then splice the two sockets. */
function splice(ctx: RequestContext, target: Target, res: IncomingMessage, upstream: Socket, head: Buffer, idleTimeout: number): void {
  const up = ctx.upgrade!;
  const client = up.socket;
  if (client.destroyed) {
    target.inFlight--;
    upstream.destroy();
    return;
  }
  let text = 'HTTP/1.1 101 Switching Protocols\r\n';
  const raw = res.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  const extra = ctx.extraResponseHeaders;
  if (extra !== undefined) for (let i = 0; i < extra.length; i += 2) text += `${extra[i]}: ${extra[i + 1]}\r\n`;
  ctx.status = 101;
  ctx.cancelable = undefined;
  client.write(Buffer.from(text + '\r\n', 'latin1'));
  const tunnel = new Tunnel(client, upstream, up.head, head, idleTimeout);
  up.tunnel = tunnel;
  upstream.once('close', () => target.inFlight--);
  // Before the gateway's own close listener, which writes the access-log line.
  client.prependOnceListener('close', () => {
    ctx.bytesOut = tunnel.bytesToClient;
    if (tunnel.idledOut) ctx.errorCode = 'tunnel-idle-timeout';
  });
  up.tunnels.add(tunnel);
}

/** The upstream answered the handshake with something else than 101: that answer goes to the client. */
function relayRefusal(ctx: RequestContext, target: Target, res: IncomingMessage): void {
  res.once('close', () => target.inFlight--);
  if (ctx.aborted) {
    res.destroy();
    return;
  }
  const headers = filterResponseHeaders(res.rawHeaders.map((h) => Buffer.from(h, 'latin1')));
  if (!respondHead(ctx, res.statusCode ?? 502, headers, () => res.resume())) res.pause();
  res.on('data', (chunk: Buffer) => {
    if (!ctx.aborted && !respondData(ctx, chunk)) res.pause();
  });
  res.once('end', () => {
    if (!ctx.aborted) respondEnd(ctx);
  });
  // The refusal broke mid-body (node:http's 'aborted' is an ECONNRESET): classified as the
  // proxy classifies it, so the log line and the span say why the client's response was cut.
  res.once('error', (err: Error) => {
    if (ctx.aborted) return;
    ctx.errorCode ??= errorCode(err);
    respondAbort(ctx);
  });
}

/** A flat header list as a node:http headers object; repeated fields keep every value. */
function headerObject(list: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < list.length; i += 2) {
    const k = list[i]!.toLowerCase();
    const v = list[i + 1]!;
    const had = out[k];
    out[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  return out;
}
