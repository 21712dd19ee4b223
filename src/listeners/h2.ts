import http from 'node:http';
import http2, { type Http2ServerRequest, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TlsOptions } from 'node:tls';
import { applyLimits, httpServerOptions, onUnknownExpectation, type ListenerLimits } from './http.js';
import type { ListenerServer } from './listener-info.js';
import { isValidHost } from './host.js';

/**
 * HTTP/2 listeners (RFC 9113): `h2` over TLS, negotiated with ALPN (RFC 7301), with
 * HTTP/1.1 served on the same port to clients that do not offer `h2`; `h2c` in cleartext
 * with prior knowledge only (RFC 9113 §3.3). The HTTP/1.1 `Upgrade: h2c` dance (RFC 7540
 * §3.2, removed in RFC 9113) is not offered, and neither is WebSocket over HTTP/2
 * (extended CONNECT, RFC 8441): WebSocket clients use HTTP/1.1.
 *
 * node:http2's compatibility objects (Http2ServerRequest / Http2ServerResponse) carry the
 * requests into the same data path as HTTP/1.1: `adaptH2Request` makes the request read
 * like an HTTP/1.1 one (no pseudo-headers, Host from `:authority`, one Cookie line), and
 * `GatewayH2Response` keeps connection-specific fields off HTTP/2 streams. Both run only
 * on these listeners: the HTTP/1.1 path is untouched.
 */

/** The data path entries of a listener: one for HTTP/1.x requests, one for HTTP/2 streams. */
export interface ListenerHandlers {
  http1(req: IncomingMessage, res: ServerResponse): void;
  http2(req: Http2ServerRequest, res: http2.Http2ServerResponse): void;
}

/**
 * An `h2` server: HTTP/2 over TLS (ALPN `h2`), HTTP/1.1 for clients that negotiate
 * `http/1.1` or nothing, both with the listener's limits and TLS settings (mTLS included).
 *
 * @example createH2Server(limits, serverTls.serverOptions(), { http1, http2 })
 */
export function createH2Server(limits: ListenerLimits, tls: TlsOptions, handlers: ListenerHandlers): ListenerServer {
  const options: http2.SecureServerOptions = {
    ...tls,
    ...h2Options(limits),
    allowHTTP1: true,
    ALPNProtocols: ['h2', 'http/1.1'],
    handshakeTimeout: Math.min(limits.headersTimeout, 10_000),
  };
  const { http1, http2: onStream } = handlers;
  const server = http2.createSecureServer(options, (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | http2.Http2ServerResponse) => {
    // One test per request, on this listener only: ALPN chose the protocol of the connection.
    if (req.httpVersionMajor === 2) onStream(req as Http2ServerRequest, res as http2.Http2ServerResponse);
    else http1(req as IncomingMessage, res as ServerResponse);
  });
  // The HTTP/1.1 side reads node:http's settings from the server object itself.
  Object.assign(server, httpServerOptions(limits));
  applyLimits(server as unknown as http.Server, limits);
  return withSessions(server, limits, true);
}

/**
 * An `h2c` server: cleartext HTTP/2 with prior knowledge (the client starts with the
 * connection preface). An HTTP/1.1 client gets no HTTP answer: the connection is closed.
 *
 * @example createH2cServer(limits, (req, res) => gateway.handleH2(req, res))
 */
