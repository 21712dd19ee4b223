import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import type { Dispatcher } from 'undici';
import { errors as undiciErrors } from 'undici';
import type { RequestContext } from '../pipeline/context.js';
import { respondAbort, respondData, respondEnd, respondError, respondHead } from '../pipeline/respond.js';
import { hasRequestBody, type HeaderList } from '../http/headers.js';
import type { Target } from '../upstreams/upstream.js';
import { applyForwarding, buildUpstreamHeaders, filterResponseHeaders, mapLocationHeaders, type ForwardingOptions } from './headers.js';
import type { GatewayErrorCode } from '../errors.js';
import { metrics, type UpstreamOutcome } from '../observability/metrics.js';
import { logGate } from '../observability/logger.js';
import { bodyBytes } from './memory.js';
import { limitedBody, RequestBodyTooLarge } from '../pipeline/body.js';
import { coarseClock, TimedCall, track, untrack } from './timeouts.js';
import { endAttempt } from '../observability/tracing.js';
import type { Span } from '@opentelemetry/api';
import type { LocationRewrite } from './location.js';

/** Upstream failures log at most once a second per upstream and error code. */
const failureLogGate = logGate(1000);

/** Per-route proxy settings compiled at load. */
export interface ForwardOptions {
  forwarding: ForwardingOptions;
  preserveHost: boolean;
  /** ms to the response head (the route's, else its upstream's); 0 for none. Timed by proxy/timeouts.ts. */
  headersTimeout: number;
  /** ms of silence allowed while the response body streams; 0 for none. */
  bodyTimeout: number;
  /** Maps Location / Content-Location back to the client's view (`rewrite.location`); undefined when off. */
  location?: LocationRewrite | undefined;
}

/**
 * One proxied exchange, driven by undici's `dispatch` handler callbacks: the request body
 * streams from the client socket, the response body streams back with backpressure in
 * both directions, and either side going away stops the other. One object per request.
 */
export class ProxyCall extends TimedCall implements Dispatcher.DispatchHandler {
  readonly #ctx: RequestContext;
  readonly #target: Target;
  #sentAt = 0;
  #done = false;
  #bodyTimeout = 0;
  #location: LocationRewrite | undefined = undefined;
  /** Client span of this attempt, when the request is traced. */
  #span: Span | undefined = undefined;

  constructor(ctx: RequestContext, target: Target) {
    super();
    this.#ctx = ctx;
    this.#target = target;
  }

  /** Sends the request to the target. `path` is the forwarded path, query appended here. */
  start(path: string, opts: ForwardOptions): void {
    const ctx = this.#ctx;
    const headers = upstreamHeadersOf(ctx, opts);
    const body = requestBodyOf(ctx, headers);

    const target = this.#target;
    target.inFlight++;
    ctx.target = target.origin;
    this.#sentAt = performance.now();
    const upstreamPath = target.basePath + path + ctx.query;
    if (ctx.trace !== undefined) this.#span = ctx.trace.startAttempt(ctx.method, target.origin, target.basePath + path, headers, target.upstream);
    const dispatchOpts: Dispatcher.DispatchOptions = {
      method: ctx.method as Dispatcher.HttpMethod,
      path: upstreamPath,
      headers,
      body,
      // Timed by proxy/timeouts.ts instead (see there why).
      headersTimeout: 0,
      bodyTimeout: 0,
    };
    this.#bodyTimeout = opts.bodyTimeout;
    this.#location = opts.location;
    if (opts.headersTimeout > 0 || opts.bodyTimeout > 0) {
      this.timedSince = this.#sentAt;
      this.timedLimit = opts.headersTimeout;
      track(this);
    }
    target.pool.dispatch(dispatchOpts, this);
  }

