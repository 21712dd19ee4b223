import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import { ListenerLimits as ListenerLimitsSchema, type ListenerConfig } from '../config/schema.js';
import { schemaDefaults, withDefaults } from '../config/validate.js';
import { PROBLEM_CONTENT_TYPE, problemFor, type GatewayErrorCode, type Problem } from '../errors.js';

/** Listener limits with defaults applied (ms and bytes). */
export interface ListenerLimits {
  maxHeaderSize: number;
  maxUrlLength: number;
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  maxConnections: number;
  maxRequestsPerConnection: number;
  maxConcurrentStreams: number;
}

/** The limits of a listener without `limits:`: the schema's defaults (`listeners[].limits`). */
export const DEFAULT_LIMITS: Readonly<ListenerLimits> = schemaDefaults(ListenerLimitsSchema);

export function limitsOf(cfg: ListenerConfig): ListenerLimits {
  return withDefaults(DEFAULT_LIMITS, cfg.limits);
}

/**
 * An HTTP/1.1 server with the limits of a listener. Framing is Node's llhttp in strict
 * mode: a request with both Content-Length and Transfer-Encoding, differing Content-Length
 * values, obs-fold or invalid header characters is refused with 400 and never reaches the
 * handler (request smuggling starts where a proxy and its upstream disagree on framing).
 * A missing Host and an unknown Expect are answered by the gateway (problem+json), not by
 * Node's built-in empty responses: the first in `Gateway#handle`, the second here.
 */
export function createHttpServer(limits: ListenerLimits, handler: (req: IncomingMessage, res: ServerResponse) => void): http.Server {
  return applyLimits(http.createServer(httpServerOptions(limits), handler), limits);
}

/** Node server options for a listener's limits (shared by the http and https servers). */
export function httpServerOptions(limits: ListenerLimits): http.ServerOptions {
  return {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    insecureHTTPParser: false,
    // Checked in Gateway#handle instead, so that the 400 is problem+json (RFC 9112 §3.2).
    requireHostHeader: false,
    joinDuplicateHeaders: false,
    connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(limits.headersTimeout / 4))),
  };
}

/** Connection limits and protocol-error answers, for any http.Server (https included). */
export function applyLimits<S extends http.Server>(server: S, limits: ListenerLimits): S {
  server.maxConnections = limits.maxConnections;
  server.maxRequestsPerSocket = limits.maxRequestsPerConnection || null;
  server.on('clientError', onClientError);
  server.on('checkExpectation', onUnknownExpectation);
  server.on('connect', onConnectMethod);
  return server;
}

/**
 * CONNECT asks for a tunnel (RFC 9110 §9.3.6), which a reverse proxy does not open: 501
 * problem+json and the connection closes. Without a listener Node drops the socket with no
 * answer at all.
 */
export function onConnectMethod(_req: IncomingMessage, socket: Duplex): void {
  socket.on('error', () => socket.destroy());
  endWithProblem(socket, problemFor('GW_ERR_NOT_IMPLEMENTED', 'CONNECT (tunnels) is not served by this gateway.'));
}

/** Writes `p` as a whole HTTP/1.1 response on a socket no ServerResponse owns, then closes it. */
function endWithProblem(socket: Duplex, p: Problem): void {
  const body = JSON.stringify(p);
  socket.end(
    `HTTP/1.1 ${p.status} ${http.STATUS_CODES[p.status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  socket.once('finish', () => socket.destroy());
}

/**
 * An Expect other than 100-continue: 417 (RFC 9110 §10.1.1), problem+json, and the
 * connection closes (the body, if any, was never read).
 */
export function onUnknownExpectation(_req: IncomingMessage, res: ServerResponse): void {
  earlyError(res, 'GW_ERR_EXPECTATION_FAILED', 'Only Expect: 100-continue is supported.');
}

/**
 * Answers a request the gateway refuses before any route sees it (no request context, no
 * policies): problem+json, and the connection closes.
 */
export function earlyError(res: ServerResponse, code: GatewayErrorCode, detail?: string): void {
  const p = problemFor(code, detail);
  const body = JSON.stringify(p);
  res.shouldKeepAlive = false;
  res.writeHead(p.status, ['content-type', PROBLEM_CONTENT_TYPE, 'content-length', String(Buffer.byteLength(body)), 'connection', 'close']);
  res.end(body);
}

/** Answers protocol errors (before any handler runs) with problem+json and closes the connection. */
export function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || (socket as { _httpMessage?: ServerResponse })._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  let code: GatewayErrorCode;
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      code = 'GW_ERR_HEADERS_TOO_LARGE';
      break;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      code = 'GW_ERR_REQUEST_TIMEOUT';
      break;
    case 'ECONNRESET':
    case 'EPIPE':
      socket.destroy();
      return;
    default:
      code = 'GW_ERR_BAD_REQUEST';
  }
  endWithProblem(socket, problemFor(code, code === 'GW_ERR_BAD_REQUEST' ? `Malformed request (${err.code ?? 'parse error'}).` : undefined));
}