export function createH2cServer(limits: ListenerLimits, handler: ListenerHandlers['http2']): ListenerServer {
  const server = http2.createServer(h2Options(limits), handler);
  server.maxConnections = limits.maxConnections;
  // Expect other than 100-continue: problem+json 417, as on HTTP/1.1.
  server.on('checkExpectation', onUnknownExpectation as unknown as (req: Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  return withSessions(server, limits, false);
}

/** Session settings from the listener limits (RFC 9113 §6.5.2). */
function h2Options(limits: ListenerLimits): http2.ServerOptions {
  return {
    settings: {
      maxConcurrentStreams: limits.maxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderSize,
    },
    maxHeaderListPairs: MAX_HEADER_PAIRS,
    Http2ServerRequest: GatewayH2Request,
    Http2ServerResponse: GatewayH2Response as unknown as typeof http2.Http2ServerResponse,
  };
}

/** node:http's default `maxHeadersCount` (node:http2's is 128, pseudo-headers included). */
const MAX_HEADER_PAIRS = 2000;

/** Per-session counters, kept on the session object. */
const STREAMS = Symbol('gantry.h2.streams');
interface CountedSession extends ServerHttp2Session {
  [STREAMS]: { open: number; total: number };
}

/**
 * Tracks the sessions of `server` for drain and reload: `closeIdleConnections` sends GOAWAY
 * (RFC 9113 §6.8) on every session, so no new stream starts and the open ones finish;
 * `closeAllConnections` destroys them. Sessions idle (no open stream, no traffic) for
 * `keepAliveTimeout` get GOAWAY too, one that served `maxRequestsPerConnection` streams is
 * asked to go away after its last one, and a stream whose request body has not arrived
 * within `requestTimeout` is reset.
 */
function withSessions(server: http2.Http2Server | http2.Http2SecureServer, limits: ListenerLimits, http1: boolean): ListenerServer {
  const sessions = new Set<CountedSession>();
  const maxStreams = limits.maxRequestsPerConnection;
  const requestTimeout = limits.requestTimeout;
  server.on('session', (session: ServerHttp2Session) => {
    const s = session as CountedSession;
    s[STREAMS] = { open: 0, total: 0 };
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
    // A peer's protocol error ends its session; it must not reach the process as an error.
    s.on('error', noop);
    if (limits.keepAliveTimeout > 0) {
      s.setTimeout(limits.keepAliveTimeout, () => {
        if (s[STREAMS].open === 0) s.close();
      });
    }
  });
  server.on('stream', (stream: ServerHttp2Stream) => {
    const session = stream.session as CountedSession | undefined;
    if (session === undefined) return;
    const counts = session[STREAMS];
    counts.open++;
    counts.total++;
    if (maxStreams > 0 && counts.total >= maxStreams) session.close();
    // requestTimeout (slow senders): a request body not received in time resets the stream
    // (CANCEL, RFC 9113 §7), which cancels its upstream request as a client reset does.
    const timer = requestTimeout > 0 && !stream.endAfterHeaders ? setTimeout(cancelUnread, requestTimeout, stream) : undefined;
    stream.once('close', () => {
      counts.open--;
      if (timer !== undefined) clearTimeout(timer);
    });
  });
  const target = server as unknown as ListenerServer;
  target.closeIdleConnections = () => {
    for (const s of sessions) s.close();
    if (http1) http.Server.prototype.closeIdleConnections.call(server);
  };
  target.closeAllConnections = () => {
    for (const s of sessions) s.destroy();
    if (http1) http.Server.prototype.closeAllConnections.call(server);
  };
  return target;
}

/**
 * The request of an HTTP/2 stream, counting the body bytes it receives: the streams of a
 * connection share its socket, so the socket's byte count (what an HTTP/1.1 request
 * without Content-Length logs as `bytesIn`) would count the other streams too.
 */
export class GatewayH2Request extends http2.Http2ServerRequest {
  /** Request body bytes received so far. */
  bodyBytes = 0;

  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk !== null && chunk !== undefined) this.bodyBytes += (chunk as Buffer).length;
    return super.push(chunk, encoding);
  }
}

/**
 * The request body bytes received on `req`, when it is an HTTP/2 stream's (else undefined).
 *
 * @example receivedBodyBytes(ctx.req) ?? socketDelta
 */
export function receivedBodyBytes(req: object): number | undefined {
  return req instanceof GatewayH2Request ? req.bodyBytes : undefined;
}

/**
 * Connection-specific fields must not appear in an HTTP/2 message (RFC 9113 §8.2.2);
 * node:http2 throws on them. `te` is only allowed as `trailers`, in requests.
 */
const CONNECTION_FIELDS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te']);

/**
 * The response of an HTTP/2 stream: the flat header lists of the data path go out minus
 * connection-specific fields (a policy, a static reply or the gateway's own `Connection:
 * close` cannot turn into a stream error), and `destroyed` / `shouldKeepAlive` read as on
 * an HTTP/1.1 response.
 */
export class GatewayH2Response extends http2.Http2ServerResponse {
  /** Set by the data path when an HTTP/1.1 connection should close after the response; no meaning on a stream. */
  shouldKeepAlive = true;