  override onConnect(abort: (err?: Error) => void): void {
    // The client left before undici handed the request a connection: dropped unsent (see TimedCall).
    if (this.#ctx.aborted) throw new undiciErrors.RequestAbortedError('client closed the connection');
    super.onConnect(abort);
  }

  /** The client went away: stop the upstream request so its connection is freed. */
  cancel(): void {
    if (this.#done) return;
    this.fail(new undiciErrors.RequestAbortedError('client closed the connection'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    const ctx = this.#ctx;
    const now = performance.now();
    ctx.upstreamMs = now - this.#sentAt;
    this.timedHeaded = true;
    this.timedSince = now;
    this.timedLimit = this.#bodyTimeout;
    const target = this.#target;
    target.sink?.report(target, statusCode, ctx.upstreamMs, undefined, now);
    metrics.upstreamAttempt(target.upstream, target.origin, statusCode, ctx.upstreamMs / 1000);
    if (this.#span !== undefined) {
      endAttempt(this.#span, statusCode);
      this.#span = undefined;
    }
    if (ctx.aborted) return false;
    const headers = filterResponseHeaders(rawHeaders);
    const location = this.#location;
    if (location !== undefined) mapLocationHeaders(headers, (v) => location(v, target, ctx));
    return respondHead(ctx, statusCode, headers, resume);
  }

  /** Called by undici for each request-body chunk it wrote upstream (undici 7 passes the chunk; its types say a size). */
  onBodySent(chunk: number): void {
    bodyBytes(typeof chunk === 'number' ? chunk : (chunk as Buffer).length);
  }

  onData(chunk: Buffer): boolean {
    this.timedSince = coarseClock();
    if (this.#ctx.aborted) return false;
    return respondData(this.#ctx, chunk);
  }

  onComplete(): void {
    this.#finish();
    if (!this.#ctx.aborted) respondEnd(this.#ctx);
  }

  onError(err: Error): void {
    // Already failed while it waited for a connection: this is undici dropping it.
    if (this.#done) return;
    this.#finish();
    const ctx = this.#ctx;
    // The client's body outgrew its limit: the request stops there, and the target did nothing wrong.
    const clientFault = err instanceof RequestBodyTooLarge;
    if (ctx.upstreamMs < 0) {
      ctx.upstreamMs = performance.now() - this.#sentAt;
      const outcome = ctx.aborted || clientFault ? 'aborted' : outcomeOf(err);
      if (!clientFault) this.#target.sink?.report(this.#target, 0, ctx.upstreamMs, err);
      metrics.upstreamAttempt(this.#target.upstream, this.#target.origin, outcome, ctx.upstreamMs / 1000);
      if (this.#span !== undefined) endAttempt(this.#span, 0, outcome);
    }
    if (ctx.aborted) return;
    if (ctx.res.headersSent) {
      // Mid-body failure: the status is gone, so cut the client connection rather than
      // let a truncated body look complete. A code already set decided the response (a
      // body policy that refused the body and stopped this transfer): it stays.
      ctx.errorCode ??= errorCode(err);
      respondAbort(ctx);
      return;
    }
    if (clientFault) return respondError(ctx, err.code, err.message);
    const code = errorCode(err);
    const upstream = ctx.route?.config.upstream ?? 'upstream';
    const suppressed = failureLogGate(`${upstream}|${code}`);
    if (suppressed >= 0) {
      ctx.logger.warn(
        { requestId: ctx.id, route: ctx.route?.name, upstream, target: this.#target.origin, code, cause: (err as { code?: string }).code ?? err.message, suppressed },
        'upstream request failed',
      );
    }
    respondError(ctx, code, describeFailure(code, upstream));
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    untrack(this);
    this.#target.inFlight--;
  }
}

/** The header list sent upstream: the client's (as policies left them) plus forwarding fields. */
export function upstreamHeadersOf(ctx: RequestContext, opts: ForwardOptions): HeaderList {
  const req = ctx.req;
  const headers: HeaderList = ctx.hasUpstreamHeaders ? ctx.upstreamHeaders : buildUpstreamHeaders(req.rawHeaders);
  // Without trusted proxies the client address is the socket's peer, read once per request already.
  const peer = opts.forwarding.anyTrusted ? (req.socket.remoteAddress ?? '') : ctx.clientIp;
  applyForwarding(headers, req, peer, ctx.listener.scheme, opts.forwarding);
  if (opts.preserveHost && req.headers.host !== undefined) headers.push('host', req.headers.host);
  return headers;
}

/** The body to send: a policy's buffered body (Content-Length fixed up), the client stream, or none. */
export function requestBodyOf(ctx: RequestContext, headers: HeaderList): Dispatcher.DispatchOptions['body'] {
  const req = ctx.req;
  if (ctx.body !== undefined) {
    setContentLength(headers, ctx.body.length);
    return ctx.body;
  }
  if (hasRequestBody(req.headers)) {
    // A declared length over the limit was refused by the `request-size` policy already.
    return ctx.requestBodyLimit === Infinity || req.headers['content-length'] !== undefined ? req : limitedBody(ctx, ctx.requestBodyLimit);
  }
  return null;
}

function setContentLength(headers: HeaderList, n: number): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    const k = headers[i]!;
    if (k === 'content-length' || k === 'transfer-encoding') headers.splice(i, 2);
  }
  headers.push('content-length', String(n));
}

/** Maps undici and socket errors to gateway error codes: refused/reset → 502, timeouts → 504. */
export function errorCode(err: Error): GatewayErrorCode {
  if (err instanceof RequestBodyTooLarge) return err.code;
  const code = (err as { code?: string }).code;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return 'GW_ERR_UPSTREAM_TIMEOUT';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
    case 'EPIPE':
      return 'GW_ERR_UPSTREAM_RESET';
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_INFO':
      return 'GW_ERR_UPSTREAM_BAD_RESPONSE';
    default:
      if (code?.startsWith('HPE_')) return 'GW_ERR_UPSTREAM_BAD_RESPONSE';
      return 'GW_ERR_UPSTREAM_UNAVAILABLE';
  }
}

/** The metrics outcome of an attempt that failed before a response head. */
export function outcomeOf(err: Error): UpstreamOutcome {
  const code = (err as { code?: string }).code;
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH') return 'connect_error';
  switch (errorCode(err)) {
    case 'GW_ERR_UPSTREAM_TIMEOUT':
      return 'timeout';
    case 'GW_ERR_UPSTREAM_RESET':
      return 'reset';
    case 'GW_ERR_UPSTREAM_BAD_RESPONSE':
      return 'bad_response';
    default:
      return 'error';
  }
}

/** Client-facing detail: names the upstream, never its addresses. */
export function describeFailure(code: GatewayErrorCode, upstream: string): string {
  return `Upstream '${upstream}' ${failurePhrase(code)}.`;
}

/** What went wrong with an upstream, as the end of a sentence naming it (`… did not answer in time`). */
export function failurePhrase(code: GatewayErrorCode): string {
  switch (code) {
    case 'GW_ERR_UPSTREAM_TIMEOUT':
    case 'GW_ERR_DEADLINE_EXCEEDED':
      return 'did not answer in time';
    case 'GW_ERR_UPSTREAM_RESET':
      return 'closed the connection';
    case 'GW_ERR_UPSTREAM_BAD_RESPONSE':
      return 'sent an invalid response';
    case 'GW_ERR_NO_TARGET':
      return 'has no target available';
    case 'GW_ERR_CIRCUIT_OPEN':
      return 'has its circuit breaker open';
    case 'GW_ERR_OVERLOADED':
      return 'is at its concurrency limit';
    default:
      return 'could not be reached';
  }
}