  override writeHead(status: number, a?: unknown, b?: unknown): this {
    const headers = (typeof a === 'string' ? b : a) as string[] | http.OutgoingHttpHeaders | undefined;
    if (!Array.isArray(headers)) return super.writeHead(status, headers);
    return super.writeHead(status, h2Fields(headers) as unknown as http.OutgoingHttpHeaders);
  }
}

// node's compatibility response is a legacy Stream: `destroyed` is the stream's, and
// `writableFinished` (read when the response closes, to tell a client that went away)
// holds only for a response ended by the gateway on a stream closed without a reset:
// node's own reads true on any closed stream, an RST_STREAM from the client included.
Object.defineProperties(GatewayH2Response.prototype, {
  destroyed: {
    get(this: GatewayH2Response): boolean {
      return this.stream.destroyed;
    },
  },
  writableFinished: {
    get(this: GatewayH2Response): boolean {
      return this.writableEnded && this.stream.closed && this.stream.rstCode === http2.constants.NGHTTP2_NO_ERROR;
    },
  },
});

/** `list` without connection-specific fields (a copy only when there is one). */
export function h2Fields(list: readonly string[]): string[] {
  let out: string[] | undefined;
  for (let i = 0; i < list.length; i += 2) {
    const lower = list[i]!.toLowerCase();
    if (CONNECTION_FIELDS.has(lower)) {
      out ??= list.slice(0, i);
      continue;
    }
    out?.push(lower, list[i + 1]!);
  }
  return out ?? (list as string[]);
}

/**
 * Makes an HTTP/2 request read like the HTTP/1.1 request the data path expects, in place:
 * - pseudo-header fields leave `rawHeaders` (they are never forwarded upstream);
 * - `:authority` stands for Host (RFC 9113 §8.3.1): `headers.host` is set from it, and a
 *   Host that names another authority makes the request malformed;
 * - Cookie fields split over several lines are joined with `; ` (RFC 9113 §8.2.3) before
 *   they reach an HTTP/1.1 upstream;
 * - a body without Content-Length (HTTP/2 frames it with DATA frames and END_STREAM) is
 *   marked with `transfer-encoding: chunked` in `headers` (never on the wire: the field is
 *   hop-by-hop), the way the data path tells a request with a body, which then streams
 *   upstream chunked.
 * Returns a problem detail for a request to refuse with 400, or undefined.
 *
 * @example
 *   const problem = adaptH2Request(req); // rawHeaders ['accept', '*∕*'], headers.host 'api.example.com'
 */
export function adaptH2Request(req: Http2ServerRequest): string | undefined {
  const raw = req.rawHeaders;
  const headers = req.headers;
  let w = 0;
  let cookie: string | undefined;
  let hosts = 0;
  for (let r = 0; r < raw.length; r += 2) {
    const name = raw[r]!;
    // HTTP/2 field names are lower case on the wire (nghttp2 refuses others).
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    if (name === 'cookie') {
      cookie = cookie === undefined ? raw[r + 1]! : `${cookie}; ${raw[r + 1]!}`;
      continue;
    }
    if (name === 'host') hosts++;
    if (w !== r) {
      raw[w] = name;
      raw[w + 1] = raw[r + 1]!;
    }
    w += 2;
  }
  raw.length = w;
  if (cookie !== undefined) raw.push('cookie', cookie);
  if (hosts > 1) return 'A request may carry one Host header only.';
  const authority = headers[':authority'];
  const host = headers.host;
  if (typeof authority === 'string') {
    if (typeof host === 'string' && host.toLowerCase() !== authority.toLowerCase()) return 'The Host header names another authority than :authority (RFC 9113 §8.3.1).';
    headers.host = authority;
  } else if (typeof host !== 'string') {
    return 'An HTTP/2 request needs :authority or a Host header (RFC 9110 §7.2).';
  }
  if (!isValidHost(headers.host!)) return 'The authority is not a host name or address with an optional port.';
  if (headers['content-length'] === undefined && !req.stream.endAfterHeaders) headers['transfer-encoding'] = 'chunked';
  return undefined;
}

function cancelUnread(stream: ServerHttp2Stream): void {
  if (!stream.readableEnded && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
}

function noop(): void {}
